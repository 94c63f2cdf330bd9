"""Exact min-cost assignment of pending tasks to workers under capacity, with overdue tasks first.

The problem: each task goes to at most one eligible worker, worker w takes at most ``remaining[w]``
tasks, and the k-th task a worker takes costs ``slot_cost(t, w, k)`` (non-decreasing in k: more load,
later finish). Objective, lexicographic: assign as many tasks of the highest priority level as
possible, then of the next level, ..., then minimise the total cost.

Solved exactly with ``scipy.optimize.linear_sum_assignment`` on a slot expansion: worker w offers
``s_w`` slot columns (w, 0..s_w-1), every task has its own "unassigned" column whose cost is a
penalty large enough to make the priorities lexicographic. Offering all ``remaining[w]`` slots up
front would be huge (2,000 workers × 40 open tasks), so slots start at ``initial_slots`` and are
doubled only for the workers whose offered slots are all used. The solution is optimal for the full
problem when every worker either offers all its remaining slots or leaves one unused: an unused
column has dual value 0, and every omitted slot (w, k) costs at least as much as the unused slot of w
for every task, so it prices out (LP duality of the assignment polytope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

NO_ELIGIBLE = "no_eligible_worker"
CAPACITY = "capacity_exhausted"
MAX_PRIORITY_LEVELS = 3

SlotCost = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``slot_cost(workers, slots)`` -> (n_tasks, len(workers)) costs of the (worker, slot) columns;
``np.inf`` where a task may not go to the worker."""


@dataclass(frozen=True)
class AssignmentResult:
    """Worker (or -1) and slot of each task, its cost, and why unassigned tasks are."""

    worker: np.ndarray
    slot: np.ndarray
    cost: np.ndarray
    objective: float
    unassigned_reason: list[str | None]
    iterations: int

    @property
    def n_assigned(self) -> int:
        return int((self.worker >= 0).sum())


def _penalties(priority: np.ndarray, n: int, span: float) -> np.ndarray:
    """Unassigned penalty per task: one more task of level l outweighs any change below it."""
    base = n * span + 1.0
    level = np.clip(priority, 0, MAX_PRIORITY_LEVELS - 1).astype(float)
    return base * (n + 1.0) ** level


def solve_assignment(
    slot_cost: SlotCost,
    eligible: np.ndarray,
    remaining: np.ndarray,
    priority: np.ndarray | None = None,
    *,
    initial_slots: int = 1,
) -> AssignmentResult:
    """Solve the capacitated assignment exactly (see the module docstring).

    ``eligible`` (n_tasks, n_workers) bool says which pairs may be used (``slot_cost`` must be
    finite there); ``remaining`` (n_workers,) is how many more tasks each worker may take;
    ``priority`` (n_tasks,) int, higher first (e.g. 1 for overdue tasks, 0 otherwise).
    """
    eligible = np.asarray(eligible, dtype=bool)
    n, m = eligible.shape
    remaining = np.maximum(np.asarray(remaining, dtype=np.int64), 0)
    priority = np.zeros(n, dtype=np.int64) if priority is None else np.asarray(priority, dtype=np.int64)
    if priority.shape != (n,) or remaining.shape != (m,):
        raise ValueError("priority must have one entry per task and remaining one per worker")
    worker = np.full(n, -1, dtype=np.int64)
    slot = np.full(n, -1, dtype=np.int64)
    cost = np.full(n, np.nan)
    reasons: list[str | None] = [NO_ELIGIBLE if not eligible[t].any() else None for t in range(n)]

    usable = eligible & (remaining > 0)[None, :]
    rows = np.flatnonzero(usable.any(axis=1))
    cols = np.flatnonzero(usable.any(axis=0))
    for t in np.flatnonzero(eligible.any(axis=1) & ~usable.any(axis=1)):
        reasons[t] = CAPACITY
    if len(rows) == 0:
        return AssignmentResult(worker, slot, cost, 0.0, reasons, 0)

    sub_eligible = usable[np.ix_(rows, cols)]
    sub_remaining = remaining[cols]
    offered = np.minimum(sub_remaining, max(1, initial_slots))
    iterations = 0
    while True:
        iterations += 1
        col_worker = np.repeat(np.arange(len(cols)), offered)
        col_slot = np.concatenate([np.arange(k) for k in offered])
        block = np.asarray(slot_cost(cols[col_worker], col_slot), dtype=float)[rows]
        block = np.where(sub_eligible[:, col_worker], block, np.inf)
        finite = np.isfinite(block)
        if not finite[sub_eligible[:, col_worker]].all():
            raise ValueError("slot_cost must be finite on every eligible pair")
        low, high = float(block[finite].min()), float(block[finite].max())
        shifted = block - low
        penalty = _penalties(priority[rows], len(rows), high - low + 1.0)
        dummy = np.full((len(rows), len(rows)), np.inf)
        np.fill_diagonal(dummy, penalty)
        r, c = linear_sum_assignment(np.hstack([shifted, dummy]))
        real = c < len(col_worker)
        used = np.bincount(col_worker[c[real]], minlength=len(cols))
        grow = (used >= offered) & (offered < sub_remaining)
        if not grow.any():
            break
        offered = np.where(grow, np.minimum(sub_remaining, offered * 2), offered)

    for i, j in zip(r, c, strict=True):
        t = rows[i]
        if j < len(col_worker):
            worker[t] = cols[col_worker[j]]
            slot[t] = col_slot[j]
            cost[t] = block[i, j]
        else:
            reasons[t] = CAPACITY
    objective = float(np.nansum(cost))
    return AssignmentResult(worker, slot, cost, objective, reasons, iterations)
