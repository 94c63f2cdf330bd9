"""Data checks before training: a reference profile of a training frame, and a new frame checked against it.

Pure (pandas/numpy only). Each training run stores the profile of the rows it trained on
(``profile_frame``, a JSON-ready dict); before a challenger is trained, its frame is compared with the
champion's profile (``check_frame``):

- **rows**: labelled rows at least ``min_rows_ratio`` of the reference (history only grows, so a
  shrinking frame is a broken extract or join);
- **label rate**: the rarer class's rate (classifiers) or the label mean (regression) within a factor
  ``label_ratio_max`` of the reference (a doubled complaint or QA-failure rate is a labelling fault until
  a person says otherwise);
- **join coverage**: the share of rows whose worker and worker x type features were found (any column of
  the group non-null) must not drop by more than ``coverage_drop_max``;
- **nulls**: a feature's null rate must not rise by more than ``null_rise_max``;
- **stability**: the population stability index (PSI) of each feature's non-null values over the
  reference's decile bins (numbers) or categories must stay at or below ``psi_fail`` (0.25, the usual
  "major shift" line); above ``psi_warn`` (0.1) it is reported but does not stop the loop;
- **schema**: every reference feature must be present.

A frame of open-task snapshots (several rows of a task, ``complaint_pre``) is profiled and checked one
row per task, its earliest (``task_rows``): the wait its later rows carry follows how long the newest
tasks have been open, so all rows of a new frame against the tasks of the reference would drift on every
ordinary retrain.

Features in ``PSI_EXEMPT`` are profiled and null-checked but never compared by PSI, each for its stated
reason: their distribution moves with the length of the history, not with the population, so a newer
frame or today's traffic always looks shifted and any PSI of them is a false alarm (``psi_exempt``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = 1
# Feature groups whose presence is a join: the feature views' naming (features.spec: worker_profile
# columns start with ``worker_``, worker_type_perf columns with ``wt_``).
JOIN_GROUPS: dict[str, str] = {"worker": "worker_", "worker_x_type": "wt_"}
N_BINS = 10
MAX_CATEGORIES = 30
OTHER = "__other__"
EPS = 1e-4  # floor on bin shares in the PSI (an empty bin would make it infinite)
MAX_PROFILE_ROWS = 100_000  # feature figures on a fixed-seed sample above this (rows and labels: all)


# Feature -> why its PSI means nothing (prefixes end with "_").
PSI_EXEMPT: dict[str, str] = {
    "cust_tasks_so_far": "counts a customer's history so far: grows with every day of history",
    "cust_complaints_so_far": "counts a customer's history so far: grows with every day of history",
    "cust_contacts_so_far": "counts a customer's history so far: grows with every day of history",
}


def psi_exempt(feature: str) -> str | None:
    """Why ``feature`` is never compared by PSI (None: it is)."""
    return PSI_EXEMPT.get(feature)


@dataclass(frozen=True)
class CheckThresholds:
    """Where a challenger's frame stops being comparable with the champion's."""

    min_rows_ratio: float = 0.7
    label_ratio_max: float = 1.5
    coverage_drop_max: float = 0.05
    null_rise_max: float = 0.10
    psi_fail: float = 0.25
    psi_warn: float = 0.10


@dataclass
class CheckReport:
    """Failures (each names the check and its figure), warnings, and the figures themselves."""

    model: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    reference: bool = True  # False: no reference profile, nothing was compared

    @property
    def ok(self) -> bool:
        return not self.failures


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _numeric(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def label_rate(y: np.ndarray, task: str) -> float:
    """Positive rate (classifiers) or mean (regression) of the known labels."""
    y = y[np.isfinite(y)]
    return float(y.mean()) if len(y) else float("nan")


def coverage(frame: pd.DataFrame, prefix: str) -> float | None:
    """Share of rows with at least one non-null column starting with ``prefix`` (None: no such column)."""
    cols = [c for c in frame.columns if c.startswith(prefix)]
    if not cols or not len(frame):
        return None
    return float(frame[cols].notna().any(axis=1).mean())


def _feature_profile(s: pd.Series) -> dict[str, Any]:
    present = s.dropna()
    if _is_numeric(s):
        values = _numeric(present)
        qs = np.linspace(0, 1, N_BINS + 1)[1:-1]
        edges: np.ndarray = np.unique(np.quantile(values, qs)) if len(values) else np.array([])
        out: dict[str, Any] = {"kind": "numeric", "edges": [float(e) for e in edges]}
        out["shares"] = _numeric_shares(values, np.asarray(out["edges"])).tolist()
        return out
    counts = present.astype(str).value_counts()
    top = sorted(counts.index[:MAX_CATEGORIES])
    shares = _shares_from_counts(counts, top, len(present))
    return {"kind": "categorical", "categories": top, "shares": shares.tolist()}


def _numeric_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def _category_shares(present: pd.Series, categories: Sequence[str]) -> np.ndarray:
    return _shares_from_counts(present.astype(str).value_counts(), categories, len(present))


def _shares_from_counts(counts: pd.Series, categories: Sequence[str], total: int) -> np.ndarray:
    known = np.array([counts.get(c, 0) for c in categories], dtype=np.float64)
    return np.append(known, float(total - known.sum())) / max(total, 1)


def sample_rows(frame: pd.DataFrame, limit: int = MAX_PROFILE_ROWS) -> pd.DataFrame:
    """``frame``, or a fixed-seed sample of ``limit`` rows of it (PSI and shares need no more)."""
    return frame if len(frame) <= limit else frame.sample(limit, random_state=0)


def task_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per task: its earliest (by ``event_timestamp``; frames of one row per task unchanged).

    Open-task snapshots hold a task at intake and then every few hours while it waits: how many rows a
    task has and the wait they carry depend on how long the newest tasks have been open and on the
    window of the extract, not on the population. Profile and check both describe the tasks by the
    same row (the intake's), so like is compared with like and a shifted mix still shows.
    """
    if "task_id" not in frame or not frame["task_id"].duplicated().any():
        return frame
    if "event_timestamp" in frame:
        frame = frame.sort_values("event_timestamp", kind="stable")
    return frame.drop_duplicates("task_id", keep="first")


