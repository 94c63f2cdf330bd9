"""The task lifecycle as a pure state machine: a declarative transition table and ``apply``.

``pending -> assigned -> accepted -> started -> done``, plus ``rejected`` (the worker declined),
``reassigned`` (the assignment was taken back: timeout, worker off shift, a dispatcher's move) and
``cancelled``. ``accepted`` is an explicit state because starting before accepting is illegal, so the
state must remember the acceptance. ``rejected`` and ``reassigned`` wait for a new ``assign`` like
``pending``; ``done`` and ``cancelled`` are final. A completion (``/outcomes``) closes an assigned,
accepted or started task: it is a fact from the QA system, which also records when the work started.

Every transition is a :class:`TaskEvent` (a row of the contract's ``task_events``); ``apply(state,
event)`` returns the new :class:`TaskState` or an :class:`IllegalTransition` naming the current state
and the attempted event. :func:`replay` folds a task's history. No I/O here: the endpoints validate
the request, apply, and append the event and the new state to the event store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from opsmatch.contract import (
    CANCEL_REASONS,
    EVENT_SOURCES,
    OVERRIDE_REASONS,
    REDISPATCH_REASONS,
    REJECT_REASONS,
)


class Status(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    STARTED = "started"
    DONE = "done"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"
    CANCELLED = "cancelled"


WAITING: frozenset[Status] = frozenset({Status.PENDING, Status.REJECTED, Status.REASSIGNED})
"""Waiting for a worker: what ``/assign`` and the monitor dispatch."""
HELD: frozenset[Status] = frozenset({Status.ASSIGNED, Status.ACCEPTED, Status.STARTED})
"""With a worker (an assignment in force)."""
FINAL: frozenset[Status] = frozenset({Status.DONE, Status.CANCELLED})

TRANSITIONS: Mapping[str, tuple[frozenset[Status | None], Status]] = {
    "create": (frozenset({None}), Status.PENDING),
    "assign": (WAITING, Status.ASSIGNED),
    "accept": (frozenset({Status.ASSIGNED}), Status.ACCEPTED),
    "reject": (frozenset({Status.ASSIGNED, Status.ACCEPTED}), Status.REJECTED),
    "start": (frozenset({Status.ACCEPTED}), Status.STARTED),
    "complete": (HELD, Status.DONE),
    "reassign": (HELD, Status.REASSIGNED),
    "cancel": (WAITING | HELD, Status.CANCELLED),
}
"""event kind -> (states it may happen in, state it leads to); ``None`` is "no such task yet"."""

ASSIGN_SOURCES: frozenset[str] = frozenset({"assign", "rank", "person", "monitor"})
ON_ASSIGNMENT: frozenset[str] = frozenset({"accept", "reject", "start", "complete", "reassign"})
"""Kinds that act on the assignment in force: they must name it (a stale id is refused)."""
REASONS: Mapping[str, tuple[str, ...]] = {
    "reject": REJECT_REASONS,
    "reassign": REDISPATCH_REASONS,
    "cancel": CANCEL_REASONS,
}
"""Kinds that need a reason code, and the codes each allows."""


class InvalidEvent(ValueError):
    """An event that is malformed whatever the state (a client mistake: 4xx naming ``field``)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class TaskEvent:
    """One transition, as the ``task_events`` table stores it (validated on construction)."""

    event_id: str
    task_id: str
    kind: str
    at: datetime
    actor: str
    source: str
    assignment_id: str | None = None
    worker_id: str | None = None
    ranked_worker_id: str | None = None
    reason_code: str | None = None
    override_reason: str | None = None
    note: str | None = None
    arm: str | None = None

    def __post_init__(self) -> None:
        for name in ("event_id", "task_id", "actor"):
            if not getattr(self, name):
                raise InvalidEvent(name, "must not be empty")
        if self.kind not in TRANSITIONS:
            raise InvalidEvent("kind", f"not one of: {', '.join(TRANSITIONS)}")
        if self.source not in EVENT_SOURCES:
            raise InvalidEvent("source", f"not one of: {', '.join(EVENT_SOURCES)}")
        if self.at.tzinfo is None:
            raise InvalidEvent("at", "must carry a time zone")
        if self.kind == "assign":
            self._check_assign()
        elif self.kind in ON_ASSIGNMENT and not self.assignment_id:
            raise InvalidEvent("assignment_id", f"a {self.kind} names the assignment it acts on")
        allowed = REASONS.get(self.kind)
        if allowed is not None and self.reason_code not in allowed:
            raise InvalidEvent("reason_code", f"a {self.kind} needs one of: {', '.join(allowed)}")

    def _check_assign(self) -> None:
        if not self.assignment_id or not self.worker_id:
            missing = "assignment_id" if not self.assignment_id else "worker_id"
            raise InvalidEvent(missing, "an assign needs it")
        if self.source not in ASSIGN_SOURCES:
            raise InvalidEvent("source", f"an assign comes from one of: {', '.join(sorted(ASSIGN_SOURCES))}")
        overridden = self.ranked_worker_id is not None and self.ranked_worker_id != self.worker_id
        if overridden and self.source != "person":
            raise InvalidEvent("ranked_worker_id", "only a person overrides the top-ranked worker")
        if overridden and self.override_reason not in OVERRIDE_REASONS:
            raise InvalidEvent(
                "override_reason",
                f"choosing {self.worker_id} over the top-ranked {self.ranked_worker_id} needs one of: "
                + ", ".join(OVERRIDE_REASONS),
            )
        if self.reason_code is not None and self.reason_code not in REDISPATCH_REASONS:
            codes = ", ".join(REDISPATCH_REASONS)
            raise InvalidEvent("reason_code", f"an assign's reason is one of: {codes}")

    @property
    def overridden(self) -> bool:
        """A person chose someone other than the top-ranked worker."""
        return self.ranked_worker_id is not None and self.ranked_worker_id != self.worker_id


