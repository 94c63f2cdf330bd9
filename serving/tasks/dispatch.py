"""The task lifecycle's writes: committed assignments, the worker's answers, completions closing tasks.

Each endpoint validates, decides with the pure state machine (``serving.tasks.lifecycle.apply``) on the
task book's state (``serving.tasks.book``), then appends the event (its id ``task#n`` is the
optimistic lock: a concurrent writer's transition collides on it) and the contract rows to the event
store. Unknown ids are 404 naming them; illegal transitions 409 with the current state; a duplicate
(same assignment id for the same task and worker) changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from opsmatch import events
from opsmatch.event_store import StoreConflict
from serving.api import task_schemas as ls
from serving.errors import ApiError, error_body
from serving.matching.switchback import arm_at
from serving.tasks.book import TaskBook, event_row
from serving.tasks.lifecycle import HELD, WAITING, IllegalTransition, Status, TaskEvent, TaskState, apply

if TYPE_CHECKING:
    from serving.runtime.context import Context

log = logging.getLogger("opsmatch.serving")


@dataclass(frozen=True)
class AssignOrder:
    """One assignment to commit: the task's state now, the worker, its id, when and by which arm."""

    state: TaskState
    worker_id: str
    assignment_id: str
    at: datetime
    arm: str
    reason_code: str | None = None
    extra: Mapping[str, str | None] = field(default_factory=dict)


class TransitionConflict(ApiError):
    """409 naming the task's current state (``detail[0].msg`` is the status, type illegal_transition)."""

    def __init__(self, message: str, current: Status | None, loc: Sequence[str | int]) -> None:
        super().__init__(409, message, loc, kind="conflict")
        self.current = "none" if current is None else current.value

    def body(self) -> dict[str, Any]:
        item = {"loc": list(self.loc), "msg": self.current, "type": "illegal_transition"}
        return error_body(self.message, self.kind, self.loc, [item])


def not_found(what: str, ident: str, loc: Sequence[str | int]) -> ApiError:
    return ApiError(404, f"unknown {what} {ident!r}", loc, kind="not_found")