def profile_frame(
    frame: pd.DataFrame, feature_cols: Sequence[str], label: str, task: str, model: str = ""
) -> dict[str, Any]:
    """The reference profile of the rows a model trains on (JSON-ready), one row per task (``task_rows``)."""
    frame = task_rows(frame)
    y = _numeric(frame[label]) if label in frame else np.array([])
    rows = len(frame)
    frame = sample_rows(frame)
    return {
        "version": PROFILE_VERSION,
        "model": model,
        "task": task,
        "label": label,
        "rows": int(rows),
        "label_rate": label_rate(y, task),
        "null_rate": {c: float(frame[c].isna().mean()) if len(frame) else 0.0 for c in feature_cols},
        "join_coverage": {
            g: cov
            for g, p in JOIN_GROUPS.items()
            if (cov := coverage(frame[list(feature_cols)], p)) is not None
        },
        "features": {c: _feature_profile(frame[c]) for c in feature_cols},
    }


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=np.float64), EPS, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(ref: Mapping[str, Any], s: pd.Series) -> float:
    """PSI of the non-null values of ``s`` over the bins of its reference profile ``ref``."""
    present = s.dropna()
    if not len(present):
        return 0.0  # all null: the null-rate check speaks for it
    if ref["kind"] == "numeric":
        actual = _numeric_shares(_numeric(present), np.asarray(ref["edges"], dtype=np.float64))
    else:
        actual = _category_shares(present, ref["categories"])
    return psi(np.asarray(ref["shares"]), actual)


