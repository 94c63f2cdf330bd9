"""The history's outcomes still to come when the live twin starts: QA checks and complaints of past work.

The event store holds the history's QA checks and complaints up to the history's end; the twin's hidden
truth (``truth/task_truth.parquet``) knows when each later check and complaint happens (uncensored). A QA
check comes 2-72 h after the work and a complaint days after it, so a live run that reported only its own
work showed its first QA row hours after the start (at 1x: none in a newcomer's first 10 minutes), while a
real centre keeps hearing about the work it did before. ``carried_over`` gives those rows, for tasks the
store holds as done, due after ``after`` (the history's end): the live twin reports each when due. The
truth keeps the pass and the lateness, not the score, severity or reason: they are drawn per task from its
own stream as ``simulator.outcomes`` draws them; no satisfaction survey is drawn (left empty). Pure.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from opsmatch.contract import COMPLAINT_REASONS, SEVERITIES
from simulator.outcomes import _reasons, _severity

CARRY_STREAM = 63
TRUTH_COLUMNS: tuple[str, ...] = ("task_id", "worker_id", "passed", "qa_checked", "checked_at", "complaint")
TRUTH_COLUMNS += ("complaint_filed_at", "hours_late", "vip", "task_type")


def due_after(truth: pd.DataFrame, after: datetime) -> pd.DataFrame:
    """The truth rows with a QA check or a complaint after ``after``."""
    at = pd.Timestamp(after)
    qa = truth["qa_checked"].astype(bool) & (pd.to_datetime(truth["checked_at"], utc=True) > at)
    filed = truth["complaint"].astype(bool) & (pd.to_datetime(truth["complaint_filed_at"], utc=True) > at)
    return truth[qa | filed]


def _uniforms(seed: int, task_id: str) -> np.ndarray:
    return np.random.default_rng([seed, CARRY_STREAM, zlib.crc32(task_id.encode())]).random(3)


def carried_over(
    due: pd.DataFrame, after: datetime, seed: int, care: np.ndarray, amount: np.ndarray, customer: np.ndarray
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(QA rows, complaint rows) of ``due`` (``due_after`` rows of tasks done, in the store's order) after
    ``after``; ``care``, ``amount`` and ``customer`` are per row (the worker's care for the type, the
    task's amount and customer)."""
    at = pd.Timestamp(after)
    qa_rows: list[dict[str, Any]] = []
    complaint_rows: list[dict[str, Any]] = []
    checked = pd.to_datetime(due["checked_at"], utc=True)
    filed = pd.to_datetime(due["complaint_filed_at"], utc=True)
    for i, row in enumerate(due.itertuples(index=False)):
        u = _uniforms(seed, str(row.task_id))
        passed = bool(row.passed)
        if bool(row.qa_checked) and checked.iloc[i] > at:
            score = 60 + 40 * u[0] ** 0.6 if passed else 59.9 * u[0] ** 0.5
            qa_rows.append(
                {
                    "qa_id": f"Q-{row.task_id}",
                    "task_id": str(row.task_id),
                    "worker_id": str(row.worker_id),
                    "checked_at": checked.iloc[i].to_pydatetime(),
                    "passed": passed,
                    "score": round(float(score), 1),
                    "satisfaction": None,
                }
            )
        if bool(row.complaint) and filed.iloc[i] > at:
            late, failed = np.array([float(row.hours_late)]), np.array([not passed])
            reason = _reasons(u[1:2], late, failed, care[i : i + 1], amount[i : i + 1])[0]
            severity = _severity(u[2:3], np.array([bool(row.vip)]), late, failed)[0]
            complaint_rows.append(
                {
                    "complaint_id": f"K-{row.task_id}",
                    "task_id": str(row.task_id),
                    "customer_id": str(customer[i]),
                    "filed_at": filed.iloc[i].to_pydatetime(),
                    "severity": SEVERITIES[int(severity)],
                    "reason": COMPLAINT_REASONS[int(reason)],
                }
            )
    return qa_rows, complaint_rows
