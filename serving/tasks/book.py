"""Every task's lifecycle state, held in memory and rebuilt from the event store.

The state of a task is derived (:func:`derive`) from what the store holds about it: its ``tasks`` row,
the ``assignments`` rows the lifecycle did not write (the history's dispatch decisions), its
``completions`` row and its ``task_events``. History tasks without events start as the API says
(done if completed, else assigned to their latest assignment, else pending); the events are folded
on top (``serving.tasks.lifecycle.replay``), and a completion stored without its ``complete`` event (an
``opsmatch ingest``) closes the task. The book reads each table once, then only the rows stored after
the version it holds whenever the table's version moved (this process's writes and every other
writer's alike), and re-derives the tasks those rows touch. The open tasks (not done, not cancelled)
are also held apart, with what the national board counts of them (:class:`OpenTask`), so the queue's
reads and the board walk the open tasks only, and both follow this one rule.

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

from opsmatch import event_store as es
from opsmatch import events
from serving.protocols import TaskRecord
from serving.tasks.lifecycle import FINAL, IllegalTransition, Status, TaskEvent, TaskState, apply

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
class OpenTask:
    """One open task as the national board counts it (times in µs since the epoch)."""

    province_id: str
    task_type: str
    created_us: int
    sla_due_us: int
    status: str
    since_us: int
    worker_id: str | None = None


@dataclass(frozen=True)
class Assignment:
    """One assignment as the book knows it (for ``/assignments/{id}`` and idempotency)."""

    assignment_id: str
    task_id: str
    worker_id: str
    at: datetime
    policy: str | None


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime) and not isinstance(value, pd.Timestamp):
        return value
    return pd.Timestamp(value).to_pydatetime()


def _us(value: Any) -> int:
    """A stored time as µs since the epoch."""
    return int(pd.Timestamp(value).value // 1000)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # None or NaN


def read_rows(where: Settings | str | Path, table: str, version: int, since: int) -> list[dict[str, Any]]:
    """The rows stored in ``(since, version]`` as dicts of Python values (timestamps UTC-aware), built
    column by column from Arrow (``DataFrame.to_dict`` costs seconds on a busy store)."""
    arrow = events.read_arrow(where, table, version=version, since=since)
    cols: dict[str, list[Any]] = {}
    for c in events.spec(table).columns:
        a = arrow.column(c.name).cast(es.ARROW_TYPES[c.dtype])
        if c.dtype == "timestamp":
            stamps = pd.DatetimeIndex(pd.to_datetime(a.to_pandas(), unit="us", utc=True))
            cols[c.name] = [None if pd.isna(t) else t for t in stamps.to_pydatetime()]
        else:
            cols[c.name] = a.to_pylist()
    names = list(cols)
    return [dict(zip(names, values, strict=True)) for values in zip(*cols.values(), strict=True)]


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
        arm=None if _missing(last["policy"]) else str(last["policy"]),
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
    created = _ts(facts.row["created_at"]) if facts.row is not None else state.created_at
    if created != state.created_at:
        state = replace(state, created_at=created)
    closed = any(e.kind == "complete" for e in facts.events)
    if facts.completion is not None and not closed and state.status is not Status.DONE:
        at = max(_ts(facts.completion["completed_at"]), state.since)
        state = replace(state, status=Status.DONE, since=at)
    return state


def event_from_row(row: dict[str, Any]) -> TaskEvent:
    """A ``task_events`` row as a TaskEvent (nulls as None)."""
    clean: dict[str, Any] = {k: (None if _missing(v) else v) for k, v in row.items()}
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
        self._open: dict[str, TaskState] = {}  # the states not in FINAL
        self._board: dict[str, OpenTask] = {}  # the same tasks, as the board counts them
        self._assignments: dict[str, Assignment] = {}
        self._records: dict[str, TaskRecord] = {}
        self._versions: dict[str, int] = {}
        self._store_version = -1
        self._lock = threading.RLock()
        self.risk: dict[str, float] = {}  # P(complaint) scored on arrival by this process
        self.reads = 0

    # -- loading ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the rows stored since the held versions and re-derive the tasks they touch."""
        with self._lock:
            now = events.current_version(self.where)  # one probe when nothing moved anywhere
            if self._versions and now == self._store_version:
                return
            touched: set[str] = set()
            for table in READ:
                version = events.table_version(self.where, table)
                since = self._versions.get(table, 0)
                if version == since:
                    continue
                self.reads += 1
                touched |= self._fold(table, read_rows(self.where, table, version, since))
                self._versions[table] = version
            for tid in touched:
                state = derive(self._facts[tid])
                if state is not None:
                    self._states[tid] = state
                    self._track_open(tid, state)
                self._records.pop(tid, None)
            self._store_version = now

    def _track_open(self, task_id: str, state: TaskState) -> None:
        row = self._facts[task_id].row
        if state.status in FINAL or row is None:
            self._open.pop(task_id, None)
            self._board.pop(task_id, None)
            return
        self._open[task_id] = state
        self._board[task_id] = OpenTask(
            str(row["province_id"]),
            str(row["task_type"]),
            _us(row["created_at"]),
            _us(row["sla_due_at"]),
            state.status.value,
            _us(state.since),
            state.worker_id,
        )

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
                    None if _missing(row["policy"]) else str(row["policy"]),
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

    def peek(self, task_id: str) -> TaskState | None:
        """The held state without asking the store whether it moved (a batch after one refresh)."""
        with self._lock:
            return self._states.get(task_id)

    def states(self, statuses: Iterable[Status] | None = None) -> list[TaskState]:
        """Every known task's state (those in ``statuses`` when given; open ones walk the open only)."""
        self.refresh()
        wanted = None if statuses is None else set(statuses)
        with self._lock:
            pool = self._open if wanted is not None and not wanted & FINAL else self._states
            return [s for s in pool.values() if wanted is None or s.status in wanted]

    def open_tasks(self) -> list[tuple[str, OpenTask]]:
        """The open tasks as the national board counts them."""
        self.refresh()
        with self._lock:
            return list(self._board.items())

    def times(self, task_id: str) -> tuple[int, int] | None:
        """(created, SLA due) of a stored task in µs since the epoch, as of the last refresh."""
        row = self.row(task_id)
        return None if row is None else (_us(row["created_at"]), _us(row["sla_due_at"]))

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
            customer_id=None if _missing(row["customer_id"]) else str(row["customer_id"]),
            channel=None if _missing(row["channel"]) else str(row["channel"]),
            amount=None if _missing(row["amount"]) else float(row["amount"]),
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
