"""Ranking one task and assigning a batch: eligibility -> model scores -> cost -> top-k / solver.

Functions here take the worker pool, the tasks and a scorer explicitly (no I/O of their own).
/assign scores every eligible pair when there are at most ``full_scoring_pairs`` of them; above, each
task keeps its ``candidates`` cheapest eligible workers by a profile prior (the scorer's per-type
estimates, no task features), the candidates get exact model scores, and the solver is exact on
that candidate graph; tasks left out for lack of capacity among their candidates get one more round
over the eligible workers that still have room.

Availability (``serving.matching.roster``: fresh live status, else roster) decides ``off_shift``; with
``dispatch.shift_end == "exclude"`` a scored pair whose expected finish falls after the end of the
worker's shift is excluded (``shift_end``), and with ``"exclude"`` or ``"penalise"`` the overrun is a
cost part. /assign's priority levels: overdue (2) > due within ``dispatch.sla_near_hours`` (1) > normal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from serving.config import Policy
from serving.matching.assignment import CAPACITY, AssignmentResult, solve_assignment
from serving.matching.cost import PARTS, PairCosts, pair_costs, reason_codes
from serving.matching.eligibility import (
    SHIFT_END,
    Eligibility,
    effective_capacity,
    eligibility_matrix,
    eligible_workers,
)
from serving.matching.fallback import FEW_ELIGIBLE, guarded_scores, rule_scores
from serving.matching.roster import Availability, live_only
from serving.matching.urgency import levels
from serving.protocols import PairScores, Scorer, TaskRecord, WorkerPool

DEFAULT_MEDIAN_MINUTES = 30.0
SCORE_NAMES: tuple[str, ...] = ("minutes", "p_qa_pass", "p_complaint")  # the fields of PairScores


def urgency(minutes_to_sla: np.ndarray, policy: Policy) -> np.ndarray:
    """/assign's priority level of each task (``dispatch.sla_near_hours``, see :mod:`.urgency`)."""
    return levels(minutes_to_sla, policy.dispatch.sla_near_hours)


def minutes_to_sla(tasks: Sequence[TaskRecord], now: datetime) -> np.ndarray:
    """Minutes left before each task's SLA (negative when overdue)."""
    return np.array([(t.sla_due_at - now).total_seconds() / 60.0 for t in tasks], dtype=float)


def type_medians(task_types: Sequence[str], pool: WorkerPool, policy: Policy) -> np.ndarray:
    """Median handling minutes of each task's type: from the profiles, else the policy's fallback."""
    out = []
    for t in task_types:
        value = pool.type_median_minutes.get(t) or policy.type_median_minutes.get(t)  # type: ignore[call-overload]
        out.append(float(value) if value else DEFAULT_MEDIAN_MINUTES)
    return np.array(out, dtype=float)


def scored_pair_costs(
    tasks: Sequence[TaskRecord],
    scores: PairScores,
    task_idx: np.ndarray,
    worker_idx: np.ndarray,
    pool: WorkerPool,
    policy: Policy,
    now: datetime,
    minutes_left: np.ndarray | None = None,
) -> PairCosts:
    """Costs of the scored pairs (tasks[task_idx[i]], pool worker worker_idx[i]), as /rank prices them.

    ``minutes_left``: per pool worker, the time to the end of the shift (None: unknown)."""
    task_idx, worker_idx = np.asarray(task_idx, dtype=np.int64), np.asarray(worker_idx, dtype=np.int64)
    capacity = effective_capacity(pool, policy)
    provinces = np.array([t.province_id for t in tasks], dtype=object)[task_idx]
    return policy_costs(
        scores,
        policy,
        type_median=type_medians([t.task_type for t in tasks], pool, policy)[task_idx],
        open_tasks=pool.open_tasks[worker_idx],
        capacity=capacity[worker_idx],
        cross_province=pool.province_ids[worker_idx] != provinces,
        minutes_to_sla=minutes_to_sla(tasks, now)[task_idx],
        minutes_left=np.nan if minutes_left is None else minutes_left[worker_idx],
    )


