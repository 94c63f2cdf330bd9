"""The national board's KPIs from the event store, held in memory and brought up to date cheaply.

Hourly totals of the KPIs (arrivals, completions, turnaround, SLA met, QA checks and passes,
complaints). The first read folds the recent window only (``window_hours`` before the newest stored
task, through each table's time index: the board shows the last 24 hours); afterwards only the rows
stored after the held version are read, and only from the tables the store's version log says were
written (one query per refresh when nothing was). Every writer counts: the service's endpoints,
``opsmatch ingest``, the live twin. The open tasks and their status are the task book's
(``serving.tasks.book``): one rule, the lifecycle's, decides a task's status for the queue and the board
alike.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events

if TYPE_CHECKING:
    from opsmatch.settings import Settings

HOUR_US = 3_600_000_000
COLUMNS: dict[str, list[str]] = {
    "provinces": ["province_id", "name"],
    "tasks": ["task_id", "created_at", "sla_due_at"],
    "completions": ["task_id", "completed_at"],
    "qa_results": ["checked_at", "passed"],
    "complaints": ["filed_at"],
}
KPIS = ("arrivals", "done", "turnaround_minutes", "sla_met", "qa_checked", "qa_passed", "complaints")
TaskTimes = Callable[[str], "tuple[int, int] | None"]  # task id -> (created, SLA due) in µs, if stored


class BoardIndex:
    """See the module docstring. Thread-safe; :meth:`refresh` is cheap when nothing was stored.

    ``times_of`` gives a task's (created, SLA due) when its completion comes in a later read than the
    task (the task book's :meth:`~serving.tasks.book.TaskBook.times`)."""

    def __init__(self, where: Settings | str | Path, times_of: TaskTimes, window_hours: int = 48) -> None:
        self.where = where
        self.times_of = times_of
        self.window_hours = window_hours
        self.hourly: dict[str, defaultdict[int, float]] = {k: defaultdict(float) for k in KPIS}
        self.provinces: dict[str, str] = {}
        self._store_version = 0
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Read what was stored since the last call; returns the store version now held."""
        with self._lock:
            changed = events.tables_changed(self.where, self._store_version)
            if not changed:
                return self._store_version
            version = max(changed.values())
            start = self._window_start() if not self._store_version else None
            batch: dict[str, dict[str, list[Any]]] = {}
            for table, cols in COLUMNS.items():
                if table in changed:
                    data = read_window(self.where, table, cols, version, self._store_version, start)
                    batch[table] = data.to_pydict()
            self._fold(batch)
            self._store_version = version
            return version

    def _window_start(self) -> int | None:
        newest = events.newest_time(self.where, "tasks")
        return None if newest is None else newest.value // 1000 - self.window_hours * HOUR_US

    # -- folding one batch of new rows (columns as lists; times in µs) ------------------------------
    def _fold(self, b: dict[str, dict[str, list[Any]]]) -> None:
        empty: dict[str, list[Any]] = defaultdict(list)
        p, tasks = b.get("provinces", empty), b.get("tasks", empty)
        self.provinces.update(zip(p["province_id"], p["name"], strict=True))
        self._add("arrivals", tasks["created_at"])
        self._done(tasks, b.get("completions", empty))
        qa = b.get("qa_results", empty)
        self._add("qa_checked", qa["checked_at"])
        self._add("qa_passed", [t for t, ok in zip(qa["checked_at"], qa["passed"], strict=True) if ok])
        self._add("complaints", b.get("complaints", empty)["filed_at"])

    def _done(self, tasks: dict[str, list[Any]], comps: dict[str, list[Any]]) -> None:
        """Completion KPIs: the task's times come from this batch's tasks, else from ``times_of``."""
        if not comps["task_id"]:
            return
        times = dict(
            zip(tasks["task_id"], zip(tasks["created_at"], tasks["sla_due_at"], strict=True), strict=True)
        )
        for tid in comps["task_id"]:
            if tid not in times and (held := self.times_of(tid)) is not None:
                times[tid] = held
        far = [t for t in comps["task_id"] if t not in times]  # not held: one indexed read for all
        if far:
            got = events.lookup(self.where, "tasks", pd.DataFrame({"task_id": far}))
            for tid, c, d in zip(got["task_id"], got["created_at"], got["sla_due_at"], strict=True):
                times[str(tid)] = (pd.Timestamp(c).value // 1000, pd.Timestamp(d).value // 1000)
        created = np.array([times.get(t, (-1, -1))[0] for t in comps["task_id"]], dtype=np.int64)
        due = np.array([times.get(t, (-1, -1))[1] for t in comps["task_id"]], dtype=np.int64)
        ok = created >= 0  # a completion of a task never stored counts nowhere
        done_at = np.asarray(comps["completed_at"], dtype=np.int64)[ok]
        self._add("done", done_at)
        self._add("turnaround_minutes", done_at, weights=(done_at - created[ok]) / 60e6)
        self._add("sla_met", done_at[done_at <= due[ok]])

    def _add(self, kpi: str, times_us: Sequence[int] | np.ndarray, weights: np.ndarray | None = None) -> None:
        t = np.asarray(times_us, dtype=np.int64)
        if not len(t):
            return
        hours, inverse = np.unique(t // HOUR_US, return_inverse=True)
        sums = np.bincount(inverse, weights=weights, minlength=len(hours))
        bucket = self.hourly[kpi]
        for h, v in zip(hours.tolist(), sums.tolist(), strict=True):
            bucket[h] += v

    # -- reads for the board ------------------------------------------------------------------------
    def snapshot(self, hours: range) -> tuple[dict[str, list[float]], dict[str, str]]:
        """(each KPI's totals over ``hours`` (hour numbers since the epoch), province names), copied
        under the lock."""
        with self._lock:
            trend = {k: [v.get(h, 0.0) for h in hours] for k, v in self.hourly.items()}
            return trend, dict(self.provinces)


def read_window(
    where: Settings | str | Path, table: str, cols: list[str], version: int, since: int, start_us: int | None
) -> pa.Table:
    """``cols`` of the rows stored in ``(since, version]``; when ``start_us`` is given, only those whose
    time column is at or after it (the time index)."""
    time_col = events.spec(table).time_column
    if start_us is None or time_col is None:
        return events.read_arrow(where, table, version=version, since=since, columns=cols)
    t = es.SQL_TABLES[table]
    query = sa.select(*(t.c[c] for c in cols)).where(
        t.c[time_col] >= start_us, t.c.version > since, t.c.version <= version
    )
    return es.store_for(events.store_url(where)).query_arrow(query.order_by(t.c.seq))
