"""Rule scores when the models cannot be used: the profile prior instead of the champions.

``guarded_scores`` asks the scorer for model scores and falls back to the profile prior (each
worker's own shrunk handling-time ratio, QA pass rate and complaint rate for the task type, from the
feature tables; no model) when the models raise, return non-finite values, or when fewer than
``min_eligible`` workers are eligible (commercial routers skip the models on tiny pools and route by
skills). The costs built on top still weigh load, SLA urgency and hand-offs, and eligibility has
already applied skills, so the fallback is the rule ranking (skills, load, SLA urgency) with the
workers' track records. It returns the reason, which the response reports as ``"fallback"``.

Reasons: ``model_unavailable`` (a champion is not loaded: files gone, registry unreachable),
``model_error`` (a model raised), ``non_finite`` (NaN/inf scores), ``feature_store`` (the online store
cannot be read: the task has no features, so :class:`RulesOnly` wraps the scorer) and ``few_eligible``
(the guard, not a fault).
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
MODEL_UNAVAILABLE = "model_unavailable"
FEATURE_STORE = "feature_store"
REASONS: tuple[str, ...] = (MODEL_UNAVAILABLE, MODEL_ERROR, NON_FINITE, FEATURE_STORE, FEW_ELIGIBLE)
FAULTS: tuple[str, ...] = (MODEL_UNAVAILABLE, MODEL_ERROR, NON_FINITE, FEATURE_STORE)  # all but the guard


class ModelsSkipped(Exception):
    """Raised by a scorer that must not be used for this request; ``reason`` is the fallback's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RulesOnly:
    """``scorer`` with its models switched off (``score_pairs`` raises :class:`ModelsSkipped`)."""

    def __init__(self, scorer: Scorer, reason: str) -> None:
        self.scorer = scorer
        self.reason = reason

    def __getattr__(self, name: str):  # noqa: ANN204 - every other Scorer method is the wrapped one's
        return getattr(self.scorer, name)

    def ready(self) -> bool:
        return True  # the skip's own reason, not "model_unavailable", is what the response reports

    def score_pairs(self, *args: object, **kwargs: object) -> PairScores:
        raise ModelsSkipped(self.reason)


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
    if not scorer.ready():
        return rule_scores(scorer, tasks, pool, task_idx, worker_idx), MODEL_UNAVAILABLE
    try:
        scores = scorer.score_pairs(tasks, pool, task_idx, worker_idx, now=now)
    except ModelsSkipped as skipped:
        return rule_scores(scorer, tasks, pool, task_idx, worker_idx), skipped.reason
    except Exception as exc:  # noqa: BLE001 - any model failure must leave ranking answering
        log.warning("models failed, ranking by rules: %s: %s", type(exc).__name__, exc)
        return rule_scores(scorer, tasks, pool, task_idx, worker_idx), MODEL_ERROR
    if not _finite(scores):
        log.warning("models returned non-finite scores, ranking by rules")
        return rule_scores(scorer, tasks, pool, task_idx, worker_idx), NON_FINITE
    return scores, None
