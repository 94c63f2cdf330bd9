"""Live simulation state: ``SimState`` (what the engine changes) and ``SimView`` (what a policy reads).

Hot-path structures are plain Python lists, deques and index sets, maintained incrementally so that
policies never scan the whole workforce or backlog:

- idle workers per (province, type) and per type nationally (on shift, no open task, under capacity,
  skilled for the type);
- pending (unassigned) tasks per (province, type) and per type nationally, oldest first. Entries are
  (task, epoch): a task handed back at a shift end gets a new epoch, so older entries go stale and are
  dropped lazily when they reach the head.

Only the engine mutates a ``SimState``. A policy gets a ``SimView`` of it and acts only through
``SimView.assign``, which validates the request and hands it to the engine's dispatch function.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from simulator.facts import SimFacts

NOT_ARRIVED, PENDING, QUEUED, IN_SERVICE, DONE = range(5)
Dispatch = Callable[[int, int, str], None]  # (task, worker, label): commit an assignment


class IndexedSet:
    """A set of ints with O(1) add, remove, membership and uniform random choice."""

    __slots__ = ("items", "_pos")

    def __init__(self) -> None:
        self.items: list[int] = []
        self._pos: dict[int, int] = {}

    def add(self, x: int) -> None:
        if x not in self._pos:
            self._pos[x] = len(self.items)
            self.items.append(x)

    def discard(self, x: int) -> None:
        i = self._pos.pop(x, None)
        if i is not None:
            last = self.items.pop()
            if i < len(self.items):
                self.items[i] = last
                self._pos[last] = i

    def __contains__(self, x: int) -> bool:
        return x in self._pos

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[int]:
        return iter(self.items)


class SimState:
    """The dynamic state of a replay and the engine-side mutations that keep its indexes consistent."""

    def __init__(self, facts: SimFacts, experience: list[list[int]]) -> None:
        self.facts = facts
        # the facts the mutations read, bound once for the hot path
        self._worker_province, self._worker_types = facts.worker_province, facts.worker_types
        self._task_province, self._task_type = facts.task_province, facts.task_type
        self.now = 0.0
        n, n_workers = facts.n_tasks, facts.n_workers
        n_provinces, n_types = facts.n_provinces, facts.n_types
        self.task_state = [NOT_ARRIVED] * n
        self.task_epoch = [0] * n
        self.task_listed = [False] * n  # in the pending indexes
        self.task_worker = [-1] * n  # last worker assigned, or -1
        self.worker_on_shift = [False] * n_workers
        self.worker_busy = [-1] * n_workers  # task in service, or -1
        self.worker_shift_done = [0] * n_workers
        self.worker_experience = experience  # [W][K] tasks done so far
        self.worker_queue: list[deque[int]] = [deque() for _ in range(n_workers)]
        self.worker_idle = [False] * n_workers
        self.worker_idle_since = [0.0] * n_workers
        self.idle_by_province_type = [[IndexedSet() for _ in range(n_types)] for _ in range(n_provinces)]
        self.idle_by_type = [IndexedSet() for _ in range(n_types)]
        self.pending_by_province_type: list[list[deque[tuple[int, int]]]] = [
            [deque() for _ in range(n_types)] for _ in range(n_provinces)
        ]
        self.pending_by_type: list[deque[tuple[int, int]]] = [deque() for _ in range(n_types)]
        self.pending_count_by_province_type = [[0] * n_types for _ in range(n_provinces)]
        self.pending_count_by_type = [0] * n_types

    def mark_idle(self, worker: int) -> None:
        """List the worker as idle for each of its types."""
        self.worker_idle[worker] = True
        self.worker_idle_since[worker] = self.now
        by_type = self.idle_by_province_type[self._worker_province[worker]]
        for k in self._worker_types[worker]:
            by_type[k].add(worker)
            self.idle_by_type[k].add(worker)

    def mark_busy(self, worker: int) -> None:
        """Take the worker out of the idle indexes."""
        self.worker_idle[worker] = False
        by_type = self.idle_by_province_type[self._worker_province[worker]]
        for k in self._worker_types[worker]:
            by_type[k].discard(worker)
            self.idle_by_type[k].discard(worker)

    def make_pending(self, task: int) -> None:
        """The task is pending (assignable); it joins the indexes only via ``list_pending``."""
        self.task_state[task] = PENDING
        self.task_epoch[task] += 1

    def list_pending(self, task: int) -> None:
        """List a still-pending task in the pending indexes (after the policy's ``on_task``)."""
        if self.task_state[task] != PENDING or self.task_listed[task]:
            return
        self.task_listed[task] = True
        entry = (task, self.task_epoch[task])
        province, k = self._task_province[task], self._task_type[task]
        self.pending_by_province_type[province][k].append(entry)
        self.pending_by_type[k].append(entry)
        self.pending_count_by_province_type[province][k] += 1
        self.pending_count_by_type[k] += 1

    def unlist_pending(self, task: int) -> None:
        """Take the task out of the pending counts (its index entries go stale)."""
        if self.task_listed[task]:
            self.task_listed[task] = False
            province, k = self._task_province[task], self._task_type[task]
            self.pending_count_by_province_type[province][k] -= 1
            self.pending_count_by_type[k] -= 1

    def enqueue(self, task: int, worker: int) -> None:
        """The task waits in the worker's queue."""
        self.task_state[task] = QUEUED
        self.worker_queue[worker].append(task)

    def take_queue(self, worker: int) -> list[int]:
        """Empty the worker's queue and return what was in it, in order."""
        queue = self.worker_queue[worker]
        tasks = list(queue)
        queue.clear()
        return tasks


class SimView:
    """Read-only view of a replay for policies, plus ``assign`` (the only way to act).

    Static task attributes (lists indexed by task): ``task_type``, ``task_province``, ``task_created``,
    ``task_sla_due`` (simulation minutes), ``task_complexity``, ``task_ids``. Static worker attributes:
    ``worker_province``, ``worker_types`` (eligible type indices), ``worker_capacity``, ``worker_ids``,
    ``eligible`` (numpy [W, K] bool). Dynamic (the state's own lists, shared for speed: read them, never
    write): ``now``, ``task_state``, ``task_worker``, ``worker_on_shift``, ``worker_busy`` (task or -1),
    ``worker_shift_done``, ``worker_idle_since``, ``worker_experience`` ([W][K] counts).

    ``policy_name`` is the label ``assign`` writes when given none; a policy that delegates to others
    may set it around their callbacks.

    During ``on_task`` the new task is pending (assignable) but not yet listed in the pending indexes
    and counts; it is listed right after the callback if the policy left it pending.
    """

    def __init__(self, facts: SimFacts, state: SimState, dispatch: Dispatch, policy_name: str) -> None:
        self.facts, self._state, self._dispatch = facts, state, dispatch
        self.policy_name = policy_name
        self.config, self.arrivals, self.workforce = facts.config, facts.arrivals, facts.workforce
        self.n_provinces, self.n_types = facts.n_provinces, facts.n_types
        self.n_tasks, self.n_workers = facts.n_tasks, facts.n_workers
        self.task_ids, self.task_type = facts.task_ids, facts.task_type
        self.task_province = facts.task_province
        self.task_created, self.task_sla_due = facts.task_created, facts.task_sla_due
        self.task_complexity = facts.task_complexity
        self.worker_ids, self.worker_province = facts.worker_ids, facts.worker_province
        self.worker_types, self.worker_capacity = facts.worker_types, facts.worker_capacity
        self.eligible: np.ndarray = facts.eligible
        self.always_on = facts.always_on
        self.task_state, self.task_worker = state.task_state, state.task_worker
        self.worker_on_shift, self.worker_busy = state.worker_on_shift, state.worker_busy
        self.worker_shift_done, self.worker_idle_since = state.worker_shift_done, state.worker_idle_since
        self.worker_experience = state.worker_experience
        self._task_epoch, self._worker_idle, self._worker_queue = (
            state.task_epoch,
            state.worker_idle,
            state.worker_queue,
        )

    @property
    def now(self) -> float:
        """Simulation minutes."""
        return self._state.now

    def idle_workers(self, task_type: int, province: int | None = None) -> list[int]:
        """Idle eligible workers for a type (in a province, or nationally). Do not mutate; copy
        before calling ``assign`` in a loop over it."""
        state = self._state
        if province is None:
            return state.idle_by_type[task_type].items
        return state.idle_by_province_type[province][task_type].items

    def is_idle(self, worker: int) -> bool:
        return self._worker_idle[worker]

    def worker_load(self, worker: int) -> int:
        """Open tasks of a worker: in service plus queued."""
        return (self.worker_busy[worker] >= 0) + len(self._worker_queue[worker])

    def accepting(self, worker: int) -> bool:
        """On shift and under its per-shift capacity (counting open tasks)."""
        if not self.worker_on_shift[worker]:
            return False
        return (
            self.always_on
            or self.worker_shift_done[worker] + self.worker_load(worker) < self.worker_capacity[worker]
        )

    def pending_count(self, task_type: int, province: int | None = None) -> int:
        state = self._state
        if province is None:
            return state.pending_count_by_type[task_type]
        return state.pending_count_by_province_type[province][task_type]

    def _pending_entries(self, task_type: int, province: int | None) -> deque[tuple[int, int]]:
        state = self._state
        if province is None:
            return state.pending_by_type[task_type]
        return state.pending_by_province_type[province][task_type]

    def oldest_pending(self, task_type: int, province: int | None = None) -> int:
        """Oldest pending task of a type (province or national), or -1. Drops stale entries at the head."""
        entries = self._pending_entries(task_type, province)
        task_state, epoch = self.task_state, self._task_epoch
        while entries:
            task, entry_epoch = entries[0]
            if task_state[task] == PENDING and epoch[task] == entry_epoch:
                return task
            entries.popleft()
        return -1

    def pending_tasks(
        self, task_type: int, province: int | None = None, limit: int | None = None
    ) -> list[int]:
        """Pending tasks of a type, oldest first (at most ``limit``)."""
        if self.oldest_pending(task_type, province) < 0:  # also drops stale entries at the head
            return []
        task_state, epoch = self.task_state, self._task_epoch
        tasks: list[int] = []
        for task, entry_epoch in self._pending_entries(task_type, province):
            if task_state[task] == PENDING and epoch[task] == entry_epoch:
                tasks.append(task)
                if limit is not None and len(tasks) >= limit:
                    break
        return tasks

    def all_pending(self) -> list[int]:
        """Every pending task, by type then age."""
        return [t for k in range(self.n_types) for t in self.pending_tasks(k)]

    def all_idle(self) -> list[int]:
        """Every idle worker (each once)."""
        return [w for w in range(self.n_workers) if self._worker_idle[w]]

    def minutes_to_sla(self, task: int) -> float:
        return self.task_sla_due[task] - self._state.now

    def assign(self, task: int, worker: int, label: str | None = None) -> None:
        """Dispatch a pending task to an eligible, accepting worker: it starts now if the worker is idle,
        otherwise it joins the worker's queue. ``label`` is written as the assignment's policy."""
        if self.task_state[task] != PENDING:
            raise ValueError(f"task {task} is not pending")
        k = self.task_type[task]
        if not self.eligible[worker, k]:
            raise ValueError(f"worker {worker} is not skilled for type {k}")
        if not self.accepting(worker):
            raise ValueError(f"worker {worker} is off shift or at capacity")
        self._dispatch(task, worker, label or self.policy_name)
