"""The live twin's workers: what each one does next, given the operation's clock (pure, no I/O).

The service decides who gets a task; the twin's workers answer as people would. ``offer`` hands the
world an assignment the service made; ``due(now)`` returns the :class:`Action` s whose time has come,
in time order: accept or reject (off shift or leaving: ``unavailable``; already ``max_open`` tasks:
``workload``; now and then ``conflict_of_interest``), start when free, complete with the hidden truth
(``simulator.live_truth``), then the QA check and the complaint when they fall due. The edge performs
each action against the service and tells the world the service's time (``accepted``, ``started``),
so the work is timed from what the service recorded; a refused action (the service took the task
back) is ``withdraw``\\ n. Shifts follow the roster; a worker whose shift ends finishes the task at hand
(overtime) and hands back the accepted ones not started. ``status_rows`` are the workers whose
availability or load changed since the last report. ``log`` keeps every row the twin reported.
"""

from __future__ import annotations

import heapq
import itertools
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from simulator.live_truth import Done, TaskFacts, finish, handling_minutes, task_uniforms
from simulator.schedule import ShiftCalendar
from simulator.truth import Truth
from simulator.workforce import Workforce

DECIDE_STREAM = 62


@dataclass(frozen=True)
class Behaviour:
    """How the twin's workers answer (fixed defaults, not tuned)."""

    accept_minutes: tuple[float, float] = (0.5, 4.0)
    # Accepted + in service at most; more is refused for workload. None: the worker's declared capacity
    # (``workers.daily_capacity``, the very limit the service dispatches by), so the twin refuses for
    # workload only when the service's view of its load is stale.
    max_open: int | None = None
    reject_share: float = 0.03


@dataclass(frozen=True)
class Action:
    """One thing a worker or the QA system does now, for the edge to report."""

    at: datetime
    kind: str  # accept, reject, start, complete, qa, complaint
    task_id: str
    worker_id: str
    assignment_id: str | None = None
    reason_code: str | None = None
    row: dict[str, Any] | None = None  # the contract row of complete / qa / complaint


@dataclass
class Held:
    """An assignment a twin worker holds."""

    assignment_id: str
    task: TaskFacts
    worker: int
    accepted: bool = False
    promised: bool = False  # the accept is decided, not yet recorded
    started_at: datetime | None = None
    minutes: float = 0.0
    shift_done: int = 0
    withdrawn: bool = False


