"""Which workers may take a task: a vectorised mask over the whole pool, with exclusion reasons.

A worker is eligible for a task of type T in province A when, in this order of checks:
``not_requested`` the request did not restrict the pool away from the worker; ``inactive`` the worker
is active; ``province_closed`` the worker's province is not in emergency close (its workers leave the
pool); ``province_not_sharing`` the worker sits in A, or A shares out (always true when A is closed:
its tasks must go elsewhere) and the worker's province shares in; ``skill`` the declared level for T
is at least the policy's minimum; ``off_shift`` the worker is available (``serving.matching.roster``: a fresh
live status, else the roster); ``at_capacity`` open tasks are below the capacity. Each excluded worker
is counted under the first check it fails. ``shift_end`` is applied after scoring (it needs the
predicted minutes, see ``serving.matching.ranking``): the task would not be finished before the shift ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from serving.config import Policy
from serving.matching.roster import Availability, live_only, resolve
from serving.protocols import WorkerPool

REASONS: tuple[str, ...] = (
    "not_requested",
    "inactive",
    "province_closed",
    "province_not_sharing",
    "skill",
    "off_shift",
    "at_capacity",
    "shift_end",
)
ELIGIBLE = -1
SHIFT_END = REASONS.index("shift_end")


@dataclass(frozen=True)
class ProvinceRules:
    """Sharing flags per province of the pool (aligned with ``pool.provinces``)."""

    share_in: np.ndarray
    share_out: np.ndarray
    closed: np.ndarray


@dataclass(frozen=True)
class Eligibility:
    """Mask over the pool, each worker's first failing reason (index into REASONS, -1 if eligible)."""

    mask: np.ndarray
    reason: np.ndarray

    def counts(self) -> dict[str, int]:
        """Excluded workers by first failing reason (every reason present, zeros included)."""
        excluded = self.reason[self.reason >= 0]
        bins = np.bincount(excluded, minlength=len(REASONS))
        return {name: int(bins[i]) for i, name in enumerate(REASONS)}

    def exclude(self, workers: np.ndarray, reason: int) -> Eligibility:
        """A copy with the eligible ``workers`` (pool indices) excluded for ``reason``."""
        rows = np.asarray(workers, dtype=np.int64)
        rows = rows[self.mask[rows]]
        mask, why = self.mask.copy(), self.reason.copy()
        mask[rows], why[rows] = False, reason
        return Eligibility(mask=mask, reason=why)


def pool_availability(pool: WorkerPool, now: datetime, ttl_seconds: float) -> Availability:
    """Who is available at ``now``: the pool's live status while fresh, else its roster."""
    if pool.roster is None and pool.status_at is None:
        return live_only(pool.on_shift)
    return resolve(now, pool.on_shift, pool.status_at, pool.roster, ttl_seconds)


def province_rules(policy: Policy, provinces: Sequence[str]) -> ProvinceRules:
    """Sharing flags of each province as arrays."""
    sharing = [policy.sharing(p) for p in provinces]
    return ProvinceRules(
        share_in=np.array([s.share_in for s in sharing], dtype=bool),
        share_out=np.array([s.share_out for s in sharing], dtype=bool),
        closed=np.array([s.closed for s in sharing], dtype=bool),
    )


def effective_capacity(pool: WorkerPool, policy: Policy) -> np.ndarray:
    """Concurrent open-task limit of each worker (the policy's cap, if any, applies on top)."""
    if policy.max_open_tasks is None:
        return pool.capacity
    return np.minimum(pool.capacity, policy.max_open_tasks)


def eligible_workers(
    pool: WorkerPool,
    task_type: str,
    task_province: str,
    policy: Policy,
    *,
    rules: ProvinceRules | None = None,
    capacity: np.ndarray | None = None,
    requested: np.ndarray | None = None,
    on_shift: np.ndarray | None = None,
) -> Eligibility:
    """Eligibility of every worker of the pool for one task.

    ``requested`` (bool mask) restricts the pool to the workers a request names or filters on.
    ``rules`` and ``capacity`` may be precomputed once per request (see :func:`province_rules`).
    ``on_shift`` is the availability to use (:func:`pool_availability`; default: the pool's flags).
    """
    m = len(pool)
    rules = rules or province_rules(policy, pool.provinces)
    capacity = effective_capacity(pool, policy) if capacity is None else capacity
    task_sharing = policy.sharing(task_province)
    task_out = task_sharing.share_out or task_sharing.closed
    same = pool.province_ids == task_province
    wcode = pool.province_code
    try:
        levels = pool.skills[:, pool.type_column(task_type)]
    except ValueError:
        levels = np.zeros(m, dtype=np.int16)
    required = policy.min_skill_level.get(task_type, 1)  # type: ignore[call-overload]
    failing = (
        np.zeros(m, dtype=bool) if requested is None else ~np.asarray(requested, dtype=bool),
        ~pool.active,
        rules.closed[wcode] if m else np.zeros(0, dtype=bool),
        ~same & ~(task_out & rules.share_in[wcode]) if m else np.zeros(0, dtype=bool),
        levels < required,
        ~(pool.on_shift if on_shift is None else np.asarray(on_shift, dtype=bool)),
        pool.open_tasks >= capacity,
    )
    reason = np.full(m, ELIGIBLE, dtype=np.int8)
    for i in range(len(failing) - 1, -1, -1):
        reason[failing[i]] = i
    return Eligibility(mask=reason == ELIGIBLE, reason=reason)


def eligibility_matrix(
    pool: WorkerPool,
    task_types: Sequence[str],
    task_provinces: Sequence[str],
    policy: Policy,
    *,
    requested: np.ndarray | None = None,
    on_shift: np.ndarray | None = None,
) -> tuple[np.ndarray, list[Eligibility]]:
    """Masks for many tasks at once, shape (n_tasks, n_workers); computed once per (type, province)."""
    rules = province_rules(policy, pool.provinces)
    capacity = effective_capacity(pool, policy)
    groups: dict[tuple[str, str], Eligibility] = {}
    out = np.zeros((len(task_types), len(pool)), dtype=bool)
    per_task: list[Eligibility] = []
    for i, key in enumerate(zip(task_types, task_provinces, strict=True)):
        if key not in groups:
            groups[key] = eligible_workers(
                pool,
                key[0],
                key[1],
                policy,
                rules=rules,
                capacity=capacity,
                requested=requested,
                on_shift=on_shift,
            )
        out[i] = groups[key].mask
        per_task.append(groups[key])
    return out, per_task


def with_load(pool: WorkerPool, held: Mapping[str, int]) -> WorkerPool:
    """The pool with each worker's open tasks at least the assignments in force it holds (a worker's
    last status report may predate the assignments the lifecycle has made to it since)."""
    if not held:
        return pool
    extra = np.array([held.get(str(w), 0) for w in pool.worker_ids], dtype=np.int64)
    return dataclasses.replace(pool, open_tasks=np.maximum(pool.open_tasks, extra))
