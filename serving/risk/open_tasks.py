"""The open tasks of now and their current complaint risk, from what the service already holds.

The watchlist (and the monitor's risk sweep) score every open task at its wait now. Re-reading the
event history and re-fetching every task's features per request cost seconds on the default world; the
task book (``serving.tasks.book``) already holds the open tasks and one enriched record per open task,
refreshed when the task changes, and the champion scorer keeps each record's encoded row
(``serving.runtime.scoring.TaskRows``), so a call costs one prediction over the open tasks. Explanations
(per-feature contributions) are asked for by the caller for the rows it shows only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from serving.protocols import RiskScores, TaskRecord
from serving.tasks.lifecycle import FINAL, Status

if TYPE_CHECKING:
    from serving.runtime.context import Context
    from serving.tasks.book import TaskBook

OPEN: tuple[Status, ...] = tuple(s for s in Status if s not in FINAL)
COLUMNS = ["task_id", "task_type", "province_id", "customer_id", "created_at", "sla_due_at", "assignments"]


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def book_open_tasks(book: TaskBook) -> pd.DataFrame:
    """The open tasks the book holds now (``COLUMNS``; ``assignments``: times the task was assigned)."""
    held = {s.task_id: s.assignments for s in book.states(OPEN)}
    rows = []
    for task_id, task in book.open_tasks():
        row = book.row(task_id) or {}
        customer = _text(row.get("customer_id"))
        rows.append(
            (task_id, task.task_type, task.province_id, customer, task.created_us, task.sla_due_us,
             int(held.get(task_id, 0)))
        )  # fmt: skip
    out = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("created_at", "sla_due_at"):
        out[col] = pd.to_datetime(out[col].astype("int64"), unit="us", utc=True)
    out["assignments"] = out["assignments"].astype(int)
    return out.sort_values("task_id", kind="stable").reset_index(drop=True)


def book_records(book: TaskBook, task_ids: list[str]) -> dict[str, TaskRecord]:
    """The book's enriched records of the tasks (enriched once per task version, then held)."""
    return book.records(task_ids) if task_ids else {}


def open_records(engine: Context, task_ids: list[str]) -> list[TaskRecord]:
    """Records of the open tasks, in order: the task book's, else the feature store's; a task neither
    knows is left out (it is scored once the book holds it)."""
    found = book_records(engine.book, task_ids)
    rest = [i for i in task_ids if i not in found]
    if rest:
        found = {**found, **engine.runtime.tasks.get_tasks(rest)}
    return [found[i] for i in task_ids if i in found]


def current_risk(scorer, records: list[TaskRecord], now: datetime) -> np.ndarray:  # noqa: ANN001
    """P(complaint) of each task at ``now``, without contributions (the cheap path for many tasks)."""
    if not records:
        return np.zeros(0)
    scores: RiskScores = scorer.complaint_risk(records, now=now, contributions=False)
    return np.asarray(scores.prob, dtype=float)
