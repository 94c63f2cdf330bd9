"""Request-time features: the one home of every formula computed at the request's ``now``.

Feast's on-demand views (``features.definitions``), the profile cache's live rows, the service's
feature assembly (``serving.runtime.scoring``) and the twin's replay (``evaluation.twin_service``) all call
these functions, so training (Feast's point-in-time join) and serving compute the same values.
Pure numpy/pandas: no Feast, no I/O. Times of rows held in memory are int64 µs since the epoch, with
``NEVER`` for "no row".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.spec import ODFV_FEATURES, WORKER_LAST_QA, WORKER_STATUS

SECONDS_PER_HOUR = 3600.0
NEVER: int = int(np.iinfo(np.int64).min)  # the time (µs) of a row that does not exist

# Columns of the live-status rows: the push view's features, then the load ratio (an on-demand feature).
LIVE_COLUMNS: tuple[str, ...] = (*WORKER_STATUS.feature_names, "load_ratio")
LIVE: dict[str, int] = {c: i for i, c in enumerate(LIVE_COLUMNS)}
# Columns of the last-QA rows: the push view's features, with the qa_results column each one comes from.
LAST_QA_COLUMNS: tuple[str, ...] = tuple(WORKER_LAST_QA.feature_names)
LAST_QA: dict[str, int] = {c: i for i, c in enumerate(LAST_QA_COLUMNS)}
LAST_QA_SOURCE: dict[str, str] = {
    "last_qa_passed": "passed",
    "last_qa_score": "score",
    "last_qa_satisfaction": "satisfaction",
}
# Every on-demand feature name (the ones that depend on the request time or on live status).
REQUEST_TIME: tuple[str, ...] = tuple(n for feats in ODFV_FEATURES.values() for n, _ in feats)


def _hours(delta: Any) -> Any:
    """A timedelta (scalar, Series or index) in hours, as float64."""
    if isinstance(delta, pd.Series):
        return (delta.dt.total_seconds() / SECONDS_PER_HOUR).astype("float64")
    if isinstance(delta, pd.TimedeltaIndex):
        return (delta.total_seconds() / SECONDS_PER_HOUR).astype("float64")
    return delta.total_seconds() / SECONDS_PER_HOUR


def hours_to_sla(sla_due_at: Any, now: Any) -> Any:
    """Hours left before the SLA deadline at ``now`` (negative when overdue)."""
    return _hours(sla_due_at - now)


def task_age_hours(created_at: Any, now: Any) -> Any:
    """Hours since the task was created, at ``now``."""
    return _hours(now - created_at)


def load_ratio(open_tasks: Any, capacity: Any) -> Any:
    """Open tasks over the worker's daily capacity; NaN when either is unknown or the capacity is not > 0."""
    if isinstance(open_tasks, pd.Series):
        cap = pd.to_numeric(capacity, errors="coerce").astype("float64")
        return (pd.to_numeric(open_tasks, errors="coerce").astype("float64") / cap.where(cap > 0)).astype(
            "float64"
        )
    cap = np.asarray(capacity, dtype=float)
    return np.asarray(open_tasks, dtype=float) / np.where(cap > 0, cap, np.nan)


def sla_urgency(sla_due_at: Any, created_at: Any, now: Any) -> dict[str, Any]:
    """The ``sla_urgency`` on-demand features of a task at ``now``."""
    return {"hours_to_sla": hours_to_sla(sla_due_at, now), "task_age_hours": task_age_hours(created_at, now)}


def live_rows(on_shift: Any, open_tasks: Any, capacity: Any) -> np.ndarray:
    """``(n, len(LIVE_COLUMNS))`` live rows: on shift (0/1, NaN unknown), open tasks and the load ratio."""
    open_tasks = np.asarray(open_tasks, dtype=float)
    return np.column_stack(
        [np.asarray(on_shift, dtype=float), open_tasks, load_ratio(open_tasks, capacity)]
    ).reshape(len(open_tasks), len(LIVE_COLUMNS))


def last_qa_values(qa: pd.DataFrame) -> dict[str, np.ndarray]:
    """The last-QA features of ``qa_results`` rows, as floats (NaN where a column is absent or null)."""

    def column(name: str) -> np.ndarray:
        values = qa[name] if name in qa else pd.Series(np.nan, index=qa.index)
        return pd.to_numeric(values.astype(object), errors="coerce").astype(float).to_numpy()

    return {feature: column(source) for feature, source in LAST_QA_SOURCE.items()}


def expired(at: np.ndarray, now_us: int, ttl_us: int) -> np.ndarray:
    """Rows Feast's point-in-time join would not return at ``now``: no row, older than the TTL, or future."""
    return (at == NEVER) | (at < now_us - ttl_us) | (at > now_us)