def policy_costs(
    scores: PairScores,
    policy: Policy,
    *,
    type_median: np.ndarray | float,
    open_tasks: np.ndarray,
    capacity: np.ndarray,
    cross_province: np.ndarray,
    minutes_to_sla: np.ndarray | float,
    minutes_left: np.ndarray | float = np.nan,
) -> PairCosts:
    """``cost.pair_costs`` of model scores under the policy's weights, SLA cap and shift-end rule."""
    return pair_costs(
        minutes=scores.minutes,
        p_qa_pass=scores.p_qa_pass,
        p_complaint=scores.p_complaint,
        type_median=type_median,
        open_tasks=open_tasks,
        capacity=capacity,
        cross_province=cross_province,
        minutes_to_sla=minutes_to_sla,
        weights=policy.weights,
        sla_cap=policy.sla_cap,
        minutes_left=minutes_left,
        price_shift_end=policy.dispatch.shift_end != "off",
    )


@dataclass(frozen=True)
class Candidates:
    """The workers of one task that got model scores (indices into the pool), with their costs."""

    eligibility: Eligibility
    workers: np.ndarray
    scores: PairScores
    costs: PairCosts
    availability: Availability
    fallback: str | None = (
        None  # why the models were not used (serving.matching.fallback), None when they were
    )


def score_candidates(
    task: TaskRecord,
    pool: WorkerPool,
    scorer: Scorer,
    policy: Policy,
    now: datetime,
    *,
    requested: np.ndarray | None = None,
    prescreen: int = 0,
    prescreen_share: float = 0.0,
    availability: Availability | None = None,
    min_eligible: int = 0,
) -> Candidates:
    """Eligibility, then model scores and costs of the eligible workers (in pool order).

    ``prescreen`` > 0 scores only the ``max(prescreen, ceil(prescreen_share * eligible))`` cheapest
    eligible workers by the profile prior with the models (all of them when there are no more).
    ``availability`` (default: the pool's live flags, no shift end) decides who is on shift; with
    ``dispatch.shift_end == "exclude"`` a worker whose shift ends before the predicted minutes is dropped.
    Fewer than ``min_eligible`` eligible workers, or models that fail: rule scores (``fallback``).
    """
    avail = availability if availability is not None else live_only(pool.on_shift)
    elig = eligible_workers(
        pool, task.task_type, task.province_id, policy, requested=requested, on_shift=avail.on_shift
    )
    idx = np.flatnonzero(elig.mask)
    left = avail.minutes_left
    keep = max(prescreen, math.ceil(prescreen_share * len(idx))) if prescreen else 0
    if keep and len(idx) > keep:
        prior = _indexed(scorer.prior([task.task_type], pool)[task.task_type], idx)
        zeros = np.zeros(len(idx), dtype=np.int64)
        rough = scored_pair_costs([task], prior, zeros, idx, pool, policy, now, left)
        idx = np.sort(idx[np.argpartition(rough.total, keep - 1)[:keep]])
    zeros = np.zeros(len(idx), dtype=np.int64)
    eligible = int(elig.mask.sum())
    scores, fallback = guarded_scores(
        scorer, [task], pool, zeros, idx, now, eligible=eligible, min_eligible=min_eligible
    )
    costs = scored_pair_costs([task], scores, zeros, idx, pool, policy, now, left)
    if policy.dispatch.shift_end == "exclude":
        late = costs.shift_overrun > 0
        if late.any():
            elig = elig.exclude(idx[late], SHIFT_END)
            kept = np.flatnonzero(~late)
            idx, scores, costs = idx[kept], scores.take(kept), costs.take(kept)
    return Candidates(elig, idx, scores, costs, avail, fallback)


def _indexed(scores: PairScores, idx: np.ndarray | tuple) -> PairScores:
    """``scores`` (arrays or sequences) at ``idx``."""
    return PairScores(*(np.asarray(a)[idx] for a in (scores.minutes, scores.p_qa_pass, scores.p_complaint)))


