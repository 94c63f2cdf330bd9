"""Pure helpers to fold new outcomes into worker window sums and re-derive the shrunk features.

Used by the profile cache between two offline rebuilds; the formulas are the pipeline's
(``features.shrinkage``: same tables, same pseudo-counts, priors frozen at the snapshot).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.shrinkage import (
    PAIR_COUNTS,
    PAIR_RATES,
    WORKER_COUNTS,
    WORKER_RATES,
    ShrunkRate,
    counts,
    prior_names,
    shrunk_rates,
)
from features.spec import THROUGHPUT_WINDOWS_DAYS
from features.worker_features import ALL_TYPES, PAIR_SUMS, WORKER_SUMS
from opsmatch.contract import TASK_TYPES

WI = {n: i for i, n in enumerate(WORKER_SUMS)}
PI = {n: i for i, n in enumerate(PAIR_SUMS)}


def apply_to_sums(
    worker_sums: np.ndarray,
    pair_sums: np.ndarray,
    kind: str,
    frame: pd.DataFrame,
    w: np.ndarray,
    k: np.ndarray,
    type_stats: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """New (worker_sums, pair_sums) with outcomes of ``kind`` added for workers ``w`` and types ``k``."""
    ws, ps = worker_sums.copy(), pair_sums.copy()
    one = np.ones(len(w))

    def add(names_w, names_p, values):
        values = np.asarray(values, dtype=float)
        ok = ~np.isnan(values)
        for n in names_w:
            np.add.at(ws[:, WI[n]], w[ok], values[ok])
        for n in names_p:
            np.add.at(ps[:, :, PI[n]], (w[ok], k[ok]), values[ok])

    if kind == "completions":
        add([f"done_{d}d" for d in THROUGHPUT_WINDOWS_DAYS], ["done_total", "done_90d"], one)
        median = type_stats["median_minutes"].reindex(list(TASK_TYPES)).to_numpy(float)[k]
        r = frame["handling_minutes"].to_numpy(float) / median
        add(["ratio_sum"], ["ratio_sum"], r)
        add(["ratio_n"], ["ratio_n"], np.where(np.isnan(r), np.nan, 1.0))
    elif kind == "qa_results":
        add(["qa_n"], ["qa_n"], one)
        add(["qa_pass"], ["qa_pass"], frame["passed"].astype(float).to_numpy())
        raw = frame["satisfaction"] if "satisfaction" in frame else pd.Series(np.nan, index=frame.index)
        sat = pd.to_numeric(raw, errors="coerce").astype(float).to_numpy()
        add(["sat_sum"], [], sat)
        add(["sat_n"], [], np.where(np.isnan(sat), np.nan, 1.0))
    elif kind == "complaints":
        add(["complaints"], ["complaints"], one)
    else:
        raise ValueError(f"unknown outcome kind {kind!r}")
    return ws, ps


def shrunk_worker_features(ws: np.ndarray, type_stats: pd.DataFrame) -> dict[str, np.ndarray]:
    """Worker-profile outcome features from raw sums rows ``ws`` (shape ``(r, len(WORKER_SUMS))``)."""
    overall = type_stats.loc[ALL_TYPES]
    return _features(WORKER_COUNTS, WORKER_RATES, {n: ws[:, i] for n, i in WI.items()}, overall)


def shrunk_pair_features(ps: np.ndarray, prior: pd.Series | pd.DataFrame) -> dict[str, np.ndarray]:
    """Worker x type features from raw sums ``ps`` (shape ``(r, len(PAIR_SUMS))``) and the type's priors."""
    return _features(PAIR_COUNTS, PAIR_RATES, {n: ps[:, i] for n, i in PI.items()}, prior)


def _features(
    count_table: dict[str, str],
    rates: tuple[ShrunkRate, ...],
    sums: dict[str, np.ndarray],
    stats: pd.Series | pd.DataFrame,
) -> dict[str, np.ndarray]:
    """Counts and shrunk rates from raw sums; ``stats``: one type_stats row (its ``prior_<name>`` values)."""
    priors = {name: stats[f"prior_{name}"] for name in prior_names(rates)}
    return {**counts(count_table, sums), **shrunk_rates(rates, sums, priors)}
