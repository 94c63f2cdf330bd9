"""Every open task's lifecycle state, held in memory and rebuilt from the event store.

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

Memory is bounded by the open work, not the history: the book starts from the open tasks alone (the
store finds them through its indexes, :mod:`serving.tasks.store`) and holds a task once closed only
within a window of the ``keep_closed`` most recently closed (what a completion's ``complete`` event or
the board's next read still asks about). Anything else (an older task's state, history, row or
assignment, a page of closed tasks) is read from the store by indexed queries when asked, as of the
versions the book holds.

Transitions are optimistic across processes: the ``n``-th event of a task has the id
``f"{task_id}#{n}"`` (:meth:`TaskBook.next_event_id`), so two writers applying the next transition
of the same task collide on the store's key and the loser gets ``StoreConflict``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from opsmatch import events
from serving.protocols import TaskRecord
from serving.tasks import store as task_store
from serving.tasks.lifecycle import FINAL, IllegalTransition, Status, TaskEvent, TaskState, apply

if TYPE_CHECKING:
    from opsmatch.settings import Settings

log = logging.getLogger("opsmatch.serving")
READ: tuple[str, ...] = ("tasks", "assignments", "completions", "task_events")
Enrich = Callable[[Sequence[TaskRecord]], list[TaskRecord]]
KEEP_CLOSED = 5_000  # recently closed tasks held (see the module docstring)


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
    """The rows stored in ``(since, version]`` as dicts of Python values (timestamps UTC-aware)."""
    return task_store.arrow_rows(table, events.read_arrow(where, table, version=version, since=since))


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

    def __init__(
        self, where: Settings | str | Path, enrich: Enrich | None = None, keep_closed: int = KEEP_CLOSED
    ) -> None:
        self.where = where
        self.enrich = enrich
        self.keep_closed = keep_closed
        self._facts: dict[str, TaskFacts] = {}  # the open tasks and the window of closed ones
        self._states: dict[str, TaskState] = {}
        self._open: dict[str, TaskState] = {}  # the states not in FINAL
        self._board: dict[str, OpenTask] = {}  # the same tasks, as the board counts them
        self._closed: OrderedDict[str, None] = OrderedDict()  # held closed tasks, oldest first
        self._assignments: dict[str, Assignment] = {}
        self._records: dict[str, TaskRecord] = {}
        self._light: dict[str, TaskRecord] = {}  # light records of held tasks (every /assign and sweep reads)
        self._versions: dict[str, int] = {}
        self._store_version = -1
        self._held: dict[str, int] | None = None  # held_by_worker, until a state changes
        self._lock = threading.RLock()
        self.risk: dict[str, float] = {}  # P(complaint) scored on arrival by this process (held tasks)
        self.reads = 0

    # -- loading ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the rows stored since the held versions and re-derive the tasks they touch (the first
        call reads the open tasks only)."""
        with self._lock:
            now = events.current_version(self.where)  # one probe when nothing moved anywhere
            if self._versions and now == self._store_version:
                return
            changed = events.tables_changed(self.where, max(self._store_version, 0))  # one query
            versions = {t: changed.get(t, self._versions.get(t, 0)) for t in READ}
            touched = self._follow(versions) if self._versions else self._start(versions)
            for tid in touched:
                self._derive(tid)
            self._trim()
            self._store_version = now

    def _start(self, versions: dict[str, int]) -> set[str]:
        """Hold the open tasks as of ``versions`` (what a restart loads)."""
        rows = task_store.open_task_rows(self.where, versions)
        self._versions = dict(versions)
        self.reads += 1
        for row in rows:
            self._facts[str(row["task_id"])] = TaskFacts(row=row)
        ids = list(self._facts)
        for table in ("assignments", "task_events"):  # an open task has no completion row
            self._fold(table, task_store.rows_for(self.where, table, ids, versions), self._facts)
        return set(ids)

    def _follow(self, versions: dict[str, int]) -> set[str]:
        """Fold the rows stored since the held versions; a task not held (closed before the window)
        that a new row touches is read whole from the store."""
        touched: set[str] = set()
        strangers: set[str] = set()
        for table in READ:
            since = self._versions.get(table, 0)
            if versions[table] == since:
                continue
            self.reads += 1
            rows = read_rows(self.where, table, versions[table], since)
            if table == "tasks":
                for row in rows:
                    self._facts.setdefault(str(row["task_id"]), TaskFacts())
            mine = [r for r in rows if str(r["task_id"]) in self._facts]
            strangers |= {str(r["task_id"]) for r in rows} - self._facts.keys()
            touched |= self._fold(table, mine, self._facts)
        self._versions = dict(versions)
        if strangers:
            got = self._fetch(sorted(strangers))
            self._facts.update({t: f for t, f in got.items() if f.row is not None or f.events})
            self._index_assignments(got.values())
            touched |= strangers & self._facts.keys()
        return touched

    def _derive(self, tid: str) -> None:
        self._held = None
        state = derive(self._facts[tid])
        if state is not None:
            self._states[tid] = state
            self._track_open(tid, state)
            if state.status in FINAL:
                self._closed[tid] = None
                self._closed.move_to_end(tid)
            else:
                self._closed.pop(tid, None)
        self._records.pop(tid, None)
        self._light.pop(tid, None)

    def _trim(self) -> None:
        """Forget the closed tasks beyond the window (the store answers for them)."""
        while len(self._closed) > self.keep_closed:
            tid, _ = self._closed.popitem(last=False)
            facts = self._facts.pop(tid, None)
            for aid in self._assignment_ids(facts):
                self._assignments.pop(aid, None)
            for held in (self._states, self._records, self._light, self.risk):
                held.pop(tid, None)
        if len(self.risk) > len(self._facts) + self.keep_closed:  # scores of pages of closed tasks
            for tid in [t for t in self.risk if t not in self._facts]:
                del self.risk[tid]

    @staticmethod
    def _assignment_ids(facts: TaskFacts | None) -> list[str]:
        if facts is None:
            return []
        ids = [str(a["assignment_id"]) for a in facts.assignments]
        return ids + [e.assignment_id for e in facts.events if e.kind == "assign" and e.assignment_id]

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

    def _fold(self, table: str, rows: list[dict[str, Any]], into: dict[str, TaskFacts]) -> set[str]:
        for row in rows:
            facts = into.setdefault(str(row["task_id"]), TaskFacts())
            if table == "tasks":
                facts.row = row
            elif table == "assignments":
                facts.assignments.append(row)
            elif table == "completions":
                facts.completion = row
            else:
                facts.events.append(event_from_row(row))
        touched = {str(r["task_id"]) for r in rows}
        if into is self._facts and table != "tasks":
            self._index_assignments(into[t] for t in touched)
        return touched

    def _index_assignments(self, facts: Iterable[TaskFacts]) -> None:
        for f in facts:
            self._assignments.update(assignments_of(f))

    def _fetch(self, task_ids: Sequence[str]) -> dict[str, TaskFacts]:
        """The facts of ``task_ids`` read from the store as of the held versions (indexed queries)."""
        got: dict[str, TaskFacts] = {}
        for table in READ:
            self._fold(table, task_store.rows_for(self.where, table, task_ids, self._versions), got)
        return got

    def _facts_of(self, task_id: str) -> TaskFacts | None:
        """The held facts, else the store's (not held: a closed task outside the window)."""
        if not self._versions:
            self.refresh()
        with self._lock:
            held = self._facts.get(task_id)
            if held is not None:
                return held
            return self._fetch([task_id]).get(task_id)

    # -- reads --------------------------------------------------------------------------------------
    def state(self, task_id: str) -> TaskState | None:
        self.refresh()
        with self._lock:
            if task_id in self._states:
                return self._states[task_id]
        facts = self._facts_of(task_id)
        return None if facts is None else derive(facts)

    def peek(self, task_id: str) -> TaskState | None:
        """The held state without asking the store whether it moved (a batch after one refresh)."""
        with self._lock:
            return self._states.get(task_id)

    def states(self, statuses: Iterable[Status] | None = None) -> list[TaskState]:
        """The held tasks' states (those in ``statuses`` when given): every open task, and the closed
        ones of the window only (:meth:`closed` pages through the others)."""
        self.refresh()
        wanted = None if statuses is None else set(statuses)
        with self._lock:
            pool = self._open if wanted is not None and not wanted & FINAL else self._states
            return [s for s in pool.values() if wanted is None or s.status in wanted]

    def closed(
        self,
        *,
        province_id: str | None = None,
        task_type: str | None = None,
        created_after: datetime | None = None,
        sort: str = "created_at",
        limit: int = 50,
    ) -> tuple[list[tuple[TaskState, dict[str, Any]]], int]:
        """(one page of closed tasks in ``sort`` order with their rows, read from the store, how many
        match)."""
        self.refresh()
        after = None if created_after is None else _us(created_after)
        with self._lock:
            versions, held_open = dict(self._versions), len(self._open)
        ids, total = task_store.closed_page(
            self.where,
            versions,
            province_id=province_id,
            task_type=task_type,
            created_after_us=after,
            sort=sort,
            limit=limit,
            open_count=held_open,
        )
        facts = self._fetch(ids)
        out = []
        for t in ids:
            f = facts.get(t)
            st = None if f is None or f.row is None else derive(f)
            if st is not None and f is not None and f.row is not None and st.status in FINAL:
                out.append((st, f.row))
        return out, total

    def open_tasks(self) -> list[tuple[str, OpenTask]]:
        """The open tasks as the national board counts them."""
        self.refresh()
        with self._lock:
            return list(self._board.items())

    def times(self, task_id: str) -> tuple[int, int] | None:
        """(created, SLA due) of a held task in µs since the epoch, as of the last refresh (None for a
        task not held: the caller asks the store for many at once)."""
        with self._lock:
            facts = self._facts.get(task_id)
        row = None if facts is None else facts.row
        return None if row is None else (_us(row["created_at"]), _us(row["sla_due_at"]))

    def held_state(self, task_id: str) -> TaskState | None:
        """The state from the events alone, as if its completion row were not stored yet (what a
        ``complete`` event applies to)."""
        self.refresh()
        facts = self._facts_of(task_id)
        return None if facts is None else derive(replace(facts, completion=None))

    def row(self, task_id: str) -> dict[str, Any] | None:
        """The stored ``tasks`` row (as of the last refresh; loads the book on first use)."""
        facts = self._facts_of(task_id)
        return None if facts is None else facts.row

    def history(self, task_id: str) -> list[TaskEvent]:
        """The task's events in time order (read from the store when the task is not held)."""
        self.refresh()
        facts = self._facts_of(task_id)
        return [] if facts is None else sorted(facts.events, key=lambda e: e.at)

    def assignment(self, assignment_id: str) -> Assignment | None:
        self.refresh()
        with self._lock:
            if assignment_id in self._assignments:
                return self._assignments[assignment_id]
            versions = dict(self._versions)
        rows = task_store.assignment_rows(self.where, [assignment_id], versions)
        if not rows:
            return None
        tid = str(rows[0]["task_id"])
        return assignments_of(self._facts_of(tid) or TaskFacts(assignments=rows)).get(assignment_id)

    def assignments(self, assignment_ids: Iterable[str]) -> dict[str, Assignment]:
        """The known ones of ``assignment_ids``: the held, and the rest in one indexed read (a batch of
        10,000 unknown ids one query each took minutes)."""
        self.refresh()
        wanted = set(assignment_ids)
        with self._lock:
            out = {a: self._assignments[a] for a in wanted if a in self._assignments}
            versions = dict(self._versions)
        rest = wanted - out.keys()
        by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in task_store.assignment_rows(self.where, sorted(rest), versions) if rest else []:
            by_task[str(row["task_id"])].append(row)
        for tid, rows in by_task.items():
            found = assignments_of(self._facts_of(tid) or TaskFacts(assignments=rows))
            out.update({a: found[a] for a in rest if a in found})
        return out

    def next_event_id(self, task_id: str) -> str:
        """The id the next transition of ``task_id`` must take (see the module docstring)."""
        facts = self._facts_of(task_id)
        return f"{task_id}#{(len(facts.events) if facts else 0) + 1}"

    def held_by_worker(self) -> dict[str, int]:
        """Open assignments (assigned, accepted, started) per worker (counted again only after a state
        changed: /rank asks on every call)."""
        self.refresh()
        with self._lock:
            if self._held is None:
                out: dict[str, int] = defaultdict(int)
                for st in self._open.values():
                    if st.worker_id and st.status in (Status.ASSIGNED, Status.ACCEPTED, Status.STARTED):
                        out[st.worker_id] += 1
                self._held = dict(out)
            return dict(self._held)

    def light_record(self, task_id: str) -> TaskRecord:
        """The stored row as a TaskRecord without features (what the monitor's decisions read; held
        tasks' are built once: 3,600 waiting tasks rebuilt on every /assign were most of its CPU)."""
        with self._lock:
            got = self._light.get(task_id)
        if got is not None:
            return got
        row = self.row(task_id)
        if row is None:
            raise KeyError(task_id)
        got = light(row)
        with self._lock:
            if self._facts.get(task_id) is not None and self._facts[task_id].row is row:
                self._light[task_id] = got
        return got

    def records(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]:
        """Full TaskRecords (the runtime's ``enrich`` of the stored rows) of the known ids; those of
        tasks not held are built from one indexed read and not kept."""
        self.refresh()
        with self._lock:
            todo = [t for t in task_ids if t not in self._records and t in self._facts]
            rows = {t: self._facts[t].row for t in todo}
            versions = dict(self._versions)
        far = [t for t in dict.fromkeys(task_ids) if t not in self._records and t not in rows]
        if far:
            stored = task_store.rows_for(self.where, "tasks", far, versions)
            rows.update({str(r["task_id"]): r for r in stored})
        bare = [light(r) for r in rows.values() if r is not None]
        full = self.enrich(bare) if self.enrich is not None and bare else bare
        out = {r.task_id: r for r in full}
        with self._lock:
            self._records.update({t: r for t, r in out.items() if t in self._facts})
            out.update({t: self._records[t] for t in task_ids if t in self._records})
        return {t: out[t] for t in task_ids if t in out}


def assignments_of(facts: TaskFacts) -> dict[str, Assignment]:
    """A task's assignments: the stored rows, then those only its ``assign`` events name."""
    out: dict[str, Assignment] = {}
    for row in facts.assignments:
        aid = str(row["assignment_id"])
        out[aid] = Assignment(
            aid,
            str(row["task_id"]),
            str(row["worker_id"]),
            _ts(row["assigned_at"]),
            None if _missing(row["policy"]) else str(row["policy"]),
        )
    for e in facts.events:
        if e.kind == "assign" and e.assignment_id and e.worker_id:
            out.setdefault(e.assignment_id, Assignment(e.assignment_id, e.task_id, e.worker_id, e.at, e.arm))
    return out


def light(row: dict[str, Any]) -> TaskRecord:
    """A stored ``tasks`` row as a TaskRecord without features."""
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
