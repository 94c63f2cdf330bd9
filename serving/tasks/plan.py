"""One batch dispatch decision, pure: the arm's plan (ML solver or a baseline) and the ``/assign`` answer.

The ML arm is ``serving.matching.ranking.assign_tasks``; a baseline arm (``serving.matching.baselines``) picks
the
workers by its rule over the same eligibility and the chosen pairs are then scored and priced, so the
answer has the same shape whichever arm decided. Workers in ``excluded`` never get that task (they
rejected it or the monitor took it from them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

from serving.api import schemas as s
from serving.config import Experiment, Policy, ServiceConfig
from serving.matching.assignment import CAPACITY, NO_ELIGIBLE, AssignmentResult
from serving.matching.baselines import baseline_assign
from serving.matching.cost import PARTS
from serving.matching.eligibility import effective_capacity, eligibility_matrix
from serving.matching.fallback import guarded_scores
from serving.matching.ranking import (
    AssignPlan,
    assign_tasks,
    minutes_to_sla,
    scored_pair_costs,
    urgency,
)
from serving.matching.roster import Availability
from serving.matching.switchback import ML_ARM, arm_at
from serving.matching.urgency import NAMES as URGENCY
from serving.protocols import Scorer, TaskRecord, WorkerPool


@dataclass(frozen=True)
class Batch:
    """What one plan needs besides the tasks."""

    pool: WorkerPool
    scorer: Scorer
    policy: Policy
    now: datetime
    availability: Availability
    config: ServiceConfig
    requested: np.ndarray | None = None


def exclusion_matrix(pool: WorkerPool, excluded: Sequence[Sequence[str]]) -> np.ndarray | None:
    """(n_tasks, n_workers) mask of the excluded pairs; None when nothing is excluded."""
    if not any(excluded):
        return None
    out = np.zeros((len(excluded), len(pool)), dtype=bool)
    for i, workers in enumerate(excluded):
        cols = [pool.index[w] for w in workers if w in pool.index]
        out[i, cols] = True
    return out


def baseline_plan(
    arm: str, tasks: Sequence[TaskRecord], batch: Batch, excluded: np.ndarray | None
) -> AssignPlan:
    """The baseline ``arm``'s choice, with the chosen pairs scored and priced for the answer."""
    pool, policy, avail = batch.pool, batch.policy, batch.availability
    n = len(tasks)
    elig, per_task = eligibility_matrix(
        pool,
        [t.task_type for t in tasks],
        [t.province_id for t in tasks],
        policy,
        requested=batch.requested,
        on_shift=avail.on_shift,
    )
    if excluded is not None:
        elig &= ~excluded
    worker = baseline_assign(arm, tasks, pool, elig, effective_capacity(pool, policy))
    done = np.flatnonzero(worker >= 0)
    scores, fallback = guarded_scores(batch.scorer, tasks, pool, done, worker[done], batch.now)
    costs = scored_pair_costs(tasks, scores, done, worker[done], pool, policy, batch.now, avail.minutes_left)
    cost = np.full(n, np.nan)
    cost[done] = costs.total
    parts = {p: np.full(n, np.nan) for p in PARTS}
    picked = {k: np.full(n, np.nan) for k in ("minutes", "p_qa_pass", "p_complaint")}
    for p in PARTS:
        parts[p][done] = costs.parts[p]
    for k in picked:
        picked[k][done] = getattr(scores, k)
    reasons: list[str | None] = [
        None if worker[i] >= 0 else (NO_ELIGIBLE if not elig[i].any() else CAPACITY) for i in range(n)
    ]
    result = AssignmentResult(
        worker, np.zeros(n, dtype=np.int64), cost, float(np.nansum(cost)), reasons, iterations=0
    )
    to_sla = minutes_to_sla(tasks, batch.now)
    return AssignPlan(
        result,
        per_task,
        to_sla < 0,
        urgency(to_sla, policy),
        np.zeros(n, dtype=np.int64),
        avail,
        parts,
        picked["minutes"],
        picked["p_qa_pass"],
        picked["p_complaint"],
        len(done),
        fallback,
    )


