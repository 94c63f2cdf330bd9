"""Open-task snapshots (the complaint_pre model's rows): ages while open, labels after the snapshot only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.snapshots import snapshot_entities
from features.training_frame import snapshot_frame

T0 = pd.Timestamp("2026-03-02 08:00", tz="UTC")


def _h(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def _events(complaints: list[tuple[str, float]]) -> dict[str, pd.DataFrame]:
    tasks = pd.DataFrame(
        {
            "task_id": ["A", "B", "C"],
            "task_type": ["renewal"] * 3,
            "customer_id": ["c1", "c2", "c3"],
            "province_id": ["P01"] * 3,
            "created_at": [T0, T0, T0],
            "sla_due_at": [_h(24)] * 3,
        }
    )
    completions = pd.DataFrame(
        {"task_id": ["A", "B"], "worker_id": ["W1", "W2"], "completed_at": [_h(13), _h(0.5)]}
    )
    filed = pd.DataFrame({"task_id": [t for t, _ in complaints], "filed_at": [_h(h) for _, h in complaints]})
    # The log runs to day 60: a snapshot's 30-day window is known when it ends before then.
    horizon = pd.DataFrame({"task_id": ["Z"], "created_at": [_h(60 * 24)]})
    return {
        "tasks": pd.concat([tasks, horizon], ignore_index=True),
        "completions": completions,
        "complaints": filed,
        "assignments": pd.DataFrame({"task_id": [], "assigned_at": pd.to_datetime([], utc=True)}),
        "qa_results": pd.DataFrame({"task_id": [], "checked_at": pd.to_datetime([], utc=True)}),
        "worker_status": pd.DataFrame({"worker_id": [], "at": pd.to_datetime([], utc=True)}),
    }


def test_a_task_is_seen_at_intake_then_every_six_hours_while_open() -> None:
    ev = _events([])
    snap = snapshot_entities(ev["tasks"], ev["completions"])
    ages = snap.groupby("task_id")["age_hours"].apply(list).to_dict()
    assert ages == {"A": [0.0, 6.0, 12.0], "B": [0.0]}  # C never completed: no label, no rows
    assert (snap.loc[snap["task_id"] == "A", "at"] == [_h(0), _h(6), _h(12)]).all()
    assert set(snap["worker_id"]) == {"W1", "W2"}


def test_the_label_is_a_complaint_within_30_days_after_the_snapshot() -> None:
    ent, labels = snapshot_frame(_events([("A", 13 + 24 * 5)]))
    rows = dict(zip(ent["assignment_id"], labels["complaint_30d"], strict=True))
    assert rows == {"A@0h": 1.0, "A@6h": 1.0, "A@12h": 1.0, "B@0h": 0.0}
    assert (ent["event_timestamp"] == ent["now"]).all()
    assert labels["handling_minutes"].isna().all() and labels["qa_passed"].isna().all()


def test_a_complaint_after_the_window_is_no_positive_and_after_a_complaint_there_is_no_row() -> None:
    late = snapshot_frame(_events([("A", 30 * 24 + 3)]))  # 30 days 3 h after intake: the 6 h and 12 h rows
    got = dict(zip(late[0]["assignment_id"], late[1]["complaint_30d"], strict=True))
    assert got["A@0h"] == 0.0 and got["A@6h"] == 1.0 and got["A@12h"] == 1.0
    early = snapshot_frame(_events([("A", 7)]))  # filed while open, at 7 h: the 12 h row has no label
    assert list(early[0]["assignment_id"]) == ["A@0h", "A@6h", "A@12h", "B@0h"]
    np.testing.assert_array_equal(early[1]["complaint_30d"], [1.0, 1.0, np.nan, 0.0])


def test_given_rows_are_the_tasks_seen_at_those_times_in_that_order() -> None:
    given = pd.DataFrame(
        {"assignment_id": ["x2", "x1"], "task_id": ["C", "A"], "worker_id": ["W9", "W9"],
         "assigned_at": [_h(30), _h(2)]}
    )  # fmt: skip
    ent, labels = snapshot_frame(_events([("A", 40)]), given)
    assert list(ent["assignment_id"]) == ["x2", "x1"] and list(ent["task_id"]) == ["C", "A"]
    assert list(ent["now"]) == [_h(30), _h(2)]
    assert list(labels["complaint_30d"]) == [0.0, 1.0]


def test_a_window_reaching_past_the_log_is_censored() -> None:
    ev = _events([])
    ev["tasks"].loc[ev["tasks"]["task_id"] == "Z", "created_at"] = _h(20 * 24)  # the log ends at day 20
    _, labels = snapshot_frame(ev)
    assert np.isnan(labels["complaint_30d"]).all()
