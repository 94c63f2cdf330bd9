"""The baseline arms of a switchback experiment, pure: how the old ways would dispatch the same batch.

Both take the tasks oldest first (creation time, then id) and give each to one eligible worker with
room left (eligibility as ``serving.matching.eligibility``: the same skills, sharing, close and availability):

- ``least_busy`` (national skills-based routing): the eligible worker with the lowest load ratio
  (open tasks / capacity), then the fewest open tasks, then pool order (``opsmatch.least_busy``, the
  rule the twin's ``national_least_busy`` uses too);
- ``fifo`` (province-local FIFO): the same choice among the workers of the task's own province only
  (a task of a province in emergency close has no local worker eligible: it stays unassigned).

They read no model: what ``/assign`` returns under the baseline arm (``switchback.arm_at``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from opsmatch.least_busy import least_busy
from serving.protocols import TaskRecord, WorkerPool

BASELINE_ARMS: tuple[str, ...] = ("least_busy", "fifo")


def baseline_assign(
    arm: str,
    tasks: Sequence[TaskRecord],
    pool: WorkerPool,
    eligible: np.ndarray,
    capacity: np.ndarray,
) -> np.ndarray:
    """Worker (pool index, -1 if none) of each task under the baseline ``arm``.

    ``eligible`` is the (n_tasks, n_workers) mask of ``eligibility_matrix``; ``capacity`` each worker's
    concurrent limit (``effective_capacity``)."""
    if arm not in BASELINE_ARMS:
        raise ValueError(f"unknown baseline arm {arm!r}; one of {', '.join(BASELINE_ARMS)}")
    eligible = np.asarray(eligible, dtype=bool)
    if eligible.shape != (len(tasks), len(pool)):
        raise ValueError(f"eligible has shape {eligible.shape}, expected {(len(tasks), len(pool))}")
    open_ = pool.open_tasks.astype(np.int64).copy()
    cap = np.maximum(np.asarray(capacity, dtype=np.int64), 1)
    out = np.full(len(tasks), -1, dtype=np.int64)
    order = sorted(range(len(tasks)), key=lambda i: (tasks[i].created_at, tasks[i].task_id))
    for i in order:
        ok = eligible[i] & (open_ < cap)
        if arm == "fifo":
            ok &= pool.province_ids == tasks[i].province_id
        cand = np.flatnonzero(ok)
        if not len(cand):
            continue
        best = least_busy(cand, open_, cap)
        out[i] = best
        open_[best] += 1
    return out
