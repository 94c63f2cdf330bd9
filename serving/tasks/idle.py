"""``/assign`` when nobody can take anything (the night on the wall clock): the answer without scoring.

With no worker available (none on shift and active among those requested), every task is unassigned for
``no_eligible_worker`` whatever the models say, so the tasks are neither scored nor planned: the answer
is the counts (by reason, and the workers excluded by reason) and a page of examples, in milliseconds
(it scored every task first and listed every one, 4.5 s and 530 KB for 3,441 tasks at night).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from serving.api import schemas as s
from serving.config import Policy
from serving.matching.eligibility import REASONS
from serving.matching.ranking import urgency
from serving.matching.roster import Availability
from serving.matching.urgency import NEAR_SLA
from serving.protocols import TaskRecord, WorkerPool
from serving.tasks.plan import URGENCY


def available(pool: WorkerPool, avail: Availability, requested: np.ndarray | None) -> np.ndarray:
    """Workers who could take a task now (before skills, provinces and capacity)."""
    mask = np.asarray(avail.on_shift, dtype=bool) & np.asarray(pool.active, dtype=bool)
    return mask if requested is None else mask & requested


def excluded_when_idle(pool: WorkerPool, avail: Availability, requested: np.ndarray | None) -> dict[str, int]:
    """The workers by the first reason that excludes them (every task alike when nobody is available)."""
    considered = np.ones(len(pool), dtype=bool) if requested is None else requested
    inactive = considered & ~np.asarray(pool.active, dtype=bool)
    off = considered & ~inactive & ~np.asarray(avail.on_shift, dtype=bool)
    got = {
        "not_requested": int((~considered).sum()),
        "inactive": int(inactive.sum()),
        "off_shift": int(off.sum()),
    }
    return {k: v for k, v in got.items() if v and k in REASONS}


def idle_answer(
    tasks: Sequence[TaskRecord],
    pool: WorkerPool,
    avail: Availability,
    requested: np.ndarray | None,
    now: datetime,
    policy: tuple[int, Policy],
    versions: dict[str, str],
    limit: int,
) -> s.AssignResponse:
    """Every task unassigned for ``no_eligible_worker``, counted; only the first ``limit`` are built and
    listed (the call took 333 ms of CPU on default's 3,660 waiting at night building every row)."""
    version, rules = policy
    left = np.array([(t.sla_due_at - now).total_seconds() / 60.0 for t in tasks], dtype=float)
    level = urgency(left, rules)
    excluded = excluded_when_idle(pool, avail, requested)
    unassigned = [
        s.Unassigned(
            task_id=t.task_id,
            task_province_id=t.province_id,
            overdue=bool(left[i] < 0),
            urgency=URGENCY[int(level[i])],
            reason="no_eligible_worker",
            excluded=excluded,  # type: ignore[arg-type]
        )
        for i, t in enumerate(tasks[:limit])
    ]
    return s.AssignResponse(
        as_of=now,
        assignments=[],
        unassigned=unassigned,
        objective=0.0,
        n_tasks=len(tasks),
        n_assigned=0,
        n_overdue=int((left < 0).sum()),
        n_overdue_assigned=0,
        n_near_sla=int((level == NEAR_SLA).sum()),
        n_near_sla_assigned=0,
        availability=avail.counts(requested),
        closed_provinces=sorted(rules.closed_provinces()),
        moved_from_closed=0,
        scored_pairs=0,
        solver_iterations=0,
        policy_version=version,
        model_versions=versions,
        n_unassigned=len(tasks),
        unassigned_counts={"no_eligible_worker": len(tasks)} if tasks else {},
    )


def paged(out: s.AssignResponse, limit: int) -> s.AssignResponse:
    """``out`` with the unassigned counted by reason and listed up to ``limit`` (SLA order kept)."""
    counts: dict[str, int] = {}
    for u in out.unassigned:
        counts[u.reason] = counts.get(u.reason, 0) + 1
    return out.model_copy(
        update={
            "n_unassigned": len(out.unassigned),
            "unassigned_counts": counts,
            "unassigned": out.unassigned[:limit],
        }
    )