@dataclass(frozen=True)
class TaskState:
    """Where a task stands, with what the monitor needs (times of the current assignment's steps)."""

    task_id: str
    status: Status
    since: datetime  # time of the last transition
    created_at: datetime
    assignment_id: str | None = None
    worker_id: str | None = None
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    started_at: datetime | None = None
    arm: str | None = None
    assignments: int = 0  # how many times the task was assigned
    previous_workers: tuple[str, ...] = ()  # workers who held it before and let it go


@dataclass(frozen=True)
class IllegalTransition:
    """An event the current state does not allow (409 with the current state)."""

    task_id: str
    current: Status | None
    attempted: str
    detail: str

    @property
    def message(self) -> str:
        where = "does not exist" if self.current is None else f"is {self.current.value}"
        return f"cannot {self.attempted} task {self.task_id}: it {where}; {self.detail}"


def allowed_kinds(status: Status | None) -> list[str]:
    """The event kinds a task in ``status`` accepts (for error messages and the console)."""
    return [k for k, (sources, _) in TRANSITIONS.items() if status in sources]


def apply(state: TaskState | None, event: TaskEvent) -> TaskState | IllegalTransition:
    """The state after ``event``, or why the event is illegal in ``state`` (``None``: unknown task)."""
    if state is not None and state.task_id != event.task_id:
        raise ValueError(f"event for task {event.task_id} applied to task {state.task_id}")
    current = None if state is None else state.status
    sources, target = TRANSITIONS[event.kind]

    def illegal(detail: str) -> IllegalTransition:
        return IllegalTransition(event.task_id, current, event.kind, detail)

    if current not in sources:
        return illegal(f"allowed now: {', '.join(allowed_kinds(current)) or 'nothing (final)'}")
    if state is None:
        return TaskState(event.task_id, target, event.at, created_at=event.at)
    if event.at < state.since:
        return illegal(f"event time {event.at.isoformat()} is before the last ({state.since.isoformat()})")
    if event.kind in ON_ASSIGNMENT and event.assignment_id != state.assignment_id:
        return illegal(f"assignment {event.assignment_id} is not the one in force ({state.assignment_id})")
    if event.kind in ON_ASSIGNMENT and event.worker_id is not None and event.worker_id != state.worker_id:
        return illegal(f"assignment {state.assignment_id} is {state.worker_id}, not {event.worker_id}")
    return _next(state, event, target)


def _next(state: TaskState, event: TaskEvent, target: Status) -> TaskState:
    base = replace(state, status=target, since=event.at)
    if event.kind == "assign":
        return replace(
            base,
            assignment_id=event.assignment_id,
            worker_id=event.worker_id,
            assigned_at=event.at,
            accepted_at=None,
            started_at=None,
            arm=event.arm,
            assignments=state.assignments + 1,
        )
    if event.kind == "accept":
        return replace(base, accepted_at=event.at)
    if event.kind == "start":
        return replace(base, started_at=event.at)
    if event.kind in ("reject", "reassign"):
        gone = state.previous_workers + ((state.worker_id,) if state.worker_id else ())
        return replace(
            base,
            assignment_id=None,
            worker_id=None,
            assigned_at=None,
            accepted_at=None,
            started_at=None,
            previous_workers=gone,
        )
    return base


def replay(events: Iterable[TaskEvent]) -> TaskState | IllegalTransition | None:
    """Fold one task's events (in time order); the first illegal one stops the fold."""
    state: TaskState | None = None
    for event in events:
        got = apply(state, event)
        if isinstance(got, IllegalTransition):
            return got
        state = got
    return state
