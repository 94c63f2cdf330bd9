"""Every task's lifecycle state, held in memory and rebuilt from the event store.

The state of a task is derived (:func:`derive`) from what the store holds about it: its ``tasks`` row,
the ``assignments`` rows the lifecycle did not write (the history's dispatch decisions), its
``completions`` row and its ``task_events``. History tasks without events start as the API says
(done if completed, else assigned to their latest assignment, else pending); the events are folded
on top (``serving.lifecycle.replay``), and a completion stored without its ``complete`` event (an
``opsmatch ingest``) closes the task. The book reads each table once, then only the rows stored after
the version it holds whenever the table's version moved (this process's writes and every other
writer's alike), and re-derives the tasks those rows touch.

Transitions are optimistic across processes: the ``n``-th event of a task has the id
``f"{task_id}#{n}"`` (:meth:`TaskBook.next_event_id`), so two writers applying the next transition
of the same task collide on the store's key and the loser gets ``StoreConflict``.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from opsmatch import events
from serving.lifecycle import IllegalTransition, Status, TaskEvent, TaskState, apply
from serving.protocols import TaskRecord

if TYPE_CHECKING:
    from opsmatch.settings import Settings

log = logging.getLogger("opsmatch.serving")
READ: tuple[str, ...] = ("tasks", "assignments", "completions", "task_events")
Enrich = Callable[[Sequence[TaskRecord]], list[TaskRecord]]


@dataclass
class TaskFacts:
    """What the store holds about one task."""

    row: dict[str, Any] | None = None
    assignments: list[dict[str, Any]] = field(default_factory=list)  # in append order
    completion: dict[str, Any] | None = None
    events: list[TaskEvent] = field(default_factory=list)  # in append order


@dataclass(frozen=True)
class Assignment:
    """One assignment as the book knows it (for ``/assignments/{id}`` and idempotency)."""

    assignment_id: str
    task_id: str
    worker_id: str
    at: datetime
    policy: str | None


def _ts(value: Any) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def base_state(facts: TaskFacts) -> TaskState | None:
    """The state before the first event: pending, or assigned to the latest history assignment."""
    if facts.row is None:
        return None
    created = _ts(facts.row["created_at"])
    if facts.events and facts.events[0].kind == "create":
        return None
    lifecycle = {e.assignment_id for e in facts.events if e.kind == "assign"}
    history = [a for a in facts.assignments if a["assignment_id"] not in lifecycle]
    tid = str(facts.row["task_id"])
    if not history:
        return TaskState(tid, Status.PENDING, created, created_at=created)
    last = history[-1]
    at = _ts(last["assigned_at"])
    return TaskState(
        tid,
        Status.ASSIGNED,
        at,
        created_at=created,
        assignment_id=str(last["assignment_id"]),
        worker_id=str(last["worker_id"]),
        assigned_at=at,
        arm=None if pd.isna(last["policy"]) else str(last["policy"]),
        assignments=len(history),
    )


def derive(facts: TaskFacts) -> TaskState | None:
    """The task's state now (see the module docstring); None when the store has no row of it."""
    state = base_state(facts)
    for event in facts.events:
        got = apply(state, event)
        if isinstance(got, IllegalTransition):  # another writer's stale event: skipped, not fatal
            log.warning("task_events %s skipped: %s", event.event_id, got.message)
            continue
        state = got
    if state is None:
        return None
    if facts.row is not None:
        state = replace(state, created_at=_ts(facts.row["created_at"]))
    closed = any(e.kind == "complete" for e in facts.events)
    if facts.completion is not None and not closed and state.status is not Status.DONE:
        at = max(_ts(facts.completion["completed_at"]), state.since)
        state = replace(state, status=Status.DONE, since=at)
    return state


def event_from_row(row: dict[str, Any]) -> TaskEvent:
    """A ``task_events`` row as a TaskEvent (nulls as None)."""
    clean: dict[str, Any] = {
        k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in row.items()
    }
    clean["at"] = _ts(clean["at"])
    return TaskEvent(**clean)


def event_row(event: TaskEvent) -> dict[str, Any]:
    """A TaskEvent as a ``task_events`` row."""
    return {k: getattr(event, k) for k in events.spec("task_events").column_names}


