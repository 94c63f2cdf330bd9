"""Catch-up: a history that ends in the past is continued up to now instead of serving a stale past.

The span from the store's last activity to ``now`` is replayed under the history's own legacy policy on
the twin's arrival process continued after the history (``simulator.continuation``), with the same
workforce. The tasks still open at the start of the span that never entered the service's lifecycle
(no ``task_events``: the twin's own history) are handed to the replay at its start, so the centre that
comes back is not three months behind; tasks the service already tracks are left to the service and the
live twin. Ids of the span's assignments, QA checks and complaints carry the span's start, so they never
meet the history's; the append is idempotent by key (a second catch-up to the same instant stores
nothing new). The span's per-task truth is added to ``truth/task_truth.parquet``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from opsmatch import events
from opsmatch.contract import TASK_TYPES
from opsmatch.settings import Settings
from simulator.continuation import CustomerBase, continuation, minute_of
from simulator.engine import simulate
from simulator.outcomes import task_outcomes
from simulator.policies import LegacyPolicy
from simulator.tables import event_tables, task_truth_frame
from simulator.truth import TASK_TRUTH_FILE, load_truth
from simulator.workforce import build_workforce

META_FILE = "meta.json"
ACTIVITY_TABLES = ("tasks", "assignments", "completions", "qa_results", "complaints", "worker_status")
SPAN_TABLES = ("tasks", "assignments", "completions", "qa_results", "complaints", "worker_status")
RENAMED = {
    "assignments": ("assignment_id", "A"),
    "qa_results": ("qa_id", "Q"),
    "complaints": ("complaint_id", "K"),
}
MIN_GAP = dt.timedelta(minutes=1)


@dataclass
class CatchUp:
    """What a catch-up appended: the span, the tasks handed over at its start and rows per table."""

    start: str
    end: str
    handed_over: int
    rows: dict[str, int] = field(default_factory=dict)


def last_activity(settings: Settings) -> pd.Timestamp | None:
    """The newest event time in the store (any twin or lifecycle table), or the history's end."""
    times = [events.newest_time(settings, t) for t in (*ACTIVITY_TABLES, "task_events")]
    meta = settings.truth_dir / META_FILE
    if meta.exists():
        times.append(pd.Timestamp(json.loads(meta.read_text())["end"]))
    found = [t for t in times if t is not None]
    return max(found) if found else None


def _open_untracked(settings: Settings) -> pd.DataFrame:
    """Tasks with no completion and no lifecycle event: the twin's own history still open."""
    tasks = events.read_table(settings, "tasks")
    done = set(events.read_table(settings, "completions", columns=["task_id"])["task_id"])
    tracked = set(events.read_table(settings, "task_events", columns=["task_id"])["task_id"])
    keep = ~tasks["task_id"].isin(done | tracked)
    return tasks[keep].reset_index(drop=True)


def _with_open(arrivals_tasks: pd.DataFrame, open_tasks: pd.DataFrame, config, base: CustomerBase, at: float):  # noqa: ANN001, ANN202
    """The span's tasks with the open ones first, all arriving at ``at`` (their own ids and times)."""
    if not len(open_tasks):
        return arrivals_tasks
    row_of = pd.Series(np.arange(len(base.customers)), index=base.customers["customer_id"])
    province = {config.province_id(i): i for i in range(len(config.provinces))}
    kind = {t.name: i for i, t in enumerate(config.task_types)}
    extra = open_tasks.assign(
        t=at,
        p=open_tasks["province_id"].map(province).to_numpy(),
        k=open_tasks["task_type"].map(kind).to_numpy(),
        cust=row_of.reindex(open_tasks["customer_id"]).fillna(0).astype(int).to_numpy(),
    )
    return pd.concat([extra, arrivals_tasks], ignore_index=True)


def catch_up(
    settings: Settings, now: dt.datetime, progress: Callable[[float, float], None] | None = None
) -> CatchUp | None:
    """Continue the history from its last activity up to ``now``; None when it is already current."""
    last = last_activity(settings)
    meta_path = settings.truth_dir / META_FILE
    if last is None or not meta_path.exists() or now - last.to_pydatetime() < MIN_GAP:
        return None
    meta = json.loads(meta_path.read_text())
    truth = load_truth(settings.truth_dir)
    config, seed = truth.config, int(meta["seed"])
    start, stop = minute_of(config, last), minute_of(config, pd.Timestamp(now))
    base = CustomerBase.from_history(
        config,
        events.read_table(settings, "customers"),
        events.read_table(settings, "tasks", columns=["customer_id", "province_id"]),
    )
    arrivals = continuation(config, seed, start, stop, base)
    open_tasks = _open_untracked(settings)
    open_tasks = open_tasks[open_tasks["task_type"].isin(TASK_TYPES)]
    arrivals = type(arrivals)(
        _with_open(arrivals.tasks, open_tasks, config, base, start),
        arrivals.customers,
        arrivals.surges,
        arrivals.start_day,
        arrivals.days,
        arrivals.end_minute,
    )
    workforce = build_workforce(config, seed)
    result = simulate(
        config, arrivals, LegacyPolicy(explore=True), seed, workforce=workforce, progress=progress
    )
    outcomes = task_outcomes(result)
    tables = event_tables(result, outcomes)
    stamp = last.tz_convert("UTC").strftime("%Y%m%dT%H%M%S")
    for name, (column, prefix) in RENAMED.items():
        frame = tables[name]
        frame[column] = [f"{prefix}{stamp}-{i + 1:06d}" for i in range(len(frame))]
    status = tables["worker_status"]
    tables["worker_status"] = status[status["at"] > last].reset_index(drop=True)
    rows = {name: events.append(settings, name, tables[name]).new for name in SPAN_TABLES}
    _add_truth(settings.truth_dir, task_truth_frame(result, outcomes))
    meta["end"] = pd.Timestamp(now).tz_convert("UTC").isoformat()
    meta.setdefault("caught_up", []).append({"start": last.isoformat(), "end": meta["end"], "rows": rows})
    meta_path.write_text(json.dumps(meta, indent=1))
    return CatchUp(last.isoformat(), meta["end"], len(open_tasks), rows)


def _add_truth(truth_dir: Path, span: pd.DataFrame) -> None:
    path = truth_dir / TASK_TRUTH_FILE
    old = pd.read_parquet(path) if path.exists() else span.iloc[:0]
    merged = pd.concat([old[~old["task_id"].isin(span["task_id"])], span], ignore_index=True)
    merged.to_parquet(path, index=False)
