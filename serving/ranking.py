"""Ranking one task and assigning a batch: eligibility -> model scores -> cost -> top-k / solver.

Functions here take the worker pool, the tasks and a scorer explicitly (no I/O of their own).
/assign scores every eligible pair when there are at most ``full_scoring_pairs`` of them; above, each
task keeps its ``candidates`` cheapest eligible workers by a profile prior (the scorer's per-type
estimates, no task features), the candidates get exact model scores, and the solver is exact on
that candidate graph; tasks left out for lack of capacity among their candidates get one more round
over the eligible workers that still have room.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from serving.assignment import CAPACITY, AssignmentResult, solve_assignment
from serving.config import Policy
from serving.cost import PARTS, PairCosts, pair_costs, reason_codes
from serving.eligibility import Eligibility, effective_capacity, eligibility_matrix, eligible_workers
from serving.fallback import guarded_scores
from serving.protocols import PairScores, Scorer, TaskRecord, WorkerPool

DEFAULT_MEDIAN_MINUTES = 30.0


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


@dataclass(frozen=True)
class RankResult:
    """Top workers for one task (indices into the pool) with their scores and costs."""

    eligibility: Eligibility
    workers: np.ndarray
    scores: PairScores
    costs: PairCosts
    reasons: list[list[str]]
    fallback: str | None = None  # why the models were not used (serving.fallback), None when they were


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
    min_eligible: int = 0,
) -> RankResult:
    """Rank the eligible workers for one task by cost.

    ``prescreen`` > 0 scores only the ``max(prescreen, ceil(prescreen_share * eligible))`` cheapest
    eligible workers by the profile prior with the models (all of them when there are no more).
    Fewer than ``min_eligible`` eligible workers, or models that fail: rule scores (``fallback``).
    """
    elig = eligible_workers(pool, task.task_type, task.province_id, policy, requested=requested)
    idx = np.flatnonzero(elig.mask)
    capacity = effective_capacity(pool, policy)
    median = type_medians([task.task_type], pool, policy)[0]
    to_sla = minutes_to_sla([task], now)[0]
    keep = max(prescreen, math.ceil(prescreen_share * len(idx))) if prescreen else 0
    if keep and len(idx) > keep:
        prior = scorer.prior([task.task_type], pool)[task.task_type]
        rough = _costs(prior, idx, task, pool, capacity, median, to_sla, policy, prior_indexed=True)
        idx = np.sort(idx[np.argpartition(rough.total, keep - 1)[:keep]])
    eligible = int(elig.mask.sum())
    zeros = np.zeros(len(idx), dtype=np.int64)
    scores, fallback = guarded_scores(
        scorer, [task], pool, zeros, idx, now, eligible=eligible, min_eligible=min_eligible
    )
    costs = _costs(scores, idx, task, pool, capacity, median, to_sla, policy)
    order = np.argsort(costs.total, kind="stable")[:top_k]
    chosen_scores, chosen_costs = scores.take(order), costs.take(order)
    workers = idx[order]
    reasons = [
        reason_codes(
            minutes_ratio=float(chosen_costs.minutes_ratio[i]),
            p_qa_pass=float(chosen_scores.p_qa_pass[i]),
            p_complaint=float(chosen_scores.p_complaint[i]),
            cross_province=bool(pool.province_ids[w] != task.province_id),
            load_ratio=float(chosen_costs.load_ratio[i]),
            sla_overrun=float(chosen_costs.sla_overrun[i]),
        )
        for i, w in enumerate(workers)
    ]
    return RankResult(elig, workers, chosen_scores, chosen_costs, reasons, fallback)


def _costs(
    scores: PairScores,
    idx: np.ndarray,
    task: TaskRecord,
    pool: WorkerPool,
    capacity: np.ndarray,
    median: float,
    to_sla: float,
    policy: Policy,
    *,
    prior_indexed: bool = False,
) -> PairCosts:
    pick = (lambda a: np.asarray(a)[idx]) if prior_indexed else np.asarray
    return pair_costs(
        minutes=pick(scores.minutes),
        p_qa_pass=pick(scores.p_qa_pass),
        p_complaint=pick(scores.p_complaint),
        type_median=median,
        open_tasks=pool.open_tasks[idx],
        capacity=capacity[idx],
        cross_province=pool.province_ids[idx] != task.province_id,
        minutes_to_sla=to_sla,
        weights=policy.weights,
        sla_cap=policy.sla_cap,
    )


@dataclass(frozen=True)
class AssignPlan:
    """Solver result plus what is needed to report it."""

    result: AssignmentResult
    eligibility: list[Eligibility]
    overdue: np.ndarray
    parts: dict[str, np.ndarray]
    minutes: np.ndarray
    p_qa_pass: np.ndarray
    p_complaint: np.ndarray
    scored_pairs: int
    fallback: str | None = None  # why the models were not used for some pairs (serving.fallback)


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
) -> AssignPlan:
    """Optimal assignment of the tasks to the pool (overdue tasks first), see the module docstring."""
    n, m = len(tasks), len(pool)
    types = [t.task_type for t in tasks]
    provinces = [t.province_id for t in tasks]
    elig, per_task = eligibility_matrix(pool, types, provinces, policy, requested=requested)
    capacity = effective_capacity(pool, policy)
    remaining = np.maximum(capacity - pool.open_tasks, 0)
    median = type_medians(types, pool, policy)
    to_sla = minutes_to_sla(tasks, now)
    overdue = to_sla < 0
    codes = {p: i for i, p in enumerate(pool.provinces)}
    task_code = np.array([codes.get(t.province_id, -1) for t in tasks], dtype=np.int64)
    cross = task_code[:, None] != pool.province_code[None, :]

    if int(elig.sum()) <= full_scoring_pairs:
        cand = elig.copy()
        prior_cost = None
    else:
        prior_cost = _prior_costs(types, pool, scorer, policy, capacity, median, to_sla, cross)
        cand = _top_candidates(np.where(elig, prior_cost, np.inf), candidates)

    mats = {k: np.full((n, m), np.nan) for k in ("minutes", "p_qa_pass", "p_complaint")}
    reasons: list[str] = []
    scored = _score_into(mats, cand, tasks, pool, scorer, now, reasons)

    def slot_cost(rows: np.ndarray, cols: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return _slot_costs(mats, cols, slots, pool, capacity, median, to_sla, cross, policy, rows=rows).total

    result = solve_assignment(slot_cost, cand, remaining, overdue.astype(np.int64))
    if prior_cost is not None:
        stuck = np.array([r == CAPACITY for r in result.unassigned_reason])
        if stuck.any():
            used = np.bincount(result.worker[result.worker >= 0], minlength=m)
            room = elig & (remaining - used > 0)[None, :] & ~cand & stuck[:, None]
            extra = _top_candidates(np.where(room, prior_cost, np.inf), candidates)
            if extra.any():
                scored += _score_into(mats, extra, tasks, pool, scorer, now, reasons)
                cand |= extra
                result = solve_assignment(slot_cost, cand, remaining, overdue.astype(np.int64))

    done = np.flatnonzero(result.worker >= 0)
    w, k = result.worker[done], result.slot[done]
    final = _slot_costs(mats, w, k, pool, capacity, median, to_sla, cross, policy, rows=done)
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
        parts,
        picked["minutes"],
        picked["p_qa_pass"],
        picked["p_complaint"],
        scored,
        reasons[0] if reasons else None,
    )


def _score_into(
    mats: dict[str, np.ndarray],
    mask: np.ndarray,
    tasks: Sequence[TaskRecord],
    pool: WorkerPool,
    scorer: Scorer,
    now: datetime,
    fallbacks: list[str],
) -> int:
    ti, wi = np.nonzero(mask)
    if len(ti):
        scores, fallback = guarded_scores(scorer, tasks, pool, ti, wi, now)
        if fallback:
            fallbacks.append(fallback)
        mats["minutes"][ti, wi] = scores.minutes
        mats["p_qa_pass"][ti, wi] = scores.p_qa_pass
        mats["p_complaint"][ti, wi] = scores.p_complaint
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
    *,
    rows: np.ndarray,
) -> PairCosts:
    """Costs of giving task rows[i] to worker cols[i] as its slots[i]-th extra task."""
    return pair_costs(
        minutes=mats["minutes"][rows, cols],
        p_qa_pass=mats["p_qa_pass"][rows, cols],
        p_complaint=mats["p_complaint"][rows, cols],
        type_median=median[rows],
        open_tasks=pool.open_tasks[cols] + slots,
        capacity=capacity[cols],
        cross_province=cross[rows, cols],
        minutes_to_sla=to_sla[rows],
        weights=policy.weights,
        sla_cap=policy.sla_cap,
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
) -> np.ndarray:
    prior = scorer.prior(sorted(set(types)), pool)
    out = np.empty(cross.shape)
    type_arr = np.array(types, dtype=object)
    for t, scores in prior.items():
        rows = np.flatnonzero(type_arr == t)
        out[rows] = pair_costs(
            minutes=np.asarray(scores.minutes)[None, :],
            p_qa_pass=np.asarray(scores.p_qa_pass)[None, :],
            p_complaint=np.asarray(scores.p_complaint)[None, :],
            type_median=median[rows][:, None],
            open_tasks=pool.open_tasks[None, :],
            capacity=capacity[None, :],
            cross_province=cross[rows],
            minutes_to_sla=to_sla[rows][:, None],
            weights=policy.weights,
            sla_cap=policy.sla_cap,
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
