"""Paired bootstrap of metric differences between two models scored on the same rows (pure numpy).

Each draw reweights the holdout rows with Poisson(1) counts (the Poisson bootstrap: for more than a few
hundred rows it matches resampling with replacement, and one draw costs a few ``bincount`` calls, not a
sort) and computes both models' metrics on the same draw; the percentile
interval of ``challenger - champion`` (signed so that positive means the challenger is better) says
whether the difference is more than resampling noise. A fixed seed makes the decision reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HIGHER_IS_BETTER: dict[str, bool] = {"auc": True, "mae": False, "brier": False}


@dataclass(frozen=True)
class Interval:
    """A point figure and its bootstrap percentile interval."""

    value: float
    lo: float
    hi: float

    def text(self, fmt: str = "+.4f") -> str:
        return f"{self.value:{fmt}} [{self.lo:{fmt}}, {self.hi:{fmt}}]"


@dataclass(frozen=True)
class PairedResult:
    """One metric: both models' figures with intervals, and the difference (positive: challenger better)."""

    metric: str
    challenger: Interval
    champion: Interval
    diff: Interval
    draws: int
    seed: int
    level: float

    @property
    def verdict(self) -> str:
        """``better``, ``worse`` or ``indistinguishable``: does the interval of the difference exclude 0?"""
        if self.diff.lo > 0:
            return "better"
        if self.diff.hi < 0:
            return "worse"
        return "indistinguishable"


def weighted_auc(y: np.ndarray, group: np.ndarray, n_groups: int, w: np.ndarray) -> float:
    """ROC-AUC with row weights; ``group`` = index of each row's score among the sorted unique scores."""
    pos = np.bincount(group, weights=w * y, minlength=n_groups)
    neg = np.bincount(group, weights=w, minlength=n_groups) - pos
    total = pos.sum() * neg.sum()
    if total <= 0:
        return float("nan")
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / total)


def _sorted_auc(ys: np.ndarray, ws: np.ndarray) -> float:
    """Weighted AUC of rows already sorted by distinct scores (labels ``ys``, weights ``ws``)."""
    neg = ws * (1.0 - ys)
    pos = ws - neg
    total = pos.sum() * neg.sum()
    # elementwise sums, not ``@``: BLAS threads contend with the training processes on a shared machine
    return float(np.sum(pos * (np.cumsum(neg) - neg)) / total) if total > 0 else float("nan")


def _metric_fn(metric: str, y: np.ndarray, pred: np.ndarray) -> Callable[[np.ndarray], float]:
    """``weights -> figure`` for ``metric`` with the per-row work done once."""
    if metric == "auc":
        uniq, group = np.unique(pred, return_inverse=True)
        if len(uniq) < len(pred):  # ties: per distinct score
            return lambda w: weighted_auc(y, group, len(uniq), w)
        order = np.argsort(pred, kind="stable")  # no ties: one pass in score order
        ys = y[order]
        return lambda w: _sorted_auc(ys, w[order])
    loss = np.abs(y - pred) if metric == "mae" else (y - pred) ** 2
    if metric not in ("mae", "brier"):
        raise KeyError(f"no bootstrap for metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    return lambda w: float(np.sum(w * loss) / w.sum()) if w.sum() > 0 else float("nan")


def paired_bootstrap(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    metrics: tuple[str, ...],
    *,
    draws: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, PairedResult]:
    """Per metric: both models' figures and their difference with ``level`` percentile intervals."""
    y = np.asarray(y, dtype=np.float64)
    chal, champ = (np.asarray(p, dtype=np.float64) for p in (challenger, champion))
    n = len(y)
    if n == 0 or len(chal) != n or len(champ) != n:
        raise ValueError(
            f"need equal, non-empty arrays (labels {n}, {len(chal)} and {len(champ)} predictions)"
        )
    fns = {m: (_metric_fn(m, y, chal), _metric_fn(m, y, champ)) for m in metrics}
    rng = np.random.default_rng(seed)
    samples = {m: np.empty((draws, 2)) for m in metrics}
    for i in range(draws):
        w = rng.poisson(1.0, n).astype(np.float64)
        for m, (f_chal, f_champ) in fns.items():
            samples[m][i] = f_chal(w), f_champ(w)
    ones = np.ones(n)
    out = {}
    for m, (f_chal, f_champ) in fns.items():
        sign = 1.0 if HIGHER_IS_BETTER[m] else -1.0
        s = samples[m][~np.isnan(samples[m]).any(axis=1)]
        point = (f_chal(ones), f_champ(ones))
        out[m] = PairedResult(
            m,
            _interval(point[0], s[:, 0], level),
            _interval(point[1], s[:, 1], level),
            _interval(sign * (point[0] - point[1]), sign * (s[:, 0] - s[:, 1]), level),
            draws,
            seed,
            level,
        )
    return out


def _interval(value: float, values: np.ndarray, level: float) -> Interval:
    """``value`` with the percentile interval of its bootstrap ``values`` (NaN bounds when none)."""
    if not len(values):
        return Interval(float(value), float("nan"), float("nan"))
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return Interval(float(value), float(lo), float(hi))
