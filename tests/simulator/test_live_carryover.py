"""The live twin carries the history's QA checks and complaints still to come (pure rows from the truth)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from opsmatch.contract import COMPLAINT_REASONS, SEVERITIES
from simulator.live_carryover import carried_over, due_after

AFTER = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def _truth() -> pd.DataFrame:
    h = timedelta(hours=1)
    return pd.DataFrame(
        {
            "task_id": ["T1", "T2", "T3", "T4"],
            "worker_id": ["W1", "W2", "W1", "W3"],
            "passed": [True, False, True, False],
            "qa_checked": [True, True, False, True],
            "checked_at": [AFTER + h, AFTER - h, AFTER + h, AFTER + 2 * h],
            "complaint": [False, True, False, True],
            "complaint_filed_at": [pd.NaT, AFTER + 30 * h, pd.NaT, AFTER - h],
            "hours_late": [0.0, 30.0, 0.0, 2.0],
            "vip": [False, True, False, False],
            "task_type": ["renewal"] * 4,
        }
    )


def test_only_checks_and_complaints_after_the_history_end_are_carried_with_their_truth() -> None:
    due = due_after(_truth(), AFTER)
    assert list(due["task_id"]) == ["T1", "T2", "T4"]  # T3 was never checked
    n = len(due)
    qa, complaints = carried_over(due, AFTER, 7, np.zeros(n), np.full(n, 500.0), np.array(["C1", "C2", "C4"]))
    assert [(r["qa_id"], r["passed"], r["checked_at"]) for r in qa] == [
        ("Q-T1", True, AFTER + timedelta(hours=1)),
        ("Q-T4", False, AFTER + timedelta(hours=2)),
    ]  # T2's check was before the end: the store has it
    assert qa[0]["score"] >= 60 > qa[1]["score"] and all(r["satisfaction"] is None for r in qa)
    assert [(r["complaint_id"], r["customer_id"]) for r in complaints] == [("K-T2", "C2")]  # T4's: before
    assert complaints[0]["severity"] in SEVERITIES and complaints[0]["reason"] in COMPLAINT_REASONS
    again = carried_over(due, AFTER, 7, np.zeros(n), np.full(n, 500.0), np.array(["C1", "C2", "C4"]))
    assert again == (qa, complaints)  # drawn per task: a restart reports the same rows (idempotent ids)
