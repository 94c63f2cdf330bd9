"""Pure, vectorised point-in-time aggregation: windowed sums at snapshot times, shrinkage, running medians.

Times are int64 microseconds since the epoch (UTC). An event at time ``t`` is *known* at ``t``; a snapshot
at ``s`` uses the events with ``s - window <= t < s`` (strictly before the snapshot).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

US = 1
SECOND = 1_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR


def to_us(s: pd.Series) -> np.ndarray:
    """UTC-aware (or naive UTC) timestamps -> int64 microseconds since the epoch."""
    s = pd.to_datetime(s, utc=True)
    return s.dt.tz_localize(None).to_numpy("datetime64[us]").astype(np.int64)


def from_us(us: np.ndarray) -> pd.DatetimeIndex:
    """int64 microseconds -> UTC-aware timestamps with microsecond unit."""
    return pd.DatetimeIndex(np.asarray(us, dtype="datetime64[us]")).tz_localize("UTC")


def window_sums(
    key: np.ndarray,
    t: np.ndarray,
    values: np.ndarray | None,
    n_keys: int,
    snapshots: np.ndarray,
    window: int | None,
) -> np.ndarray:
    """Sum of ``values`` per key over events with ``s - window <= t < s``, for each snapshot ``s``.

    ``window=None`` sums all events strictly before ``s``. Returns a dense ``(n_keys, len(snapshots))``
    float array. Exact for any sorted snapshot grid: each event adds its value on the snapshot index range
    it belongs to through a difference array, then a cumulative sum along the snapshots.
    """
    n_s = len(snapshots)
    key = np.asarray(key, dtype=np.int64)
    t = np.asarray(t, dtype=np.int64)
    w = np.ones(len(t)) if values is None else np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(w)
    key, t, w = key[ok], t[ok], w[ok]
    lo = np.searchsorted(snapshots, t, side="right")  # first snapshot strictly after the event
    hi = np.full(len(t), n_s) if window is None else np.searchsorted(snapshots, t + window, side="right")
    width = n_s + 1
    size = n_keys * width
    diff = np.bincount(key * width + lo, weights=w, minlength=size) - np.bincount(
        key * width + hi, weights=w, minlength=size
    )
    return np.cumsum(diff.reshape(n_keys, width), axis=1)[:, :n_s]


def shrink(total: np.ndarray, n: np.ndarray, prior: np.ndarray | float, k: float) -> np.ndarray:
    """Empirical-Bayes shrinkage ``(total + k * prior) / (n + k)``: the posterior mean of a rate/mean."""
    return (np.asarray(total, dtype=float) + k * np.asarray(prior, dtype=float)) / (
        np.asarray(n, dtype=float) + k
    )


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den == 0."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def medians_before(
    group: np.ndarray, t: np.ndarray, values: np.ndarray, n_groups: int, cutoffs: np.ndarray
) -> np.ndarray:
    """Median of ``values`` per group over events with ``t < cutoff``, for each cutoff; NaN if none.

    Returns ``(n_groups, len(cutoffs))``.
    """
    out = np.full((n_groups, len(cutoffs)), np.nan)
    for g in range(n_groups):
        sel = group == g
        order = np.argsort(t[sel], kind="stable")
        tg, vg = t[sel][order], values[sel][order]
        counts = np.searchsorted(tg, cutoffs, side="left")
        for j, c in enumerate(counts):
            if c:
                out[g, j] = np.median(vg[:c])
    return out


def snapshot_grid(t_first: int, t_last: int, step: int) -> np.ndarray:
    """Snapshot times: every ``step`` boundary from floor(t_first) to t_last, plus the latest snapshot.

    The latest snapshot sits at the next whole second after ``t_last``, so it covers every event.
    """
    start = (t_first // step) * step
    grid = np.arange(start, t_last + 1, step, dtype=np.int64)
    latest = (t_last // SECOND + 1) * SECOND
    return np.unique(np.append(grid, latest))


def snapshot_index(snapshots: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the latest snapshot at or before each time (-1 if none)."""
    return np.searchsorted(snapshots, t, side="right") - 1
