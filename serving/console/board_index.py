"""What the national board needs from the event store, held in memory and brought up to date cheaply.

The open tasks (not done, not cancelled) with their lifecycle status, and hourly totals of the KPIs
(arrivals, completions, turnaround, SLA met, QA checks and passes, complaints). The first read folds
the whole history with vectorised frames; afterwards only the rows stored after the held version are
read, and only when the store's version moved (one index probe per refresh otherwise). Every writer
counts: the service's endpoints, ``opsmatch ingest``, the live twin.

A task's status follows the lifecycle contract (``serving.lifecycle``): its latest ``task_events`` row
decides; a task without events is assigned once an ``assignments`` row names it, else pending; a
completion closes it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from opsmatch import events
from serving.lifecycle import FINAL, TRANSITIONS, Status

if TYPE_CHECKING:
    from opsmatch.settings import Settings

HOUR_US = 3_600_000_000
COLUMNS: dict[str, list[str]] = {
    "provinces": ["province_id", "name"],
    "tasks": ["task_id", "province_id", "task_type", "created_at", "sla_due_at"],
    "assignments": ["task_id", "worker_id", "assigned_at"],
    "task_events": ["task_id", "kind", "at", "worker_id"],
    "completions": ["task_id", "completed_at"],
    "qa_results": ["checked_at", "passed"],
    "complaints": ["filed_at"],
}
KPIS = ("arrivals", "done", "turnaround_minutes", "sla_met", "qa_checked", "qa_passed", "complaints")
CLOSED_KINDS = frozenset(k for k, (_, to) in TRANSITIONS.items() if to in FINAL)


@dataclass
class OpenTask:
    """One task not yet done or cancelled (times in µs since the epoch)."""

    province_id: str
    task_type: str
    created_us: int
    sla_due_us: int
    status: str = Status.PENDING.value
    since_us: int = 0
    worker_id: str | None = None
    has_events: bool = False


def _cols(frame: pd.DataFrame, names: list[str]) -> list[list[Any]]:
    """Columns of a frame as Python lists (fast to zip over, unlike ``itertuples``)."""
    return [frame[n].tolist() for n in names]


class BoardIndex:
    """See the module docstring. Thread-safe; :meth:`refresh` is cheap when nothing was stored."""

    def __init__(self, where: Settings | str | Path) -> None:
        self.where = where
        self.open: dict[str, OpenTask] = {}
        self.hourly: dict[str, defaultdict[int, float]] = {k: defaultdict(float) for k in KPIS}
        self.provinces: dict[str, str] = {}
        self._versions: dict[str, int] = {}
        self._store_version = -1
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Read what was stored since the last call; returns the store version now held."""
        version = events.current_version(self.where)
        with self._lock:
            if version == self._store_version:
                return version
            frames = {}
            for table, cols in COLUMNS.items():
                held = self._versions.get(table, 0)
                if events.table_version(self.where, table, upto=version) <= held:
                    continue
                data = events.read_arrow(self.where, table, version=version, since=held, columns=cols)
                frames[table] = data.to_pandas()
                self._versions[table] = version
            self._fold(frames)
            self._store_version = version
            return version

    # -- folding one batch of new rows ------------------------------------------------------------
    def _fold(self, f: dict[str, pd.DataFrame]) -> None:
        if "provinces" in f:
            p = f["provinces"]
            self.provinces.update(zip(p["province_id"].astype(str), p["name"].astype(str), strict=True))
        tasks = f.get("tasks", pd.DataFrame(columns=COLUMNS["tasks"]))
        comps = f.get("completions", pd.DataFrame(columns=COLUMNS["completions"]))
        evs = f.get("task_events", pd.DataFrame(columns=COLUMNS["task_events"]))
        self._add("arrivals", tasks["created_at"])
        closed = set(comps["task_id"].astype(str)) | set(
            evs.loc[evs["kind"].isin(list(CLOSED_KINDS)), "task_id"].astype(str)
        )
        self._done(tasks, comps)
        fresh = tasks[~tasks["task_id"].astype(str).isin(closed)]
        for tid, province, kind, created, due in zip(*_cols(fresh, COLUMNS["tasks"]), strict=True):
            self.open[str(tid)] = OpenTask(
                str(province), str(kind), int(created), int(due), since_us=int(created)
            )
        if "assignments" in f:
            a = f["assignments"]
            mine = a[a["task_id"].astype(str).isin(self.open.keys())]
            for tid, worker, at in zip(*_cols(mine, ["task_id", "worker_id", "assigned_at"]), strict=True):
                task = self.open[str(tid)]
                if not task.has_events:  # a task without lifecycle events: assigned once assigned
                    task.status, task.since_us, task.worker_id = "assigned", int(at), str(worker)
        mine = evs[evs["task_id"].astype(str).isin(self.open.keys())]
        for tid, kind, at, worker in zip(*_cols(mine, ["task_id", "kind", "at", "worker_id"]), strict=True):
            task = self.open[str(tid)]
            task.status, task.since_us, task.has_events = TRANSITIONS[str(kind)][1].value, int(at), True
            task.worker_id = None if worker is None or worker != worker else str(worker)
        for task_id in closed:
            self.open.pop(task_id, None)
        if "qa_results" in f:
            qa = f["qa_results"]
            self._add("qa_checked", qa["checked_at"])
            self._add("qa_passed", qa.loc[qa["passed"].astype(bool), "checked_at"])
        if "complaints" in f:
            self._add("complaints", f["complaints"]["filed_at"])

    def _done(self, tasks: pd.DataFrame, comps: pd.DataFrame) -> None:
        """Completion KPIs: the task's times come from this batch's tasks, else from the open tasks."""
        if not len(comps):
            return
        ids = comps["task_id"].astype(str).tolist()
        times = {
            str(t): (int(c), int(d))
            for t, c, d in zip(*_cols(tasks, ["task_id", "created_at", "sla_due_at"]), strict=True)
        }
        for tid in ids:
            held = self.open.get(tid)
            if tid not in times and held is not None:
                times[tid] = (held.created_us, held.sla_due_us)
        created = np.array([times.get(t, (-1, -1))[0] for t in ids], dtype=np.int64)
        due = np.array([times.get(t, (-1, -1))[1] for t in ids], dtype=np.int64)
        ok = created >= 0  # a completion of a task never seen (or closed before) counts nowhere
        done_at = comps["completed_at"].to_numpy(dtype=np.int64)[ok]
        self._add("done", done_at)
        self._add("turnaround_minutes", done_at, weights=(done_at - created[ok]) / 60e6)
        self._add("sla_met", done_at[done_at <= due[ok]])

    def _add(self, kpi: str, times_us: pd.Series | np.ndarray, weights: np.ndarray | None = None) -> None:
        t = np.asarray(times_us, dtype=np.int64)
        if not len(t):
            return
        hours, inverse = np.unique(t // HOUR_US, return_inverse=True)
        sums = np.bincount(inverse, weights=weights, minlength=len(hours))
        bucket = self.hourly[kpi]
        for h, v in zip(hours.tolist(), sums.tolist(), strict=True):
            bucket[h] += v

    # -- reads for the board ------------------------------------------------------------------------
    def snapshot(
        self, hours: range
    ) -> tuple[list[tuple[str, OpenTask]], dict[str, list[float]], dict[str, str]]:
        """(open tasks, each KPI's totals over ``hours`` (hour numbers since the epoch), province
        names), copied under the lock."""
        with self._lock:
            trend = {k: [v.get(h, 0.0) for h in hours] for k, v in self.hourly.items()}
            return list(self.open.items()), trend, dict(self.provinces)
