"""Pure helpers to fold new outcomes into worker window sums and re-derive the shrunk features.

Used by the profile cache between two offline rebuilds; the formulas are the pipeline's (same sums,
same pseudo-counts, priors frozen at the snapshot).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.spec import PSEUDO_COUNTS, THROUGHPUT_WINDOWS_DAYS
from features.windows import shrink
from features.worker_features import PAIR_SUMS, WORKER_SUMS
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
        sat = pd.to_numeric(frame.get("satisfaction", pd.Series(np.nan, index=frame.index)), errors="coerce")
        sat = sat.astype(float).to_numpy()
        add(["sat_sum"], [], sat)
        add(["sat_n"], [], np.where(np.isnan(sat), np.nan, 1.0))
    elif kind == "complaints":
        add(["complaints"], ["complaints"], one)
    else:
        raise ValueError(f"unknown outcome kind {kind!r}")
    return ws, ps


def shrunk_worker_features(ws: np.ndarray, type_stats: pd.DataFrame) -> dict[str, np.ndarray]:
    """Worker-profile outcome features from raw sums rows ``ws`` (shape ``(r, len(WORKER_SUMS))``)."""
    p = type_stats.loc["__all__"]
    k = PSEUDO_COUNTS
    s = {n: ws[:, i] for n, i in WI.items()}
    out = {f"worker_done_{d}d": s[f"done_{d}d"] for d in THROUGHPUT_WINDOWS_DAYS}
    out.update(
        {
            "worker_handling_ratio": shrink(s["ratio_sum"], s["ratio_n"], p["prior_handling"], k["handling"]),
            "worker_qa_checked_90d": s["qa_n"],
            "worker_qa_pass_rate": shrink(s["qa_pass"], s["qa_n"], p["prior_qa"], k["qa"]),
            "worker_complaints_90d": s["complaints"],
            "worker_complaint_rate": shrink(
                s["complaints"], s["done_90d"], p["prior_complaint"], k["complaint"]
            ),
            "worker_satisfaction": shrink(
                s["sat_sum"], s["sat_n"], p["prior_satisfaction"], k["satisfaction"]
            ),
        }
    )
    return out


def shrunk_pair_features(ps: np.ndarray, prior: pd.Series) -> dict[str, np.ndarray]:
    """Worker x type features from raw sums ``ps`` (shape ``(r, len(PAIR_SUMS))``) and the type's priors."""
    k = PSEUDO_COUNTS
    s = {n: ps[:, i] for n, i in PI.items()}
    return {
        "wt_done_total": s["done_total"],
        "wt_done_90d": s["done_90d"],
        "wt_handling_ratio": shrink(s["ratio_sum"], s["ratio_n"], prior["prior_handling"], k["handling"]),
        "wt_qa_checked_90d": s["qa_n"],
        "wt_qa_pass_rate": shrink(s["qa_pass"], s["qa_n"], prior["prior_qa"], k["qa"]),
        "wt_complaint_rate": shrink(s["complaints"], s["done_90d"], prior["prior_complaint"], k["complaint"]),
    }