class TaskBook:
    """See the module docstring. Thread-safe; loads lazily on first use."""

    def __init__(self, where: Settings | str | Path, enrich: Enrich | None = None) -> None:
        self.where = where
        self.enrich = enrich
        self._facts: dict[str, TaskFacts] = defaultdict(TaskFacts)
        self._states: dict[str, TaskState] = {}
        self._assignments: dict[str, Assignment] = {}
        self._records: dict[str, TaskRecord] = {}
        self._versions: dict[str, int] = {}
        self._lock = threading.RLock()
        self.risk: dict[str, float] = {}  # P(complaint) scored on arrival by this process
        self.reads = 0

    # -- loading ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the rows stored since the held versions and re-derive the tasks they touch."""
        with self._lock:
            touched: set[str] = set()
            for table in READ:
                version = events.table_version(self.where, table)
                since = self._versions.get(table, 0)
                if version == since:
                    continue
                frame = events.read_table(self.where, table, version=version, since=since)
                self.reads += 1
                rows: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
                touched |= self._fold(table, rows)
                self._versions[table] = version
            for tid in touched:
                state = derive(self._facts[tid])
                if state is not None:
                    self._states[tid] = state
                self._records.pop(tid, None)

    def _fold(self, table: str, rows: list[dict[str, Any]]) -> set[str]:
        for row in rows:
            facts = self._facts[str(row["task_id"])]
            if table == "tasks":
                facts.row = row
            elif table == "assignments":
                facts.assignments.append(row)
                aid = str(row["assignment_id"])
                self._assignments[aid] = Assignment(
                    aid,
                    str(row["task_id"]),
                    str(row["worker_id"]),
                    _ts(row["assigned_at"]),
                    None if pd.isna(row["policy"]) else str(row["policy"]),
                )
            elif table == "completions":
                facts.completion = row
            else:
                event = event_from_row(row)
                facts.events.append(event)
                if event.kind == "assign" and event.assignment_id and event.worker_id:
                    self._assignments.setdefault(
                        event.assignment_id,
                        Assignment(event.assignment_id, event.task_id, event.worker_id, event.at, event.arm),
                    )
        return {str(r["task_id"]) for r in rows}

    # -- reads --------------------------------------------------------------------------------------
    def state(self, task_id: str) -> TaskState | None:
        self.refresh()
        return self._states.get(task_id)

    def states(self, statuses: Iterable[Status] | None = None) -> list[TaskState]:
        """Every known task's state (those in ``statuses`` when given)."""
        self.refresh()
        wanted = None if statuses is None else set(statuses)
        with self._lock:
            return [s for s in self._states.values() if wanted is None or s.status in wanted]

    def held_state(self, task_id: str) -> TaskState | None:
        """The state from the events alone, as if its completion row were not stored yet (what a
        ``complete`` event applies to)."""
        self.refresh()
        facts = self._facts.get(task_id)
        return None if facts is None else derive(replace(facts, completion=None))

    def row(self, task_id: str) -> dict[str, Any] | None:
        """The stored ``tasks`` row (as of the last refresh; loads the book on first use)."""
        if not self._versions:
            self.refresh()
        facts = self._facts.get(task_id)
        return None if facts is None else facts.row

    def history(self, task_id: str) -> list[TaskEvent]:
        self.refresh()
        facts = self._facts.get(task_id)
        return [] if facts is None else sorted(facts.events, key=lambda e: e.at)

    def assignment(self, assignment_id: str) -> Assignment | None:
        self.refresh()
        return self._assignments.get(assignment_id)

    def next_event_id(self, task_id: str) -> str:
        """The id the next transition of ``task_id`` must take (see the module docstring)."""
        facts = self._facts.get(task_id)
        return f"{task_id}#{(len(facts.events) if facts else 0) + 1}"

    def held_by_worker(self) -> dict[str, int]:
        """Open assignments (assigned, accepted, started) per worker."""
        out: dict[str, int] = defaultdict(int)
        for st in self.states({Status.ASSIGNED, Status.ACCEPTED, Status.STARTED}):
            if st.worker_id:
                out[st.worker_id] += 1
        return dict(out)

    def light_record(self, task_id: str) -> TaskRecord:
        """The stored row as a TaskRecord without features (what the monitor's decisions read)."""
        row = self.row(task_id)
        if row is None:
            raise KeyError(task_id)
        return TaskRecord(
            task_id=str(row["task_id"]),
            task_type=str(row["task_type"]),
            province_id=str(row["province_id"]),
            created_at=_ts(row["created_at"]),
            sla_due_at=_ts(row["sla_due_at"]),
            complexity=int(row["complexity"]),
            customer_id=None if pd.isna(row["customer_id"]) else str(row["customer_id"]),
            channel=None if pd.isna(row["channel"]) else str(row["channel"]),
            amount=None if pd.isna(row["amount"]) else float(row["amount"]),
        )

    def records(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]:
        """Full TaskRecords (the runtime's ``enrich`` of the stored rows) of the known ids."""
        self.refresh()
        with self._lock:
            todo = [t for t in task_ids if t not in self._records and self.row(t) is not None]
        if todo:
            light = [self.light_record(t) for t in todo]
            full = self.enrich(light) if self.enrich is not None else light
            with self._lock:
                self._records.update({r.task_id: r for r in full})
        return {t: self._records[t] for t in task_ids if t in self._records}
