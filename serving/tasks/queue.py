"""The queue: intake of new tasks (``POST /tasks``) and the queue's reads (``GET /tasks``, ``GET
/tasks/{id}``), each task with its P(complaint) before assignment and its urgency level.

Intake is contract-validated and idempotent; each new task gets its ``create`` event and is scored on
arrival. Tasks not scored yet (history tasks, a restart, models loaded late) are scored when listed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from opsmatch import events
from opsmatch.event_store import StoreConflict
from serving.api import task_schemas as ls
from serving.errors import ApiError, rules_beyond_schema
from serving.matching.urgency import NAMES, level
from serving.risk.arrival import ArrivalRisk
from serving.risk.reasons import tiers
from serving.state.ingestion import ingest_rows
from serving.tasks.book import TaskBook, event_row, light
from serving.tasks.dispatch import not_found
from serving.tasks.lifecycle import FINAL, HELD, WAITING, Status, TaskEvent, TaskState

if TYPE_CHECKING:
    from serving.runtime.context import Context

log = logging.getLogger("opsmatch.serving")
LAZY_SCORE_MAX = 500  # tasks of a queue page scored when listed (P(complaint) not yet known)

STATUS_SETS: dict[str, frozenset[Status]] = {
    "waiting": WAITING,
    "held": HELD,
    "open": WAITING | HELD,
    **{st.value: frozenset({st}) for st in Status},
}


class TaskQueue:
    """Intake and the queue's views over the task book."""

    def __init__(self, engine: Context, book: TaskBook) -> None:
        self.engine, self.book = engine, book
        self.arrival = ArrivalRisk(engine.store)  # the first score of a task, shared by every worker

    # -- POST /tasks ------------------------------------------------------------------------------
    def intake(
        self, req: ls.TasksIn, *, actor: str, notes: Mapping[str, str] | None = None
    ) -> ls.TasksReceipt:
        """``notes``: task id -> the create event's note (a proactive return visit's guidance)."""
        eng = self.engine
        eng.limit(len(req.tasks), eng.config.max_batch_tasks, "tasks", "tasks")
        now = eng.clock()
        rows = [r.model_dump() for r in req.tasks]
        with rules_beyond_schema():
            got = ingest_rows(
                "tasks", rows, field="tasks", events=eng.settings, now=now, validate=eng.validate_rows
            )
        self.book.refresh()
        for tid in got.new_rows["task_id"].astype(str):
            note = (notes or {}).get(tid)
            event = TaskEvent(self.book.next_event_id(tid), tid, "create", now, actor, "intake", note=note)
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
        if todo:  # scored by another worker (or before a restart): its number, not a new one
            self.book.risk.update(self.arrival.lookup(todo))
            todo = [t for t in todo if t not in self.book.risk]
        scorer = self.engine.runtime.scorer
        if not todo or not scorer.ready():
            return
        records = self.book.records(todo)
        got = [records[t] for t in todo if t in records]
        if got:
            prob = np.asarray(scorer.complaint_risk(got, now=now).prob, dtype=float)
            scored = {r.task_id: float(p) for r, p in zip(got, prob, strict=True)}
            self.book.risk.update(self.arrival.record(scored, now))

    def _score_quietly(self, ids: list[str], now: datetime) -> None:
        """Score what was not scored on arrival (history tasks, a restart, models loaded late); a
        failure leaves ``p_complaint`` null rather than failing the listing."""
        try:
            self._score(ids, now)
        except Exception as exc:  # noqa: BLE001 - the queue answers without the score
            log.warning("could not score queued tasks: %s: %s", type(exc).__name__, exc)

    def _tier(self, p: float | None) -> str | None:
        if p is None:
            return None
        return str(tiers(np.array([p]), self.engine.policy()[1].risk_tiers)[0])

    # -- GET /tasks, GET /tasks/{id} --------------------------------------------------------------
    def task_out(
        self, state: TaskState, now: datetime, near_hours: float, row: dict[str, Any] | None = None
    ) -> ls.TaskOut:
        rec = self.book.light_record(state.task_id) if row is None else light(row)
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
            urgency=NAMES[level(hours * 3600.0, near_hours)],
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
        wanted = frozenset(Status) if status is None else STATUS_SETS[status]
        states = self.book.states(wanted - FINAL) if wanted - FINAL else []
        rows = {st.task_id: self.book.row(st.task_id) for st in states}
        closed_total = 0
        if wanted & FINAL:  # closed tasks: one page from the store (the book holds the open work)
            old, closed_total = self.book.closed(
                province_id=province_id,
                task_type=task_type,
                created_after=created_after,
                sort=sort,
                limit=limit,
            )
            states += [st for st, _ in old if st.status in wanted]
            rows.update({st.task_id: row for st, row in old})
        picked = []
        for st in states:
            row = rows.get(st.task_id)
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
        page = picked[:limit]
        self._score_quietly([st.task_id for st, _ in page[:LAZY_SCORE_MAX]], now)
        out = [self.task_out(st, now, near, row) for st, row in page]
        open_total = sum(1 for st, _ in picked if st.status not in FINAL)
        return ls.TaskList(count=len(out), total=open_total + closed_total, tasks=out)

    def get_task(self, task_id: str) -> ls.TaskDetail:
        state = self.book.state(task_id)
        if state is None:
            raise not_found("task", task_id, ["path", "task_id"])
        near = self.engine.policy()[1].dispatch.sla_near_hours
        self._score_quietly([task_id], self.engine.clock())
        out = self.task_out(state, self.engine.clock(), near)
        history = [ls.TaskEventOut(**event_row(e)) for e in self.book.history(task_id)]
        return ls.TaskDetail(**out.model_dump(), history=history)