class Lifecycle:
    """The lifecycle endpoints on an engine (its settings, runtime, clock, policy) and a task book."""

    def __init__(self, engine: Context, book: TaskBook) -> None:
        self.engine = engine
        self.book = book

    # -- writing transitions ----------------------------------------------------------------------
    def transition(self, state: TaskState | None, event: TaskEvent, loc: Sequence[str | int]) -> TaskState:
        """Apply and store ``event``; 409 when illegal now or when another writer got there first."""
        got = apply(state, event)
        if isinstance(got, IllegalTransition):
            raise TransitionConflict(got.message, got.current, loc)
        try:
            events.append(self.engine.settings, "task_events", pd.DataFrame([event_row(event)]))
        except StoreConflict:
            self.book.refresh()
            now = self.book.state(event.task_id)
            status = None if now is None else now.status
            where = "does not exist" if status is None else f"is now {status.value}"
            msg = f"cannot {event.kind} task {event.task_id}: another writer moved it first; it {where}"
            raise TransitionConflict(msg, status, loc) from None
        return got

    def write_assign(
        self,
        state: TaskState,
        worker_id: str,
        assignment_id: str,
        *,
        source: str,
        actor: str,
        now: datetime,
        arm: str,
        loc: Sequence[str | int] = ("task_id",),
        **extra: str | None,
    ) -> TaskState:
        """An ``assign`` event and its ``assignments`` row (policy = the deciding arm), stored together."""
        plan = AssignOrder(state, worker_id, assignment_id, now, arm, extra.get("reason_code"), extra)
        got = self.write_assigns([plan], source=source, actor=actor, loc=loc, strict=True)
        return got[0]

    def write_assigns(
        self,
        orders: Sequence[AssignOrder],
        *,
        source: str,
        actor: str,
        loc: Sequence[str | int] = ("task_id",),
        strict: bool = False,
    ) -> list[TaskState]:
        """Several assignments in one transaction (events + ``assignments`` rows), then one refresh.

        Orders the state no longer allows are skipped (``strict``: 409 instead); when another writer
        moved one of the tasks meanwhile, the batch is retried order by order, so only that one is lost.
        """
        built: list[tuple[TaskEvent, TaskState, dict[str, Any]]] = []
        for o in orders:
            extra = {k: v for k, v in o.extra.items() if k != "reason_code"}
            event = TaskEvent(
                self.book.next_event_id(o.state.task_id),
                o.state.task_id,
                "assign",
                o.at,
                actor,
                source,
                assignment_id=o.assignment_id,
                worker_id=o.worker_id,
                arm=o.arm,
                reason_code=o.reason_code,
                **extra,
            )
            got = apply(o.state, event)
            if isinstance(got, IllegalTransition):
                if strict:
                    raise TransitionConflict(got.message, got.current, loc)
                continue
            row = {
                "assignment_id": o.assignment_id,
                "task_id": o.state.task_id,
                "worker_id": o.worker_id,
                "assigned_at": o.at,
                "policy": o.arm,
            }
            built.append((event, got, row))
        if not built:
            return []
        try:
            events.append_many(
                self.engine.settings,
                {
                    "task_events": pd.DataFrame([event_row(e) for e, _, _ in built]),
                    "assignments": pd.DataFrame([r for _, _, r in built]),
                },
            )
        except StoreConflict:
            self.book.refresh()
            if len(built) == 1:
                event = built[0][0]
                now = self.book.state(event.task_id)
                status = None if now is None else now.status
                where = "does not exist" if status is None else f"is now {status.value}"
                msg = f"cannot assign task {event.task_id}: another writer moved it first; it {where}"
                raise TransitionConflict(msg, status, loc) from None
            out = []
            for o in orders:  # one by one: only the orders another writer overtook are lost
                fresh = self.book.state(o.state.task_id)
                if fresh is None:
                    continue
                retry = AssignOrder(fresh, o.worker_id, o.assignment_id, o.at, o.arm, o.reason_code, o.extra)
                with contextlib.suppress(TransitionConflict):
                    out += self.write_assigns([retry], source=source, actor=actor, loc=loc)
            return out
        self.book.refresh()
        return [st for _, st, _ in built]

    def new_assignment_id(self, task_id: str) -> str:
        return f"A-{task_id}-{self.book.next_event_id(task_id).rsplit('#', 1)[1]}"

    # -- POST /assignments ------------------------------------------------------------------------
    def commit(self, req: ls.AssignmentIn, *, actor: str) -> ls.AssignmentOut:
        eng = self.engine
        eng.require_ready()
        state = self.book.state(req.task_id)
        if state is None:
            raise not_found("task", req.task_id, ["task_id"])
        pool = eng.runtime.profiles.snapshot()
        for name in ("worker_id", "ranked_worker_id"):
            wid = getattr(req, name)
            if wid is not None and wid not in pool.index:
                raise not_found("worker", wid, [name])
        overridden = req.ranked_worker_id is not None and req.ranked_worker_id != req.worker_id
        if overridden and req.source != "person":
            msg = "only source 'person' may choose another worker than ranked_worker_id"
            raise ApiError(422, msg, ["source"], kind="rule_violation")
        if overridden and req.override_reason is None:
            msg = f"choosing {req.worker_id} over the top-ranked {req.ranked_worker_id} needs override_reason"
            raise ApiError(422, msg, ["override_reason"], kind="rule_violation")
        if req.assignment_id is not None:
            known = self.book.assignment(req.assignment_id)
            if known is not None:
                return self._duplicate(known, state, req)
        if state.status not in WAITING:
            msg = f"cannot assign task {req.task_id}: it is {state.status.value}; only a waiting task is"
            msg += " assigned"
            raise TransitionConflict(msg, state.status, ["task_id"])
        _, policy = eng.policy()
        w = pool.index[req.worker_id]
        task_type = self.book.light_record(req.task_id).task_type
        levels = int(pool.skills[w, pool.type_column(task_type)])
        need = policy.min_skill_level.get(task_type, 1)  # type: ignore[call-overload]
        if not pool.active[w] or levels < need:
            why = (
                "is inactive" if not pool.active[w] else f"lacks skill {task_type} (level {levels} < {need})"
            )
            raise ApiError(422, f"worker {req.worker_id} {why}", ["worker_id"], kind="ineligible_worker")
        now = eng.clock()
        arm = arm_at(policy.experiment, now, self.book.light_record(req.task_id).province_id).arm
        aid = req.assignment_id or self.new_assignment_id(req.task_id)
        self.write_assign(
            state,
            req.worker_id,
            aid,
            source=req.source,
            actor=actor,
            now=now,
            arm=arm,
            ranked_worker_id=req.ranked_worker_id,
            override_reason=req.override_reason,
            note=req.note,
        )
        return ls.AssignmentOut(
            assignment_id=aid,
            task_id=req.task_id,
            worker_id=req.worker_id,
            status="assigned",
            source=req.source,
            arm=arm,
            at=now,
        )

    def _duplicate(self, known: Any, state: TaskState, req: ls.AssignmentIn) -> ls.AssignmentOut:
        same = known.task_id == req.task_id and known.worker_id == req.worker_id
        if same and state.assignment_id == known.assignment_id:
            return ls.AssignmentOut(
                assignment_id=known.assignment_id,
                task_id=known.task_id,
                worker_id=known.worker_id,
                status=state.status.value,
                source=req.source,
                arm=known.policy,
                at=known.at,
                duplicate=True,
            )
        msg = (
            f"assignment {known.assignment_id} is task {known.task_id} to {known.worker_id}"
            + ("" if same else f", not task {req.task_id} to {req.worker_id}")
            + ("" if state.assignment_id == known.assignment_id else "; it is no longer in force")
        )
        raise TransitionConflict(msg, state.status, ["assignment_id"])

    # -- accept / reject / start ------------------------------------------------------------------
    def step(
        self, assignment_id: str, kind: str, *, actor: str, note: str | None, reason_code: str | None = None
    ) -> ls.AssignmentStep:
        known = self.book.assignment(assignment_id)
        if known is None:
            raise not_found("assignment", assignment_id, ["path", "assignment_id"])
        state = self.book.state(known.task_id)
        now = self.engine.clock()
        event = TaskEvent(
            self.book.next_event_id(known.task_id),
            known.task_id,
            kind,
            now,
            actor,
            "worker",
            assignment_id=assignment_id,
            worker_id=known.worker_id,
            reason_code=reason_code,
            note=note,
        )
        got = self.transition(state, event, ["path", "assignment_id"])
        self.book.refresh()
        return ls.AssignmentStep(
            assignment_id=assignment_id,
            task_id=known.task_id,
            worker_id=known.worker_id,
            status=got.status.value,
            at=now,
        )

    # -- completions from /outcomes ---------------------------------------------------------------
    def close(self, completions: pd.DataFrame, *, actor: str) -> int:
        """A ``complete`` event for each newly completed task held by a worker (one transaction; one by
        one only when another writer moved one meanwhile); returns how many."""
        self.book.refresh()
        built: list[tuple[TaskState, TaskEvent]] = []
        for row in completions.to_dict("records"):
            tid = str(row["task_id"])
            state = self.book.held_state(tid)
            if state is None or state.status not in HELD:
                continue  # the task book closes it from the completion row itself
            at = max(pd.Timestamp(row["completed_at"]).to_pydatetime(), state.since)
            event = TaskEvent(
                self.book.next_event_id(tid),
                tid,
                "complete",
                at,
                actor,
                "outcomes",
                assignment_id=state.assignment_id,
                note=None if str(row["worker_id"]) == state.worker_id else f"completed by {row['worker_id']}",
            )
            if not isinstance(apply(state, event), IllegalTransition):
                built.append((state, event))
        if not built:
            return 0
        try:
            events.append(self.engine.settings, "task_events", pd.DataFrame([event_row(e) for _, e in built]))
            closed = len(built)
        except StoreConflict:
            self.book.refresh()
            closed = 0
            for state, event in built:
                fresh = self.book.held_state(state.task_id)
                if fresh is None or fresh.since != state.since:
                    continue  # moved by another writer: its completion row still closes it
                with contextlib.suppress(TransitionConflict):
                    self.transition(fresh, event, ["completions"])
                    closed += 1
        self.book.refresh()
        return closed
