"""Rule scores when the models cannot be used: the profile prior instead of the champions.

``guarded_scores`` asks the scorer for model scores and falls back to the profile prior (each
worker's own shrunk handling-time ratio, QA pass rate and complaint rate for the task type, from the
feature tables; no model) when the models raise, return non-finite values, or when fewer than
``min_eligible`` workers are eligible (commercial routers skip the models on tiny pools and route by
skills). The costs built on top still weigh load, SLA urgency and hand-offs, and eligibility has
already applied skills, so the fallback is the rule ranking (skills, load, SLA urgency) with the
workers' track records. It returns the reason, which the response reports as ``"fallback"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from serving.protocols import PairScores, Scorer, TaskRecord, WorkerPool

log = logging.getLogger("opsmatch.serving")
FEW_ELIGIBLE = "few_eligible"
MODEL_ERROR = "model_error"
NON_FINITE = "non_finite"


def rule_scores(
    scorer: Scorer,
    tasks: Sequence[TaskRecord],
    pool: WorkerPool,
    task_idx: np.ndarray,
    worker_idx: np.ndarray,
) -> PairScores:
    """The profile prior of each (task, worker) pair, aligned with the pairs asked for."""
    n = len(task_idx)
    out = PairScores(np.empty(n), np.empty(n), np.empty(n))
    types = np.array([tasks[i].task_type for i in task_idx], dtype=object)
    for t, prior in scorer.prior(sorted(set(types.tolist())), pool).items():
        rows = np.flatnonzero(types == t)
        cols = np.asarray(worker_idx)[rows]
        out.minutes[rows] = np.asarray(prior.minutes)[cols]
        out.p_qa_pass[rows] = np.asarray(prior.p_qa_pass)[cols]
        out.p_complaint[rows] = np.asarray(prior.p_complaint)[cols]
    return out


def _finite(scores: PairScores) -> bool:
    return all(np.all(np.isfinite(a)) for a in (scores.minutes, scores.p_qa_pass, scores.p_complaint))


def guarded_scores(
    scorer: Scorer,
    tasks: Sequence[TaskRecord],
    pool: WorkerPool,
    task_idx: np.ndarray,
    worker_idx: np.ndarray,
    now: datetime,
    *,
    eligible: int | None = None,
    min_eligible: int = 0,
) -> tuple[PairScores, str | None]:
    """``(scores, fallback reason or None)``: model scores, or the rule scores and why."""
    if min_eligible and eligible is not None and eligible < min_eligible:
        return rule_scores(scorer, tasks, pool, task_idx, worker_idx), FEW_ELIGIBLE
    try:
        scores = scorer.score_pairs(tasks, pool, task_idx, worker_idx, now=now)
    except Exception as exc:  # noqa: BLE001 - any model failure must leave ranking answering
        log.warning("models failed, ranking by rules: %s: %s", type(exc).__name__, exc)
        return rule_scores(scorer, tasks, pool, task_idx, worker_idx), MODEL_ERROR
    if not _finite(scores):
        log.warning("models returned non-finite scores, ranking by rules")
        return rule_scores(scorer, tasks, pool, task_idx, worker_idx), NON_FINITE
    return scores, None