def plan(arm: str, tasks: Sequence[TaskRecord], batch: Batch, excluded: np.ndarray | None) -> AssignPlan:
    """The plan of the deciding ``arm`` (``ml`` or a baseline's name)."""
    if arm != ML_ARM:
        return baseline_plan(arm, tasks, batch, excluded)
    return assign_tasks(
        tasks,
        batch.pool,
        batch.scorer,
        batch.policy,
        batch.now,
        requested=batch.requested,
        full_scoring_pairs=batch.config.assign_full_scoring_pairs,
        candidates=batch.config.assign_candidates_per_task,
        availability=batch.availability,
        excluded=excluded,
        min_eligible=batch.config.min_eligible,
    )


@dataclass(frozen=True)
class ArmPlan:
    """The plan of the tasks one arm decided (``index``: their positions in the batch)."""

    arm: str
    index: list[int]
    plan: AssignPlan


def plan_by_arm(
    tasks: Sequence[TaskRecord],
    batch: Batch,
    experiment: Experiment,
    excluded: Sequence[Sequence[str]] | None = None,
) -> list[ArmPlan]:
    """Each task's arm (``switchback.arm_at`` at ``batch.now``), then one plan per arm; the workers one
    arm used are loaded before the next arm plans (the service's /assign and the twin share this)."""
    arms = [arm_at(experiment, batch.now, t.province_id).arm for t in tasks]
    gone = list(excluded) if excluded is not None else [()] * len(tasks)
    out, pool = [], batch.pool
    for arm in sorted(set(arms)):
        idx = [i for i, a in enumerate(arms) if a == arm]
        step = replace(batch, pool=pool)
        got = plan(arm, [tasks[i] for i in idx], step, exclusion_matrix(pool, [gone[i] for i in idx]))
        out.append(ArmPlan(arm, idx, got))
        res = got.result
        used = np.bincount(res.worker[res.worker >= 0], minlength=len(pool))
        pool = replace(pool, open_tasks=pool.open_tasks + used)
    return out


def items(
    tasks: Sequence[TaskRecord], batch: Batch, got: AssignPlan
) -> tuple[list[s.Assignment], list[s.Unassigned]]:
    """The answer's assignments and unassigned tasks of one plan."""
    res, pool, avail = got.result, batch.pool, batch.availability
    assignments, unassigned = [], []
    for t, task in enumerate(tasks):
        w = int(res.worker[t])
        if w >= 0:
            assignments.append(
                s.Assignment(
                    task_id=task.task_id,
                    worker_id=str(pool.worker_ids[w]),
                    worker_province_id=str(pool.province_ids[w]),
                    task_province_id=task.province_id,
                    overdue=bool(got.overdue[t]),
                    urgency=URGENCY[int(got.priority[t])],
                    predicted_minutes=rounded(got.minutes[t]),
                    p_qa_pass=rounded(got.p_qa_pass[t]),
                    p_complaint=rounded(got.p_complaint[t]),
                    cost=rounded(res.cost[t]),
                    cost_parts=s.CostParts(**{p: rounded(got.parts[p][t]) for p in PARTS}),
                    availability=avail.source_of(w),  # type: ignore[arg-type]
                    shift_minutes_left=optional(avail.minutes_left[w]),
                )
            )
            continue
        reason = res.unassigned_reason[t] or CAPACITY
        counts = got.eligibility[t].counts() if reason == NO_ELIGIBLE else {}
        if counts:
            counts["shift_end"] += int(got.shift_end_excluded[t])
        unassigned.append(
            s.Unassigned(
                task_id=task.task_id,
                task_province_id=task.province_id,
                overdue=bool(got.overdue[t]),
                urgency=URGENCY[int(got.priority[t])],
                reason=reason,  # type: ignore[arg-type]  # the solver's two reasons
                excluded={k: v for k, v in counts.items() if v},  # type: ignore[arg-type]
            )
        )
    return assignments, unassigned


def optional(x: Any) -> float | None:
    """A rounded float, or None when unknown (NaN)."""
    v = float(x)
    return None if np.isnan(v) else round(v, 3)


def rounded(x: Any) -> float:
    """A finite float for JSON, rounded; a non-finite model output is a server fault, never sent."""
    v = float(x)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {v} in a response")
    return round(v, 6)
