"""Exact min-cost assignment of pending tasks to workers under capacity, with overdue tasks first.

The problem: each task goes to at most one eligible worker, worker w takes at most ``remaining[w]``
tasks, and the k-th task a worker takes costs ``slot_cost(t, w, k)`` (non-decreasing in k: more load,
later finish). Objective, lexicographic: assign as many tasks of the highest priority level as
possible, then of the next level, ..., then minimise the total cost.

Solved exactly as a sparse minimum-weight bipartite matching (``scipy.sparse.csgraph.
min_weight_full_bipartite_matching``, LAPJVsp) on a slot expansion: worker w offers ``s_w`` slot
columns (w, 0..s_w-1), an edge joins a task to each slot of each worker it is eligible for, and
every task has its own "unassigned" column whose cost is a penalty large enough to make the
priorities lexicographic. Offering all ``remaining[w]`` slots up
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
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

NO_ELIGIBLE = "no_eligible_worker"
CAPACITY = "capacity_exhausted"
MAX_PRIORITY_LEVELS = 3

SlotCost = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``slot_cost(tasks, workers, slots)`` -> cost of giving ``tasks[i]`` to ``workers[i]`` as that
worker's ``slots[i]``-th extra task (only asked for eligible pairs; must be finite there)."""


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


def _within(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def solve_assignment(
    slot_cost: SlotCost,
    eligible: np.ndarray,
    remaining: np.ndarray,
    priority: np.ndarray | None = None,
    *,
    initial_slots: int = 1,
) -> AssignmentResult:
    """Solve the capacitated assignment exactly (see the module docstring).

    ``eligible`` (n_tasks, n_workers) bool says which pairs may be used; ``remaining`` (n_workers,)
    is how many more tasks each worker may take; ``priority`` (n_tasks,) int, higher first (e.g. 1
    for overdue tasks, 0 otherwise). Only eligible pairs become edges, so the work follows the
    number of eligible pairs (the candidate graph), not tasks × workers.
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

    n_rows = len(rows)
    edge_t, edge_w = np.nonzero(usable[np.ix_(rows, cols)])  # candidate pairs (local indices)
    sub_remaining = remaining[cols]
    offered = np.minimum(sub_remaining, max(1, initial_slots))
    iterations = 0
    while True:
        iterations += 1
        first_col = np.cumsum(offered) - offered  # column of slot 0 of each worker
        n_cols = int(offered.sum())
        reps = offered[edge_w]
        e_t, e_w = np.repeat(edge_t, reps), np.repeat(edge_w, reps)
        e_k = _within(reps)
        costs = np.asarray(slot_cost(rows[e_t], cols[e_w], e_k), dtype=float)
        if not np.isfinite(costs).all():
            raise ValueError("slot_cost must be finite on every eligible pair")
        low, high = float(costs.min()), float(costs.max())
        penalty = _penalties(priority[rows], n_rows, high - low + 1.0)
        graph = sparse.csr_matrix(
            (
                np.concatenate([costs - low + 1.0, penalty]),  # weights >= 1: no zero-weight edges
                (
                    np.concatenate([e_t, np.arange(n_rows)]),
                    np.concatenate([first_col[e_w] + e_k, n_cols + np.arange(n_rows)]),
                ),
            ),
            shape=(n_rows, n_cols + n_rows),
        )
        r, c = min_weight_full_bipartite_matching(graph)
        col_worker = np.repeat(np.arange(len(cols)), offered)
        real = c < n_cols
        used = np.bincount(col_worker[c[real]], minlength=len(cols))
        grow = (used >= offered) & (offered < sub_remaining)
        if not grow.any():
            break
        offered = np.where(grow, np.minimum(sub_remaining, offered * 2), offered)

    r_real, c_real = r[real], c[real]
    w_real = col_worker[c_real]
    k_real = c_real - first_col[w_real]
    t_real = rows[r_real]
    worker[t_real] = cols[w_real]
    slot[t_real] = k_real
    cost[t_real] = np.asarray(slot_cost(t_real, cols[w_real], k_real), dtype=float)
    for t in rows[r[~real]]:
        reasons[t] = CAPACITY
    objective = float(np.nansum(cost))
    return AssignmentResult(worker, slot, cost, objective, reasons, iterations)
