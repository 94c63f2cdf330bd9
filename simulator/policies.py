"""Dispatch policies: one interface, several strategies.

A policy reacts to three callbacks and acts only through ``view.assign(task, worker)``:

- ``on_task(view, task)``: a task became pending (it arrived, or was handed back at a shift end);
- ``on_worker_free(view, worker)``: a worker became idle (shift start, completion);
- ``on_tick(view)``: every ``tick_minutes`` if set (batch policies).

``view`` is a ``simulator.state.SimView``: indexes of idle eligible workers per (province, type) and
nationally, pending tasks per (province, type) and nationally (oldest first), loads and ``now``.
Two generic bases make learned policies pluggable without touching the engine: ``ScoringPolicy``
(subclass and implement ``cost`` for one task x candidate workers: a ranking model) and ``BatchPolicy``
(implement ``cost_matrix`` for pending tasks x idle workers: solved with scipy's assignment solver).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from opsmatch.least_busy import least_busy
from simulator.state import SimView


class Policy(ABC):
    """The dispatch-policy interface."""

    name: str = "policy"
    tick_minutes: float | None = None
    observes_transitions: bool = False  # True: the engine reports every task transition (on_transition)

    def start(self, view: SimView, rng: random.Random) -> None:
        """Called once before the replay with the policy's own seeded random stream."""
        self.rng = rng

    @abstractmethod
    def on_task(self, view: SimView, task: int) -> None:
        """A task became pending."""

    @abstractmethod
    def on_worker_free(self, view: SimView, worker: int) -> None:
        """A worker became idle."""

    def on_tick(self, view: SimView) -> None:  # noqa: B027 - optional hook
        """Periodic hook (only if ``tick_minutes`` is set)."""

    def on_transition(self, view: SimView, kind: str, task: int, worker: int) -> None:  # noqa: B027
        """A task's transition, when ``observes_transitions``: ``TRANSITIONS`` names the kinds."""


def oldest_for_worker(view: SimView, worker: int, province: int | None) -> int:
    """Oldest pending task the worker is eligible for (in ``province`` or nationally), or -1."""
    best, best_t = -1, 0.0
    created = view.task_created
    for k in view.worker_types[worker]:
        t = view.oldest_pending(k, province)
        if t >= 0 and (best < 0 or created[t] < best_t):
            best, best_t = t, created[t]
    return best


class LegacyPolicy(Policy):
    """Province-local FIFO (the old way). A new task goes to an idle eligible worker of its province,
    chosen uniformly at random with ``explore`` (the history policy: no confounding of worker effects),
    else the longest idle; a freed worker takes the oldest pending task of its province it is skilled for.
    """

    def __init__(self, explore: bool = True) -> None:
        self.explore = explore
        self.name = "legacy_fifo_explore" if explore else "legacy_fifo"

    def on_task(self, view: SimView, task: int) -> None:
        idle = view.idle_workers(view.task_type[task], view.task_province[task])
        if idle:
            if self.explore:
                w = idle[self.rng.randrange(len(idle))]
            else:
                since = view.worker_idle_since
                w = min(idle, key=lambda x: (since[x], x))
            view.assign(task, w)

    def on_worker_free(self, view: SimView, worker: int) -> None:
        t = oldest_for_worker(view, worker, view.worker_province[worker])
        if t >= 0:
            view.assign(t, worker)


class NationalLeastBusyPolicy(Policy):
    """National skills-based routing: the least busy idle eligible worker nationally (``opsmatch.least_busy``,
    the service's ``least_busy`` switchback arm: tasks this shift over the per-shift capacity, then the
    fewest tasks); a freed worker takes the oldest pending task nationally among its skills."""

    name = "national_least_busy"

    def on_task(self, view: SimView, task: int) -> None:
        k = view.task_type[task]
        idle = sorted(view.idle_workers(k))
        if idle:
            load = [view.worker_shift_done[w] + view.worker_load(w) for w in idle]
            capacity = [view.worker_capacity[w] for w in idle]
            best = least_busy(np.arange(len(idle)), np.array(load), np.array(capacity))
            view.assign(task, idle[best])

    def on_worker_free(self, view: SimView, worker: int) -> None:
        t = oldest_for_worker(view, worker, None)
        if t >= 0:
            view.assign(t, worker)


class ScoringPolicy(Policy):
    """Greedy ranking: a new task goes to the idle eligible candidate with the lowest ``cost``; a freed
    worker takes the task chosen by ``choose_task`` (default: the oldest eligible one).

    ``scope`` is ``"national"`` (candidates from every province) or ``"province"``.
    """

    name = "scoring"

    def __init__(self, scope: str = "national") -> None:
        if scope not in ("national", "province"):
            raise ValueError("scope must be 'national' or 'province'")
        self.scope = scope

    @abstractmethod
    def cost(self, view: SimView, task: int, workers: Sequence[int]) -> np.ndarray:
        """Cost of giving ``task`` to each of ``workers`` (lower is better)."""

    def choose_task(self, view: SimView, worker: int) -> int:
        """Task for a freed worker, or -1 to leave it idle."""
        scope = None if self.scope == "national" else view.worker_province[worker]
        return oldest_for_worker(view, worker, scope)

    def on_task(self, view: SimView, task: int) -> None:
        k = view.task_type[task]
        idle = view.idle_workers(k, None if self.scope == "national" else view.task_province[task])
        if idle:
            cands = list(idle)
            view.assign(task, cands[int(np.argmin(self.cost(view, task, cands)))])

    def on_worker_free(self, view: SimView, worker: int) -> None:
        t = self.choose_task(view, worker)
        if t >= 0:
            view.assign(t, worker)


class BatchPolicy(Policy):
    """Every ``every_minutes``, solve an assignment of pending tasks to idle workers that minimises the
    summed ``cost_matrix`` (np.inf = not allowed), with scipy's exact ``linear_sum_assignment``.
    At most ``max_tasks`` of the oldest pending tasks per type enter a solve."""

    name = "batch"
    _BIG = 1e12

    def __init__(self, every_minutes: float = 15.0, max_tasks: int = 400) -> None:
        self.tick_minutes = every_minutes
        self.max_tasks = max_tasks

    @abstractmethod
    def cost_matrix(self, view: SimView, tasks: list[int], workers: list[int]) -> np.ndarray:
        """[len(tasks), len(workers)] costs; np.inf where a pair is not allowed."""

    def on_task(self, view: SimView, task: int) -> None:
        """Tasks wait for the next solve."""

    def on_worker_free(self, view: SimView, worker: int) -> None:
        """Workers wait for the next solve."""

    def type_limit(self, view: SimView, task_type: int) -> int:
        """How many of the oldest pending tasks of ``task_type`` enter a solve."""
        return self.max_tasks

    def batch(self, view: SimView) -> tuple[list[int], list[int]]:
        """(idle workers, pending tasks of the types some idle worker can take) of one solve."""
        workers = view.all_idle()
        if not workers:
            return workers, []
        tasks = [
            t
            for k in range(view.n_types)
            if view.idle_workers(k)
            for t in view.pending_tasks(k, limit=self.type_limit(view, k))
        ]
        return workers, tasks

    def on_tick(self, view: SimView) -> None:
        workers, tasks = self.batch(view)
        if not tasks:
            return
        cost = self.cost_matrix(view, tasks, workers)
        allowed = np.isfinite(cost)
        rows, cols = linear_sum_assignment(np.where(allowed, cost, self._BIG))
        for r, c in zip(rows, cols, strict=True):
            if allowed[r, c]:
                view.assign(tasks[r], workers[c])
