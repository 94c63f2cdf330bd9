"""The twin's tasks through the service's own state machine (``serving.tasks.lifecycle``).

An ML policy on the twin observes every task transition of the replay (``Policy.on_transition``) and
applies, for each, the events the service stores for the same step, with the same ids, sources and
arms: ``create`` on arrival; ``assign`` when the policy commits (source ``assign`` for ``/assign``,
``rank`` for ``/rank``; the deciding experiment arm); ``accept`` and ``start`` when the worker starts
(the twin's workers accept as they start); ``complete`` at completion; ``reassign`` (reason
``worker_off_shift``) when a shift end hands queued work back. A transition the state machine refuses
is a twin or policy bug and stops the replay (``TwinLifecycleError``): the twin cannot dispatch a task
the service would not. Done tasks leave memory; the counts stay.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from serving.tasks.lifecycle import (
    FINAL,
    IllegalTransition,
    InvalidEvent,
    Status,
    TaskEvent,
    TaskState,
    apply,
)
from simulator.state import SimView

ACTOR = "twin"
SOURCES = {
    "create": "intake",
    "accept": "worker",
    "start": "worker",
    "complete": "outcomes",
    "reassign": "monitor",
}
"""The source the service records for each kind (``assign``: the policy's, ``assign`` or ``rank``)."""


class TwinLifecycleError(RuntimeError):
    """A transition the service's state machine refuses (the message names the task and its state)."""


class TwinLifecycle:
    """Every open task's ``TaskState`` in one replay, moved only by ``serving.tasks.lifecycle.apply``."""

    def __init__(self, view: SimView, source: str) -> None:
        self.view, self.source = view, source
        self.states: dict[int, TaskState] = {}
        self.event_counts: dict[int, int] = {}
        self.kinds: Counter[str] = Counter()
        self.arms: Counter[str] = Counter()  # assign events per arm
        self._arm_of: dict[int, str] = {}

    def decided(self, task: int, arm: str) -> None:
        """The arm that decided ``task``'s coming assignment (before ``view.assign``)."""
        self._arm_of[task] = arm

    def open(self) -> dict[str, Status]:
        """Task id -> status of every task not done."""
        return {s.task_id: s.status for s in self.states.values()}

    def observe(self, kind: str, task: int, worker: int, at: dt.datetime) -> None:
        """One replay transition (``simulator.engine.TRANSITIONS``) as the service's events."""
        if kind == "create":
            self._apply(task, "create", at)
        elif kind == "assign":
            n = self.event_counts.get(task, 0) + 1
            aid = f"A-{self.view.task_ids[task]}-{n}"
            arm = self._arm_of.pop(task, "ml")
            self._apply(task, "assign", at, assignment_id=aid, worker_id=self._worker(worker), arm=arm)
            self.arms[arm] += 1
        elif kind == "start":
            self._apply(task, "accept", at, on_assignment=True)
            self._apply(task, "start", at, on_assignment=True)
        elif kind == "complete":
            self._apply(task, "complete", at, on_assignment=True)
        elif kind == "hand_back":
            self._apply(task, "reassign", at, on_assignment=True, reason_code="worker_off_shift")
        else:
            raise TwinLifecycleError(f"unknown transition {kind!r} of task {self.view.task_ids[task]}")

    def _worker(self, worker: int) -> str:
        return str(self.view.worker_ids[worker])

    def _apply(
        self, task: int, kind: str, at: dt.datetime, *, on_assignment: bool = False, **kw: str
    ) -> None:
        state = self.states.get(task)
        task_id = str(self.view.task_ids[task])
        n = self.event_counts.get(task, 0) + 1
        if on_assignment:  # as the service: the assignment in force; the worker on the worker's steps
            kw["assignment_id"] = (state.assignment_id if state else None) or ""
            if kind in ("accept", "start"):
                kw["worker_id"] = (state.worker_id if state else None) or ""
        source = SOURCES.get(kind, self.source)
        try:
            event = TaskEvent(f"{task_id}#{n}", task_id, kind, at, ACTOR, source, **kw)
        except InvalidEvent as exc:  # e.g. a worker's step without an assignment in force
            where = "does not exist" if state is None else f"is {state.status.value}"
            raise TwinLifecycleError(f"cannot {kind} task {task_id}: it {where}; {exc}") from None
        got = apply(state, event)
        if isinstance(got, IllegalTransition):
            raise TwinLifecycleError(got.message)
        self.event_counts[task] = n
        self.kinds[kind] += 1
        if got.status in FINAL:
            self.states.pop(task, None)
            self.event_counts.pop(task, None)
        else:
            self.states[task] = got