@dataclass(frozen=True)
class RankResult:
    """Top workers for one task (indices into the pool) with their scores and costs."""

    eligibility: Eligibility
    workers: np.ndarray
    scores: PairScores
    costs: PairCosts
    reasons: list[list[str]]
    availability: Availability
    fallback: str | None = (
        None  # why the models were not used (serving.matching.fallback), None when they were
    )


def rank_task(
    task: TaskRecord,
    pool: WorkerPool,
    scorer: Scorer,
    policy: Policy,
    now: datetime,
    top_k: int,
    *,
    requested: np.ndarray | None = None,
    prescreen: int = 0,
    prescreen_share: float = 0.0,
    availability: Availability | None = None,
    min_eligible: int = 0,
) -> RankResult:
    """Rank the eligible workers for one task by cost (``prescreen``, ``availability`` as in
    :func:`score_candidates`)."""
    cand = score_candidates(
        task,
        pool,
        scorer,
        policy,
        now,
        requested=requested,
        prescreen=prescreen,
        prescreen_share=prescreen_share,
        availability=availability,
        min_eligible=min_eligible,
    )
    order = np.argsort(cand.costs.total, kind="stable")[:top_k]
    chosen_scores, chosen_costs = cand.scores.take(order), cand.costs.take(order)
    workers = cand.workers[order]
    reasons = [
        reason_codes(
            minutes_ratio=float(chosen_costs.minutes_ratio[i]),
            p_qa_pass=float(chosen_scores.p_qa_pass[i]),
            p_complaint=float(chosen_scores.p_complaint[i]),
            cross_province=bool(pool.province_ids[w] != task.province_id),
            load_ratio=float(chosen_costs.load_ratio[i]),
            sla_overrun=float(chosen_costs.sla_overrun[i]),
            shift_overrun=float(chosen_costs.shift_overrun[i]),
        )
        for i, w in enumerate(workers)
    ]
    return RankResult(
        cand.eligibility, workers, chosen_scores, chosen_costs, reasons, cand.availability, cand.fallback
    )


@dataclass(frozen=True)
class AssignPlan:
    """Solver result plus what is needed to report it."""

    result: AssignmentResult
    eligibility: list[Eligibility]
    overdue: np.ndarray
    priority: np.ndarray  # urgency level of each task (see ``urgency``)
    shift_end_excluded: np.ndarray  # per task: candidates excluded because the shift would end first
    availability: Availability
    parts: dict[str, np.ndarray]
    minutes: np.ndarray
    p_qa_pass: np.ndarray
    p_complaint: np.ndarray
    scored_pairs: int
    fallback: str | None = None  # why the models were not used for some pairs (serving.matching.fallback)