@dataclass
class LiveLog:
    """Every row the twin reported (what the event store must hold of the live run)."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    completions: list[dict[str, Any]] = field(default_factory=list)
    qa_results: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)
    worker_status: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # accept / reject / start, with their times


class LiveWorld:
    """The twin's workers on the roster of ``workforce`` with the hidden ``truth`` (see the module doc)."""

    def __init__(
        self, truth: Truth, workforce: Workforce, seed: int, behaviour: Behaviour | None = None
    ) -> None:
        self.truth, self.config, self.seed = truth, truth.config, seed
        self.behaviour = behaviour or Behaviour()
        self.shifts = ShiftCalendar(self.config, workforce)
        self.worker_ids: list[str] = workforce.workers["worker_id"].tolist()
        self.capacity = np.asarray(workforce.capacity, dtype=np.int64)
        self.index = {w: i for i, w in enumerate(self.worker_ids)}
        n = len(self.worker_ids)
        self.on_shift, self.leaving = [False] * n, [False] * n
        self.busy: list[str | None] = [None] * n
        self.queue: list[deque[str]] = [deque() for _ in range(n)]
        self.shift_done = [0] * n
        self.promised = [0] * n  # accepts decided, not yet recorded by the service
        self.experience = np.array(truth.experience0, dtype=float)
        self.reported: dict[int, tuple[bool, int]] = {}
        self.held: dict[str, Held] = {}
        self.heap: list[tuple[float, int, str, Any]] = []
        self.seq = itertools.count()
        self.origin = self.config.start_utc
        self.log = LiveLog()
        self.now = self.origin

    # -------------------------------------------------------------------- time
    def minute(self, at: datetime) -> float:
        return (at - self.origin).total_seconds() / 60.0

    def time(self, minute: float) -> datetime:
        return self.origin + timedelta(minutes=minute)

    def _at(self, at: datetime, kind: str, key: Any) -> None:
        heapq.heappush(self.heap, (self.minute(at), next(self.seq), kind, key))

    def begin(self, now: datetime) -> None:
        """Put every worker on or off shift as the roster says at ``now`` and schedule the changes."""
        self.now = now
        m = self.minute(now)
        for w in range(len(self.worker_ids)):
            begins, ends = self.shifts.next_shift(w, m)
            self.on_shift[w] = bool(begins <= m < ends)
            nxt = ends if self.on_shift[w] else begins
            if nxt < float("inf"):
                heapq.heappush(self.heap, (nxt, next(self.seq), "shift", w))

    # -------------------------------------------------------------------- what the service says
    def knows(self, assignment_id: str) -> bool:
        return assignment_id in self.held

    def offer(self, assignment_id: str, task: TaskFacts, worker_id: str, at: datetime) -> None:
        """The service assigned ``task`` to a twin worker: the answer comes after a short delay."""
        if assignment_id in self.held or worker_id not in self.index:
            return
        w = self.index[worker_id]
        self.held[assignment_id] = Held(assignment_id, task, w)
        self.log.assignments.append(
            {"assignment_id": assignment_id, "task_id": task.task_id, "worker_id": worker_id}
        )
        lo, hi = self.behaviour.accept_minutes
        u = self._rng(assignment_id).random()
        self._at(max(at, self.now) + timedelta(minutes=lo + (hi - lo) * u), "decide", assignment_id)

    def accepted(self, assignment_id: str, at: datetime) -> list[Action]:
        """The service recorded the acceptance at ``at``: the worker queues it, starts if free."""
        h = self.held.get(assignment_id)
        if h is None or h.withdrawn:
            return []
        h.accepted, h.promised = True, False
        self.promised[h.worker] -= 1
        self.queue[h.worker].append(assignment_id)
        self.log.events.append({"kind": "accept", "assignment_id": assignment_id, "at": at})
        return self._try_start(h.worker, at)

    def started(self, assignment_id: str, at: datetime) -> None:
        """The service recorded the start at ``at``: the work is timed from there."""
        h = self.held.get(assignment_id)
        if h is None or h.withdrawn:
            return
        h.started_at = at
        self.log.events.append({"kind": "start", "assignment_id": assignment_id, "at": at})
        self._at(at + timedelta(minutes=h.minutes), "finish", assignment_id)

    def withdraw(self, assignment_id: str) -> list[Action]:
        """The service took the assignment back (or refused an action on it): forget it."""
        h = self.held.pop(assignment_id, None)
        if h is None:
            return []
        h.withdrawn = True
        if h.promised:
            self.promised[h.worker] -= 1
        if assignment_id in self.queue[h.worker]:
            self.queue[h.worker].remove(assignment_id)
        if self.busy[h.worker] == assignment_id:
            self.busy[h.worker] = None
            return self._try_start(h.worker, self.now)
        return []

    def holding(self) -> dict[str, str]:
        """assignment id -> task id of every assignment a twin worker holds now."""
        return {a: h.task.task_id for a, h in self.held.items()}

    # -------------------------------------------------------------------- the clock moves
    def due(self, now: datetime) -> list[Action]:
        """Everything that happens up to ``now``, in time order."""
        limit = self.minute(now)
        actions: list[Action] = []
        while self.heap and self.heap[0][0] <= limit:
            minute, _, kind, key = heapq.heappop(self.heap)
            self.now = max(self.now, self.time(minute))
            actions += getattr(self, f"_on_{kind}")(key, self.time(minute))
        self.now = max(self.now, now)
        return actions

    def open_tasks(self, w: int) -> int:
        return len(self.queue[w]) + (self.busy[w] is not None)

    def status_rows(self, at: datetime) -> list[dict[str, Any]]:
        """A ``worker_status`` row at ``at`` for each worker whose availability or load changed (the edge
        logs the rows the service stored)."""
        rows = []
        for w in range(len(self.worker_ids)):
            now = (self.on_shift[w] or self.leaving[w], self.open_tasks(w))
            if self.reported.get(w) != now:
                self.reported[w] = now
                rows.append(
                    {"worker_id": self.worker_ids[w], "at": at, "on_shift": now[0], "open_tasks": now[1]}
                )
        self.log.worker_status += rows
        return rows

    # -------------------------------------------------------------------- handlers
    def _on_shift(self, w: int, at: datetime) -> list[Action]:
        m = self.minute(at)
        begins, ends = self.shifts.next_shift(w, m)
        actions: list[Action] = []
        if begins <= m + 1e-6 and m < ends:  # a shift starts
            self.on_shift[w] = True
            self.shift_done[w] = 0
            heapq.heappush(self.heap, (ends, next(self.seq), "shift", w))
            return self._try_start(w, at)
        self.on_shift[w] = False
        self.leaving[w] = self.busy[w] is not None
        while self.queue[w]:  # accepted, not started: handed back
            aid = self.queue[w].popleft()
            actions.append(self._reject(self.held[aid], at, "unavailable"))
        if begins < float("inf"):
            heapq.heappush(self.heap, (begins, next(self.seq), "shift", w))
        return actions

    def _on_decide(self, aid: str, at: datetime) -> list[Action]:
        h = self.held.get(aid)
        if h is None or h.withdrawn:
            return []
        w, b = h.worker, self.behaviour
        if not self.on_shift[w] or self.leaving[w]:
            return [self._reject(h, at, "unavailable")]
        limit = b.max_open if b.max_open is not None else int(self.capacity[w])
        if self.open_tasks(w) + self.promised[w] >= limit:
            return [self._reject(h, at, "workload")]
        if self._rng(aid, 1).random() < b.reject_share:
            return [self._reject(h, at, "conflict_of_interest")]
        h.promised = True
        self.promised[w] += 1
        return [Action(at, "accept", h.task.task_id, self.worker_ids[w], aid)]

    def _on_finish(self, aid: str, at: datetime) -> list[Action]:
        h = self.held.pop(aid, None)
        if h is None or h.withdrawn or h.started_at is None:
            return []
        w = h.worker
        self.busy[w] = None
        k = self.truth.task_types.index(h.task.task_type)
        self.experience[w, k] += 1
        self.shift_done[w] += 1
        done = finish(
            self.truth,
            h.task,
            w,
            task_uniforms(self.seed, h.task.task_id),
            h.minutes,
            h.started_at,
            h.shift_done,
        )
        row = {
            "task_id": h.task.task_id,
            "worker_id": self.worker_ids[w],
            "started_at": h.started_at,
            "completed_at": at,
            "handling_minutes": h.minutes,
        }
        self.log.completions.append(row)
        actions = [Action(at, "complete", h.task.task_id, self.worker_ids[w], aid, row=row)]
        self._follow_ups(h, done, w)
        if self.leaving[w]:
            self.leaving[w] = False
        return actions + self._try_start(w, at)

    def _follow_ups(self, h: Held, done: Done, w: int) -> None:
        if done.qa_at is not None:
            qa = {
                "qa_id": f"Q-{h.task.task_id}",
                "task_id": h.task.task_id,
                "worker_id": self.worker_ids[w],
                "checked_at": done.qa_at,
                "passed": done.passed,
                "score": done.score,
                "satisfaction": done.satisfaction,
            }
            self._at(done.qa_at, "report", ("qa", qa))
        if done.complaint_at is not None:
            complaint = {
                "complaint_id": f"K-{h.task.task_id}",
                "task_id": h.task.task_id,
                "customer_id": h.task.customer_id,
                "filed_at": done.complaint_at,
                "severity": done.severity,
                "reason": done.reason,
            }
            self._at(done.complaint_at, "report", ("complaint", complaint))

    def later(self, kind: str, row: dict[str, Any], at: datetime) -> None:
        """A QA check or a complaint (``kind`` qa / complaint) to report at ``at``, e.g. of the history's
        work (``simulator.live_carryover``)."""
        self._at(at, "report", (kind, row))

    def _on_report(self, item: tuple[str, dict[str, Any]], at: datetime) -> list[Action]:
        kind, row = item
        (self.log.qa_results if kind == "qa" else self.log.complaints).append(row)
        return [Action(at, kind, row["task_id"], row.get("worker_id", ""), row=row)]

    # -------------------------------------------------------------------- helpers
    def _try_start(self, w: int, at: datetime) -> list[Action]:
        if self.busy[w] is not None or not self.queue[w] or not self.on_shift[w] or self.leaving[w]:
            return []
        aid = self.queue[w].popleft()
        h = self.held[aid]
        self.busy[w] = aid
        k = self.truth.task_types.index(h.task.task_type)
        u = task_uniforms(self.seed, h.task.task_id)
        h.shift_done = self.shift_done[w]
        h.minutes = handling_minutes(self.truth, h.task, w, u, h.shift_done, float(self.experience[w, k]))
        return [Action(at, "start", h.task.task_id, self.worker_ids[w], aid)]

    def _reject(self, h: Held, at: datetime, reason: str) -> Action:
        self.held.pop(h.assignment_id, None)
        self.log.events.append(
            {"kind": "reject", "assignment_id": h.assignment_id, "at": at, "reason": reason}
        )
        return Action(at, "reject", h.task.task_id, self.worker_ids[h.worker], h.assignment_id, reason)

    def _rng(self, key: str, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, DECIDE_STREAM, salt, zlib.crc32(key.encode())])
