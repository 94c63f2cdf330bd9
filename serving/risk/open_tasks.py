"""The open tasks of now and their current complaint risk, from what the service already holds.

The watchlist (and the monitor's risk sweep) score every open task at its wait now. Re-reading the
event history and re-fetching every task's features per request cost seconds on the default world; the
task book (``serving.tasks.book``) already holds the open tasks and one enriched record per open task,
refreshed when the task changes, and the champion scorer keeps each record's encoded row
(``serving.runtime.scoring.TaskRows``), so a call costs one prediction over the open tasks. Explanations
(per-feature contributions) are asked for by the caller for the rows it shows only.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import numpy as np
import pandas as pd

from serving.protocols import RiskScores, TaskRecord
from serving.tasks.lifecycle import FINAL, Status

if TYPE_CHECKING:
    from serving.runtime.context import Context
    from serving.tasks.book import OpenTask, TaskBook

OPEN: tuple[Status, ...] = tuple(s for s in Status if s not in FINAL)
COLUMNS = ["task_id", "task_type", "province_id", "customer_id", "created_at", "sla_due_at", "assignments"]


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


class _Frame:
    """The last open-task frame built from one book, with each task's board entry it was built from."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[OpenTask, tuple[object, ...]]] = {}
        self.frame: pd.DataFrame | None = None


_FRAMES: WeakKeyDictionary[TaskBook, _Frame] = WeakKeyDictionary()
_FRAMES_LOCK = threading.Lock()


def book_open_tasks(book: TaskBook) -> pd.DataFrame:
    """The open tasks the book holds now (``COLUMNS``; ``assignments``: times the task was assigned).

    Built again only for what moved: the book replaces a task's (frozen) board entry whenever its row or
    state changes, so an entry that is the same object as at the last call keeps its row, and a board of
    the same entries returns the last frame (a copy) without touching the rows."""
    board = book.open_tasks()
    with _FRAMES_LOCK:
        held = _FRAMES.get(book)
        if held is None:
            held = _FRAMES[book] = _Frame()
    old = held.rows
    rows: dict[str, tuple[OpenTask, tuple[object, ...]]] = {}
    moved = held.frame is None or len(board) != len(old)
    for task_id, task in board:
        got = old.get(task_id)
        if got is not None and got[0] is task:
            rows[task_id] = got
            continue
        moved = True
        state, row = book.peek(task_id), book.row(task_id) or {}
        customer, n = _text(row.get("customer_id")), int(state.assignments if state else 0)
        values = (task_id, task.task_type, task.province_id, customer, task.created_us, task.sla_due_us, n)
        rows[task_id] = (task, values)
    if not moved and held.frame is not None:
        return held.frame.copy()
    out = pd.DataFrame([r for _, r in rows.values()], columns=COLUMNS)
    for col in ("created_at", "sla_due_at"):
        out[col] = pd.to_datetime(out[col].astype("int64"), unit="us", utc=True)
    out["assignments"] = out["assignments"].astype(int)
    out = out.sort_values("task_id", kind="stable").reset_index(drop=True)
    held.rows, held.frame = rows, out
    return out.copy()


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
