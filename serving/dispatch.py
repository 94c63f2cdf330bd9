"""The task lifecycle endpoints: intake, the queue, committed assignments and the worker's answers.

Each endpoint validates, decides with the pure state machine (``serving.lifecycle.apply``) on the
task book's state (``serving.task_book``), then appends the event (its id ``task#n`` is the
optimistic lock: a concurrent writer's transition collides on it) and the contract rows to the event
store. Unknown ids are 404 naming them; illegal transitions 409 with the current state; a duplicate
(same assignment id for the same task and worker) changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from opsmatch import events
from opsmatch.event_store import StoreConflict
from serving import lifecycle_schemas as ls
from serving.errors import ApiError, error_body, rules_beyond_schema
from serving.ingestion import ingest_rows
from serving.lifecycle import HELD, WAITING, IllegalTransition, Status, TaskEvent, TaskState, apply
from serving.risk import tiers
from serving.switchback import arm_at
from serving.task_book import TaskBook, event_row

if TYPE_CHECKING:
    from serving.engine import Engine

STATUS_SETS: dict[str, frozenset[Status]] = {
    "waiting": WAITING,
    "open": WAITING | HELD,
    **{st.value: frozenset({st}) for st in Status},
}


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

    def __init__(self, engine: Engine, book: TaskBook) -> None:
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
        """An ``assign`` event, then its ``assignments`` row (policy = the deciding arm)."""
        event = TaskEvent(
            self.book.next_event_id(state.task_id),
            state.task_id,
            "assign",
            now,
            actor,
            source,
            assignment_id=assignment_id,
            worker_id=worker_id,
            arm=arm,
            **extra,
        )
        got = self.transition(state, event, loc)
        row = {
            "assignment_id": assignment_id,
            "task_id": state.task_id,
            "worker_id": worker_id,
            "assigned_at": now,
            "policy": arm,
        }
        events.append(self.engine.settings, "assignments", pd.DataFrame([row]))
        self.book.refresh()
        return got

    def new_assignment_id(self, task_id: str) -> str:
        return f"A-{task_id}-{self.book.next_event_id(task_id).rsplit('#', 1)[1]}"

    # -- POST /tasks ------------------------------------------------------------------------------
    def intake(self, req: ls.TasksIn, *, actor: str) -> ls.TasksReceipt:
        eng = self.engine
        eng._limit(len(req.tasks), eng.config.max_batch_tasks, "tasks", "tasks")
        now = eng.clock()
        rows = [r.model_dump() for r in req.tasks]
        with rules_beyond_schema():
            got = ingest_rows(
                "tasks", rows, field="tasks", events=eng.settings, now=now, validate=eng.validate_rows
            )
        self.book.refresh()
        for tid in got.new_rows["task_id"].astype(str):
            event = TaskEvent(self.book.next_event_id(tid), tid, "create", now, actor, "intake")
            if not self.book.history(tid):
                with contextlib.suppress(StoreConflict):  # another writer created it at the same moment
                    events.append(eng.settings, "task_events", pd.DataFrame([event_row(event)]))
        self.book.refresh()
        ids = list(dict.fromkeys(str(r["task_id"]) for r in rows))
        self._score(ids, now)
        receipts = []
        for tid in ids:
            state = self.book.state(tid)
            p = self.book.risk.get(tid)
            receipts.append(
                ls.TaskReceipt(
                    task_id=tid,
                    status=state.status.value if state else "pending",
                    p_complaint=None if p is None else round(p, 6),
                    risk_tier=self._tier(p),
                )
            )
        eng.store.audit("tasks", actor, None, {"received": got.received, "new": got.new}, now)
        return ls.TasksReceipt(received=got.received, new=got.new, duplicates=got.duplicates, tasks=receipts)

    def _score(self, ids: list[str], now: datetime) -> None:
        """P(complaint) before assignment of the tasks not yet scored (nothing when models are not ready)."""
        todo = [t for t in ids if t not in self.book.risk]
        scorer = self.engine.runtime.scorer
        if not todo or not scorer.ready():
            return
        records = self.book.records(todo)
        got = [records[t] for t in todo if t in records]
        if got:
            prob = np.asarray(scorer.complaint_risk(got, now=now).prob, dtype=float)
            self.book.risk.update({r.task_id: float(p) for r, p in zip(got, prob, strict=True)})

    def _tier(self, p: float | None) -> str | None:
        if p is None:
            return None
        return str(tiers(np.array([p]), self.engine.policy()[1].risk_tiers)[0])

    # -- GET /tasks, GET /tasks/{id} --------------------------------------------------------------
    def task_out(self, state: TaskState, now: datetime, near_hours: float) -> ls.TaskOut:
        rec = self.book.light_record(state.task_id)
        hours = (rec.sla_due_at - now).total_seconds() / 3600.0
        p = self.book.risk.get(state.task_id)
        return ls.TaskOut(
            task_id=rec.task_id,
            status=state.status.value,
            task_type=rec.task_type,
            province_id=rec.province_id,
            customer_id=rec.customer_id,
            created_at=rec.created_at,
            sla_due_at=rec.sla_due_at,
            hours_to_sla=round(hours, 4),
            urgency="overdue" if hours < 0 else "near_sla" if hours < near_hours else "normal",
            complexity=rec.complexity,
            channel=rec.channel,
            amount=rec.amount,
            since=state.since,
            assignment_id=state.assignment_id,
            worker_id=state.worker_id,
            assignments=state.assignments,
            p_complaint=None if p is None else round(p, 6),
            risk_tier=self._tier(p),
        )

    def list_tasks(
        self,
        status: str | None,
        province_id: str | None,
        task_type: str | None,
        created_after: datetime | None,
        sort: str,
        limit: int,
    ) -> ls.TaskList:
        eng = self.engine
        if limit > 10_000:
            raise ApiError(400, f"limit is at most 10000 (got {limit})", ["query", "limit"], kind="too_many")
        states = self.book.states(None if status is None else STATUS_SETS[status])
        picked = []
        for st in states:
            row = self.book.row(st.task_id)
            if row is None:
                continue
            if province_id is not None and row["province_id"] != province_id:
                continue
            if task_type is not None and row["task_type"] != task_type:
                continue
            if created_after is not None and pd.Timestamp(row["created_at"]) <= pd.Timestamp(created_after):
                continue
            picked.append((st, row))
        key = sort.lstrip("-")
        picked.sort(key=lambda p: (pd.Timestamp(p[1][key]), p[0].task_id), reverse=sort.startswith("-"))
        now = eng.clock()
        near = eng.policy()[1].dispatch.sla_near_hours
        out = [self.task_out(st, now, near) for st, _ in picked[:limit]]
        return ls.TaskList(count=len(out), total=len(picked), tasks=out)

    def get_task(self, task_id: str) -> ls.TaskDetail:
        state = self.book.state(task_id)
        if state is None:
            raise not_found("task", task_id, ["path", "task_id"])
        near = self.engine.policy()[1].dispatch.sla_near_hours
        out = self.task_out(state, self.engine.clock(), near)
        history = [ls.TaskEventOut(**event_row(e)) for e in self.book.history(task_id)]
        return ls.TaskDetail(**out.model_dump(), history=history)

    # -- POST /assignments ------------------------------------------------------------------------
    def commit(self, req: ls.AssignmentIn, *, actor: str) -> ls.AssignmentOut:
        eng = self.engine
        eng._require_ready()
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
        """A ``complete`` event for each newly completed task held by a worker; returns how many."""
        self.book.refresh()
        closed = 0
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
            try:
                self.transition(state, event, ["completions"])
                closed += 1
            except TransitionConflict:
                continue
        self.book.refresh()
        return closed
