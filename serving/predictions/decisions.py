"""The prediction-log :class:`~serving.predictions.log.Decision` of each served answer (/rank, /assign,
/risk), built from what the endpoint computed (references only: the writer thread formats them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from serving.matching.ranking import AssignPlan, RankResult
from serving.predictions.log import Decision
from serving.protocols import TaskRecord, WorkerPool


def rank_decision(
    task: TaskRecord,
    res: RankResult,
    pool: WorkerPool,
    now: datetime,
    versions: Mapping[str, str],
) -> Decision:
    """The top-k rows of one /rank answer (the task's features on the first row only)."""
    k = len(res.workers)
    return Decision(
        endpoint="rank",
        at=now,
        task_ids=[task.task_id] * k,
        worker_ids=pool.worker_ids[res.workers].tolist(),
        model_versions=versions,
        values={
            "predicted_minutes": res.scores.minutes,
            "p_qa_pass": res.scores.p_qa_pass,
            "p_complaint": res.scores.p_complaint,
        },
        features=[task.features] if k else [],
        ranks=list(range(1, k + 1)),
        fallback=res.fallback,
    )


def assign_decision(
    tasks: Sequence[TaskRecord],
    plan: AssignPlan,
    pool: WorkerPool,
    now: datetime,
    versions: Mapping[str, str],
) -> Decision:
    """One row per assigned task (its chosen worker and the scores the solver priced)."""
    done = np.flatnonzero(plan.result.worker >= 0).tolist()
    return Decision(
        endpoint="assign",
        at=now,
        task_ids=[tasks[t].task_id for t in done],
        worker_ids=pool.worker_ids[plan.result.worker[done]].tolist() if done else [],
        model_versions=versions,
        values={
            "predicted_minutes": plan.minutes[done],
            "p_qa_pass": plan.p_qa_pass[done],
            "p_complaint": plan.p_complaint[done],
        },
        features=[tasks[t].features for t in done],
        fallback=plan.fallback,
    )


def risk_decision(
    tasks: Sequence[TaskRecord], prob: np.ndarray, now: datetime, versions: Mapping[str, Any]
) -> Decision:
    """One row per task scored by /risk."""
    return Decision(
        endpoint="risk",
        at=now,
        task_ids=[t.task_id for t in tasks],
        worker_ids=[None] * len(tasks),
        model_versions={"complaint_pre": str(versions.get("complaint_pre", "unknown"))},
        values={"p_complaint_pre": prob},
        features=[t.features for t in tasks],
    )