def assign_tasks(
    tasks: Sequence[TaskRecord],
    pool: WorkerPool,
    scorer: Scorer,
    policy: Policy,
    now: datetime,
    *,
    requested: np.ndarray | None = None,
    full_scoring_pairs: int = 300_000,
    candidates: int = 64,
    availability: Availability | None = None,
    excluded: np.ndarray | None = None,
    min_eligible: int = 0,
) -> AssignPlan:
    """Optimal assignment of the tasks to the pool (most urgent first), see the module docstring.

    ``excluded`` (n_tasks, n_workers) bool: pairs refused whatever else holds (a worker who rejected or
    lost the task before).

    Tasks with fewer than ``min_eligible`` eligible workers get rule scores (``few_eligible``)."""
    n, m = len(tasks), len(pool)
    avail = availability if availability is not None else live_only(pool.on_shift)
    types = [t.task_type for t in tasks]
    provinces = [t.province_id for t in tasks]
    elig, per_task = eligibility_matrix(
        pool, types, provinces, policy, requested=requested, on_shift=avail.on_shift
    )
    if excluded is not None:
        elig &= ~np.asarray(excluded, dtype=bool)
    capacity = effective_capacity(pool, policy)
    remaining = np.maximum(capacity - pool.open_tasks, 0)
    median = type_medians(types, pool, policy)
    to_sla = minutes_to_sla(tasks, now)
    overdue = to_sla < 0
    priority = urgency(to_sla, policy)
    left = avail.minutes_left
    exclude_late = policy.dispatch.shift_end == "exclude"
    late = np.zeros((n, m), dtype=bool)  # pairs excluded because the shift would end first
    codes = {p: i for i, p in enumerate(pool.provinces)}
    task_code = np.array([codes.get(t.province_id, -1) for t in tasks], dtype=np.int64)
    cross = task_code[:, None] != pool.province_code[None, :]

    if int(elig.sum()) <= full_scoring_pairs:
        cand = elig.copy()
        prior_cost = None
    else:
        prior_cost = _prior_costs(types, pool, scorer, policy, capacity, median, to_sla, cross, left)
        cand = _top_candidates(np.where(elig, prior_cost, np.inf), candidates)

    mats = {k: np.full((n, m), np.nan) for k in SCORE_NAMES}
    args = (pool, capacity, median, to_sla, cross, policy, left)

    fallbacks: list[str] = []
    few = elig.sum(axis=1) < min_eligible if min_eligible else np.zeros(n, dtype=bool)

    def score(mask: np.ndarray) -> int:
        """Score the pairs of ``mask``; in exclude mode drop those the shift's end would cut short."""
        got = _score_into(mats, mask & ~few[:, None], tasks, pool, scorer, now, fallbacks)
        if few.any():
            got += _score_into(mats, mask & few[:, None], tasks, pool, scorer, now, fallbacks, FEW_ELIGIBLE)
        if exclude_late:
            ti, wi = np.nonzero(mask)
            over = _slot_costs(mats, wi, np.zeros(len(ti), dtype=np.int64), *args, rows=ti).shift_overrun > 0
            mask[ti[over], wi[over]] = False
            late[ti[over], wi[over]] = True
        return got

    reference = np.zeros(n)

    def slot_cost(rows: np.ndarray, cols: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return _slot_costs(mats, cols, slots, *args, rows=rows).total - reference[rows]

    scored = score(cand)
    more_tasks_than_slots = n > int(remaining[cand.any(axis=0)].sum())  # which tasks go now?
    if more_tasks_than_slots and policy.dispatch.task_choice == "advantage" and (cand.sum(axis=1) >= 2).all():
        reference = _task_reference(mats, cand, args)
    result = solve_assignment(slot_cost, cand, remaining, priority)
    if prior_cost is not None:
        stuck = np.array([r == CAPACITY for r in result.unassigned_reason])
        if stuck.any():
            used = np.bincount(result.worker[result.worker >= 0], minlength=m)
            room = elig & (remaining - used > 0)[None, :] & ~cand & ~late & stuck[:, None]
            extra = _top_candidates(np.where(room, prior_cost, np.inf), candidates)
            if extra.any():
                scored += score(extra)
                cand |= extra
                result = solve_assignment(slot_cost, cand, remaining, priority)

    done = np.flatnonzero(result.worker >= 0)
    w, k = result.worker[done], result.slot[done]
    final = _slot_costs(mats, w, k, *args, rows=done)
    parts = {p: np.full(n, np.nan) for p in PARTS}
    picked = {name: np.full(n, np.nan) for name in mats}
    for p in PARTS:
        parts[p][done] = final.parts[p]
    for name, mat in mats.items():
        picked[name][done] = mat[done, w]
    return AssignPlan(
        result,
        per_task,
        overdue,
        priority,
        late.sum(axis=1),
        avail,
        parts,
        picked["minutes"],
        picked["p_qa_pass"],
        picked["p_complaint"],
        scored,
        _first_fault(fallbacks),
    )


def _task_reference(mats: dict[str, np.ndarray], cand: np.ndarray, args: tuple) -> np.ndarray:
    """Each task's mean first-slot cost over its scored candidates: what a typical candidate would cost.
    With more tasks than slots, cost minus it chooses the tasks served now by comparative advantage (the
    tasks these workers are relatively best at), not the cheapest ones; a task with one candidate has no
    comparison, so the choice stays on cost unless every task has two or more."""
    ti, wi = np.nonzero(cand)
    out = np.zeros(cand.shape[0])
    if len(ti):
        costs = _slot_costs(mats, wi, np.zeros(len(ti), dtype=np.int64), *args, rows=ti).total
        sums = np.bincount(ti, weights=costs, minlength=cand.shape[0])
        counts = np.bincount(ti, minlength=cand.shape[0])
        out = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return out


def _first_fault(fallbacks: list[str]) -> str | None:
    """The reason to report for a batch: a fault before the small-pool guard, else the guard."""
    faults = [f for f in fallbacks if f != FEW_ELIGIBLE]
    return faults[0] if faults else (fallbacks[0] if fallbacks else None)


def _score_into(
    mats: dict[str, np.ndarray],
    mask: np.ndarray,
    tasks: Sequence[TaskRecord],
    pool: WorkerPool,
    scorer: Scorer,
    now: datetime,
    fallbacks: list[str],
    rules: str | None = None,
) -> int:
    """Model scores (rule scores when the models fail, reason appended to ``fallbacks``) into ``mats``;
    ``rules``: rule scores for this reason, without asking the models."""
    ti, wi = np.nonzero(mask)
    if len(ti):
        fallback: str | None = rules
        if rules:
            scores = rule_scores(scorer, tasks, pool, ti, wi)
        else:
            scores, fallback = guarded_scores(scorer, tasks, pool, ti, wi, now)
        if fallback:
            fallbacks.append(fallback)
        for name in SCORE_NAMES:
            mats[name][ti, wi] = getattr(scores, name)
    return len(ti)


def _slot_costs(
    mats: dict[str, np.ndarray],
    cols: np.ndarray,
    slots: np.ndarray,
    pool: WorkerPool,
    capacity: np.ndarray,
    median: np.ndarray,
    to_sla: np.ndarray,
    cross: np.ndarray,
    policy: Policy,
    minutes_left: np.ndarray,
    *,
    rows: np.ndarray,
) -> PairCosts:
    """Costs of giving task rows[i] to worker cols[i] as its slots[i]-th extra task."""
    return policy_costs(
        PairScores(
            mats["minutes"][rows, cols], mats["p_qa_pass"][rows, cols], mats["p_complaint"][rows, cols]
        ),
        policy,
        type_median=median[rows],
        open_tasks=pool.open_tasks[cols] + slots,
        capacity=capacity[cols],
        cross_province=cross[rows, cols],
        minutes_to_sla=to_sla[rows],
        minutes_left=minutes_left[cols],
    )


def _prior_costs(
    types: Sequence[str],
    pool: WorkerPool,
    scorer: Scorer,
    policy: Policy,
    capacity: np.ndarray,
    median: np.ndarray,
    to_sla: np.ndarray,
    cross: np.ndarray,
    minutes_left: np.ndarray,
) -> np.ndarray:
    prior = scorer.prior(sorted(set(types)), pool)
    out = np.empty(cross.shape)
    type_arr = np.array(types, dtype=object)
    for t, scores in prior.items():
        rows = np.flatnonzero(type_arr == t)
        out[rows] = policy_costs(
            _indexed(scores, (None, slice(None))),
            policy,
            type_median=median[rows][:, None],
            open_tasks=pool.open_tasks[None, :],
            capacity=capacity[None, :],
            cross_province=cross[rows],
            minutes_to_sla=to_sla[rows][:, None],
            minutes_left=minutes_left[None, :],
        ).total
    return out


def _top_candidates(cost: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` cheapest finite entries of each row."""
    n, m = cost.shape
    mask = np.zeros((n, m), dtype=bool)
    if m == 0:
        return mask
    k = min(k, m)
    part = np.argpartition(cost, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(n), k)
    cols = part.ravel()
    mask[rows, cols] = np.isfinite(cost[rows, cols])
    return mask