def _rare_side(reference_rate: float, task: str) -> tuple[float, str]:
    """Which label value the rate check follows: the reference's rarer class (classifiers) or the mean."""
    if task != "binary":
        return 1.0, "mean"
    rare = 1.0 if reference_rate <= 0.5 else 0.0
    return rare, f"rate of the rarer class ({rare:g})"


def _side(rate: float, rare: float) -> float:
    return rate if rare == 1.0 else 1.0 - rate


def check_frame(
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    reference: Mapping[str, Any] | None,
    thresholds: CheckThresholds | None = None,
    model: str = "",
) -> CheckReport:
    """Compare the rows a challenger would train on with the champion's reference profile."""
    tol = thresholds or CheckThresholds()
    report = CheckReport(model)
    if reference is None:
        report.reference = False
        report.warnings.append("no reference profile (no champion, or it predates profiles): not checked")
        return report
    task, label = reference["task"], reference["label"]
    present = [c for c in feature_cols if c in frame.columns]
    frame = task_rows(frame)  # as the reference: one row per task (snapshot frames hold several)
    new = profile_frame(frame, present, label, task, model)
    sample = sample_rows(frame)
    fail, warn, figs = report.failures, report.warnings, report.figures

    ratio = new["rows"] / max(reference["rows"], 1)
    figs["rows"] = {"reference": reference["rows"], "new": new["rows"], "ratio": ratio}
    if ratio < tol.min_rows_ratio:
        fail.append(
            f"rows: {new['rows']:,} labelled rows vs {reference['rows']:,} in the champion's frame "
            f"(ratio {ratio:.2f} < {tol.min_rows_ratio})"
        )

    rare, what = _rare_side(reference["label_rate"], task)
    ref_m, new_m = _side(reference["label_rate"], rare), _side(new["label_rate"], rare)
    lr = new_m / ref_m if ref_m > 0 else float("inf") if new_m > 0 else 1.0
    figs["label_rate"] = {"reference": reference["label_rate"], "new": new["label_rate"], "ratio": lr}
    if not (1 / tol.label_ratio_max <= lr <= tol.label_ratio_max):
        fail.append(
            f"label rate: {label} {what} {new_m:.4g} vs {ref_m:.4g} in the champion's frame "
            f"(ratio {lr:.2f} outside [{1 / tol.label_ratio_max:.2f}, {tol.label_ratio_max:.2f}])"
        )

    missing = [c for c in reference["features"] if c not in frame.columns]
    if missing:
        fail.append(f"schema: reference features missing from the frame: {', '.join(missing)}")

    figs["join_coverage"] = {}
    for group, ref_cov in reference.get("join_coverage", {}).items():
        cov = new["join_coverage"].get(group, 0.0)
        figs["join_coverage"][group] = {"reference": ref_cov, "new": cov}
        if ref_cov - cov > tol.coverage_drop_max:
            fail.append(
                f"join coverage: {group} features found for {cov:.1%} of rows vs {ref_cov:.1%} "
                f"(drop {ref_cov - cov:.1%} > {tol.coverage_drop_max:.0%})"
            )

    figs["null_rate"], figs["psi"] = {}, {}
    for col, ref_feat in reference["features"].items():
        if col in missing:
            continue
        ref_null, null = (
            reference["null_rate"][col],
            new["null_rate"].get(col, float(frame[col].isna().mean())),
        )
        figs["null_rate"][col] = null
        if null - ref_null > tol.null_rise_max:
            fail.append(
                f"nulls: {col} null rate {null:.1%} vs {ref_null:.1%} (rise > {tol.null_rise_max:.0%})"
            )
        if psi_exempt(col):
            continue
        value = feature_psi(ref_feat, sample[col])
        figs["psi"][col] = value
        if value > tol.psi_fail:
            fail.append(f"stability: {col} PSI {value:.3f} > {tol.psi_fail}")
        elif value > tol.psi_warn:
            warn.append(f"stability: {col} PSI {value:.3f} > {tol.psi_warn} (reported, not blocking)")
    return report
