"""Live simulation state: what a policy may read (``SimView``) plus the one mutator, ``assign``.

Hot-path structures are plain Python lists, deques and index sets, maintained incrementally so that
policies never scan the whole workforce or backlog:

- idle workers per (province, type) and per type nationally (on shift, no open task, under capacity,
  skilled for the type);
- pending (unassigned) tasks per (province, type) and per type nationally, oldest first.

Tasks and workers are integers: row positions in ``arrivals.tasks`` and ``workforce.workers``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import Any

NOT_ARRIVED, PENDING, QUEUED, IN_SERVICE, DONE = range(5)


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


class SimView:
    """Read-only view of the simulation for policies, plus ``assign`` (the only way to act).

    Static task attributes (lists indexed by task): ``task_type``, ``task_province``, ``task_created``,
    ``task_sla_due`` (simulation minutes), ``task_complexity``, ``task_ids``. Static worker attributes:
    ``worker_province``, ``worker_types`` (eligible type indices), ``worker_ids``, ``eligible``
    (numpy [W, K] bool). Dynamic: ``now``, ``worker_on_shift``, ``worker_busy`` (task or -1),
    ``worker_shift_done``, ``worker_idle_since``, ``worker_experience`` ([W][K] counts).
    Do not mutate any of them.

    During ``on_task`` the new task is pending (assignable) but not yet listed in the pending indexes
    and counts; it is listed right after the callback if the policy left it pending.
    """

    def __init__(
        self,
        n_provinces: int,
        n_types: int,
        tasks: dict[str, list[Any]],
        workers: dict[str, Any],
        frames: dict[str, Any],
    ) -> None:
        self.now = 0.0
        self.n_provinces, self.n_types = n_provinces, n_types
        self.arrivals, self.workforce, self.config = frames["arrivals"], frames["workforce"], frames["config"]
        self.task_ids: list[str] = tasks["ids"]
        self.task_type: list[int] = tasks["k"]
        self.task_province: list[int] = tasks["p"]
        self.task_created: list[float] = tasks["t"]
        self.task_sla_due: list[float] = tasks["sla"]
        self.task_complexity: list[int] = tasks["c"]
        self.n_tasks = len(self.task_type)
        self.worker_ids: list[str] = workers["ids"]
        self.worker_province: list[int] = workers["p"]
        self.worker_types: list[list[int]] = workers["types"]
        self.worker_capacity: list[int] = workers["capacity"]
        self.eligible = workers["eligible"]
        self.n_workers = len(self.worker_ids)
        self.always_on: bool = workers["always_on"]
        # dynamic task state
        n, nw = self.n_tasks, self.n_workers
        self.task_state = [NOT_ARRIVED] * n
        self._epoch = [0] * n
        self._listed = [False] * n  # in the pending indexes
        self.task_worker = [-1] * n
        # dynamic worker state
        self.worker_on_shift = [False] * nw
        self.worker_busy = [-1] * nw
        self.worker_shift_done = [0] * nw
        self.worker_experience: list[list[int]] = workers["experience"]
        self._queue: list[deque[int]] = [deque() for _ in range(nw)]
        self._idle = [False] * nw
        self.worker_idle_since = [0.0] * nw
        # indexes
        P, K = n_provinces, n_types
        self._idle_pk = [[IndexedSet() for _ in range(K)] for _ in range(P)]
        self._idle_k = [IndexedSet() for _ in range(K)]
        self._pend_pk: list[list[deque[tuple[int, int]]]] = [[deque() for _ in range(K)] for _ in range(P)]
        self._pend_k: list[deque[tuple[int, int]]] = [deque() for _ in range(K)]
        self._npend_pk = [[0] * K for _ in range(P)]
        self._npend_k = [0] * K
        self._start_task: Any = None  # set by the engine: start(task, worker)
        self._log_assign: Any = None  # set by the engine: log(task, worker, label)
        self.policy_name = ""

    # ------------------------------------------------------------------ reads
    def idle_workers(self, task_type: int, province: int | None = None) -> list[int]:
        """Idle eligible workers for a type (in a province, or nationally). Do not mutate; copy
        before calling ``assign`` in a loop over it."""
        return (self._idle_k[task_type] if province is None else self._idle_pk[province][task_type]).items

    def is_idle(self, worker: int) -> bool:
        return self._idle[worker]

    def worker_load(self, worker: int) -> int:
        """Open tasks of a worker: in service plus queued."""
        return (self.worker_busy[worker] >= 0) + len(self._queue[worker])

    def accepting(self, worker: int) -> bool:
        """On shift and under its per-shift capacity (counting open tasks)."""
        if not self.worker_on_shift[worker]:
            return False
        return (
            self.always_on
            or self.worker_shift_done[worker] + self.worker_load(worker) < self.worker_capacity[worker]
        )

    def pending_count(self, task_type: int, province: int | None = None) -> int:
        return self._npend_k[task_type] if province is None else self._npend_pk[province][task_type]

    def _valid(self, entry: tuple[int, int]) -> bool:
        t, e = entry
        return self.task_state[t] == PENDING and self._epoch[t] == e

    def oldest_pending(self, task_type: int, province: int | None = None) -> int:
        """Oldest pending task of a type (province or national), or -1."""
        dq = self._pend_k[task_type] if province is None else self._pend_pk[province][task_type]
        state, epoch = self.task_state, self._epoch
        while dq:
            t, e = dq[0]
            if state[t] == PENDING and epoch[t] == e:
                return t
            dq.popleft()
        return -1

    def pending_tasks(
        self, task_type: int, province: int | None = None, limit: int | None = None
    ) -> list[int]:
        """Pending tasks of a type, oldest first (at most ``limit``)."""
        if self.oldest_pending(task_type, province) < 0:  # also drops stale entries at the head
            return []
        dq = self._pend_k[task_type] if province is None else self._pend_pk[province][task_type]
        out: list[int] = []
        for entry in dq:
            if self._valid(entry):
                out.append(entry[0])
                if limit is not None and len(out) >= limit:
                    break
        return out

    def all_pending(self) -> list[int]:
        """Every pending task, by type then age."""
        return [t for k in range(self.n_types) for t in self.pending_tasks(k)]

    def all_idle(self) -> list[int]:
        """Every idle worker (each once)."""
        return [w for w in range(self.n_workers) if self._idle[w]]

    def minutes_to_sla(self, task: int) -> float:
        return self.task_sla_due[task] - self.now

    # ------------------------------------------------------------------ the one mutator
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
        if self._listed[task]:
            self._listed[task] = False
            self._npend_pk[self.task_province[task]][k] -= 1
            self._npend_k[k] -= 1
        self.task_worker[task] = worker
        self._log_assign(task, worker, label or self.policy_name)
        if self._idle[worker]:
            self._set_busy(worker)
            self._start_task(task, worker)
        else:
            self.task_state[task] = QUEUED
            self._queue[worker].append(task)

    # ------------------------------------------------------------------ engine-side mutations
    def _set_idle(self, w: int) -> None:
        self._idle[w] = True
        self.worker_idle_since[w] = self.now
        p = self.worker_province[w]
        for k in self.worker_types[w]:
            self._idle_pk[p][k].add(w)
            self._idle_k[k].add(w)

    def _set_busy(self, w: int) -> None:
        self._idle[w] = False
        p = self.worker_province[w]
        for k in self.worker_types[w]:
            self._idle_pk[p][k].discard(w)
            self._idle_k[k].discard(w)

    def _make_pending(self, task: int) -> None:
        """The task is pending (assignable); it joins the indexes only via ``_enqueue``."""
        self.task_state[task] = PENDING
        self._epoch[task] += 1

    def _enqueue(self, task: int) -> None:
        """List a still-pending task in the pending indexes (after the policy's ``on_task``)."""
        if self.task_state[task] != PENDING or self._listed[task]:
            return
        self._listed[task] = True
        entry = (task, self._epoch[task])
        p, k = self.task_province[task], self.task_type[task]
        self._pend_pk[p][k].append(entry)
        self._pend_k[k].append(entry)
        self._npend_pk[p][k] += 1
        self._npend_k[k] += 1

    def _take_queue(self, w: int) -> list[int]:
        q = self._queue[w]
        out = list(q)
        q.clear()
        return out


def learning_and_fatigue(done: int, experience: int, thr: int, fat: float, amp: float, tau: float) -> float:
    """Scalar fatigue x learning multiplier (same formula as ``truth.fatigue_factor/learning_factor``)."""
    return (1.0 + fat * max(0, done - thr)) * (1.0 + amp * math.exp(-experience / tau))
