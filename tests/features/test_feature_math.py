"""Feature computations on tiny hand-built event logs, checked against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.entity_features import build_customer_profile, build_task_profile
from features.province_features import build_province_status
from features.spec import PSEUDO_COUNTS
from features.windows import DAY, HOUR, snapshot_grid, to_us
from features.worker_features import build_worker_tables
from tests.factories.events import D0, at, hand_events

K = PSEUDO_COUNTS


def _worker_log() -> dict[str, pd.DataFrame]:
    """W1, W2 doing renewals; QA and a complaint arrive later than the work."""
    tasks = [
        {"task_id": f"T{i}", "created_at": at(d, h - 0.5)}
        for i, (d, h) in enumerate([(0, 1), (0, 2), (1, 1), (8, 1), (0, 3), (2, 1)], start=1)
    ]
    comp = [
        {"task_id": "T1", "worker_id": "W1", "completed_at": at(0, 1), "handling_minutes": 60.0},
        {"task_id": "T2", "worker_id": "W1", "completed_at": at(0, 2), "handling_minutes": 30.0},
        {"task_id": "T3", "worker_id": "W1", "completed_at": at(1, 1), "handling_minutes": 90.0},
        {"task_id": "T4", "worker_id": "W1", "completed_at": at(8, 1), "handling_minutes": 45.0},
        {"task_id": "T5", "worker_id": "W2", "completed_at": at(0, 3), "handling_minutes": 120.0},
        {"task_id": "T6", "worker_id": "W2", "completed_at": at(2, 1), "handling_minutes": 30.0},
    ]
    qa = [
        {"task_id": "T1", "worker_id": "W1", "checked_at": at(1, 5), "passed": True, "satisfaction": 5},
        {"task_id": "T5", "worker_id": "W2", "checked_at": at(1, 6), "passed": False, "satisfaction": 3},
        {"task_id": "T2", "worker_id": "W1", "checked_at": at(3, 0), "passed": False},
    ]
    complaints = [{"task_id": "T5", "filed_at": at(4, 2)}]
    return hand_events(
        workers=[
            {"worker_id": "W1", "skills": '{"renewal": 4, "surrender": 2}', "daily_capacity": 30},
            {"worker_id": "W2", "hired_at": D0 + pd.Timedelta(hours=2)},
        ],
        tasks=tasks,
        completions=comp,
        qa_results=qa,
        complaints=complaints,
    )


@pytest.fixture(scope="module")
def worker_tables():
    ev = _worker_log()
    snaps = snapshot_grid(to_us(pd.Series([at(0, 1)]))[0], to_us(pd.Series([at(9, 2)]))[0], DAY)
    return build_worker_tables(ev, snaps)


def _row(df: pd.DataFrame, day: int, **keys) -> pd.Series:
    sel = df["event_timestamp"] == at(day)
    for k, v in keys.items():
        sel &= df[k] == v
    assert sel.sum() == 1
    return df[sel].iloc[0]


def test_rolling_throughput_windows(worker_tables) -> None:
    p = worker_tables.profile
    assert _row(p, 1, worker_id="W1")[["worker_done_7d", "worker_done_30d"]].tolist() == [2, 2]
    assert _row(p, 2, worker_id="W1")["worker_done_7d"] == 3
    # At day 9 the 7-day window [day 2, day 9) holds only the day-8 completion.
    assert _row(p, 9, worker_id="W1")[["worker_done_7d", "worker_done_30d", "worker_done_90d"]].tolist() == [
        1,
        4,
        4,
    ]


def test_worker_hired_mid_history_has_rows_only_after_hiring(worker_tables) -> None:
    p = worker_tables.profile
    assert p.loc[p["worker_id"] == "W2", "event_timestamp"].min() == at(1)
    assert _row(p, 1, worker_id="W2")["worker_tenure_days"] == pytest.approx(22 / 24)
    assert _row(p, 1, worker_id="W1")["worker_tenure_days"] == pytest.approx(101)


def test_skills_and_capacity_columns(worker_tables) -> None:
    r = _row(worker_tables.profile, 3, worker_id="W1")
    assert (r["worker_skill_renewal"], r["worker_skill_surrender"], r["worker_skill_underwriting"]) == (
        4,
        2,
        0,
    )
    assert (r["worker_n_skills"], r["worker_daily_capacity"]) == (2, 30)


def test_handling_ratio_vs_type_median_known_before_the_day_then_shrunk(worker_tables) -> None:
    # Day-0 completions have no earlier median (ratio unknown). T3 (day 1): median(60, 30, 120) = 60 -> 1.5.
    # T6 (day 2): median(60, 30, 120, 90) = 75 -> 0.4. T4 (day 8): median(60, 30, 120, 90, 30) = 60 -> 0.75.
    p = worker_tables.profile
    prior3 = (1.5 + 0.4) / 2
    assert _row(p, 3, worker_id="W1")["worker_handling_ratio"] == pytest.approx(
        (1.5 + K["handling"] * prior3) / (1 + K["handling"])
    )
    prior9 = (1.5 + 0.4 + 0.75) / 3
    assert _row(p, 9, worker_id="W1")["worker_handling_ratio"] == pytest.approx(
        (2.25 + K["handling"] * prior9) / (2 + K["handling"])
    )
    assert _row(p, 9, worker_id="W2")["worker_handling_ratio"] == pytest.approx(
        (0.4 + K["handling"] * prior9) / (1 + K["handling"])
    )
    assert np.isnan(_row(p, 1, worker_id="W1")["worker_handling_ratio"])  # no ratio known anywhere yet


def test_qa_is_known_at_checked_at_and_shrunk_toward_population(worker_tables) -> None:
    p = worker_tables.profile
    # T1 was completed on day 0 but checked at day 1 05:00: the day-1 snapshot must not know it.
    assert _row(p, 1, worker_id="W1")["worker_qa_checked_90d"] == 0
    d2 = _row(p, 2, worker_id="W1")
    assert d2["worker_qa_checked_90d"] == 1
    assert d2["worker_qa_pass_rate"] == pytest.approx((1 + K["qa"] * 0.5) / (1 + K["qa"]))
    w2 = _row(p, 2, worker_id="W2")
    assert w2["worker_qa_pass_rate"] == pytest.approx((0 + K["qa"] * 0.5) / (1 + K["qa"]))
    d4 = _row(p, 4, worker_id="W1")  # W1 now 1/2, population 1/3
    assert d4["worker_qa_pass_rate"] == pytest.approx((1 + K["qa"] / 3) / (2 + K["qa"]))
    assert d2["worker_satisfaction"] == pytest.approx((5 + K["satisfaction"] * 4) / (1 + K["satisfaction"]))


def test_complaint_counts_against_the_completing_worker_from_filed_at(worker_tables) -> None:
    p = worker_tables.profile
    assert _row(p, 4, worker_id="W2")["worker_complaints_90d"] == 0  # filed at day 4 02:00
    w2 = _row(p, 5, worker_id="W2")
    assert w2["worker_complaints_90d"] == 1
    prior = 1 / 5  # 1 complaint over 5 completions in the window at day 5
    assert w2["worker_complaint_rate"] == pytest.approx((1 + K["complaint"] * prior) / (2 + K["complaint"]))
    assert _row(p, 5, worker_id="W1")["worker_complaint_rate"] == pytest.approx(
        K["complaint"] * prior / (3 + K["complaint"])
    )


def test_worker_type_perf_rows_and_values(worker_tables) -> None:
    wt = worker_tables.type_perf
    pairs = set(map(tuple, wt[["worker_id", "task_type"]].drop_duplicates().to_numpy()))
    assert pairs == {("W1", "renewal"), ("W1", "surrender"), ("W2", "renewal")}
    r = _row(wt, 9, worker_id="W1", task_type="renewal")
    assert (r["wt_skill_level"], r["wt_done_total"], r["wt_done_90d"], r["wt_qa_checked_90d"]) == (4, 4, 4, 2)
    assert r["wt_qa_pass_rate"] == pytest.approx((1 + K["qa"] / 3) / (2 + K["qa"]))
    s = _row(wt, 9, worker_id="W1", task_type="surrender")
    assert s["wt_done_total"] == 0 and np.isnan(s["wt_qa_pass_rate"])  # nobody did surrenders: no prior


def test_latest_snapshot_row_covers_every_event() -> None:
    ev = _worker_log()
    last = to_us(pd.Series([at(8, 1)]))[0]  # the day-8 completion is the last event
    snaps = snapshot_grid(to_us(pd.Series([at(0, 1)]))[0], last, DAY)
    p = build_worker_tables(ev, snaps).profile
    latest = p["event_timestamp"].max()
    assert at(8, 1) < latest <= at(8, 1) + pd.Timedelta(seconds=1)
    assert _row(p, 8, worker_id="W1")["worker_done_30d"] == 3
    assert p.loc[(p["event_timestamp"] == latest) & (p["worker_id"] == "W1"), "worker_done_30d"].item() == 4


def test_task_profile_local_time_sla_and_amount() -> None:
    ev = hand_events(
        provinces=[{"province_id": "P01", "timezone": "Asia/Shanghai"}],
        tasks=[{"task_id": "T1", "created_at": at(0, 23.5), "sla_due_at": at(1, 7.5), "amount": 99.0}],
    )
    row = build_task_profile(ev["tasks"], ev["provinces"]).iloc[0]
    assert row["event_timestamp"] == at(0, 23.5)
    assert (row["task_created_hour"], row["task_created_weekday"]) == (7, 1)  # Tue 07:30 in Shanghai
    assert row["task_sla_hours"] == pytest.approx(8.0)
    assert row["task_log_amount"] == pytest.approx(np.log(100.0))


def test_customer_profile_counts_so_far_at_each_event() -> None:
    ev = hand_events(
        customers=[{"customer_id": "C1", "prior_complaints": 2, "vip": True}, {"customer_id": "C2"}],
        tasks=[{"task_id": "T1", "created_at": at(0, 1)}, {"task_id": "T2", "created_at": at(1, 1)}],
        complaints=[{"task_id": "T1", "filed_at": at(1, 5)}],
    )
    cp = build_customer_profile(
        ev["customers"], ev["tasks"], ev["complaints"], int(to_us(pd.Series([D0]))[0])
    )
    c1 = cp[cp["customer_id"] == "C1"]
    assert c1["event_timestamp"].tolist() == [D0, at(0, 1), at(1, 1), at(1, 5)]
    assert c1["cust_tasks_so_far"].tolist() == [0, 1, 2, 2]
    assert c1["cust_complaints_so_far"].tolist() == [0, 0, 0, 1]
    assert c1["cust_vip"].all() and (c1["cust_prior_complaints"] == 2).all()
    assert cp.loc[cp["customer_id"] == "C2", "event_timestamp"].tolist() == [D0]
    assert (cp["cust_contacts_so_far"] == 0).all()  # no interventions: nobody was contacted


def test_customer_profile_counts_risk_team_contacts_point_in_time() -> None:
    ev = hand_events(
        customers=[{"customer_id": "C1"}, {"customer_id": "C2"}],
        tasks=[{"task_id": "T1", "created_at": at(0, 1)}],
    )
    contacts = pd.DataFrame({"customer_id": ["C1", "C1", "C-unknown"], "at": [at(0, 3), at(2, 0), at(0, 3)]})
    cp = build_customer_profile(
        ev["customers"], ev["tasks"], ev["complaints"], int(to_us(pd.Series([D0]))[0]), contacts
    )
    c1 = cp[cp["customer_id"] == "C1"]
    assert c1["event_timestamp"].tolist() == [D0, at(0, 1), at(0, 3), at(2, 0)]
    assert c1["cust_contacts_so_far"].tolist() == [0, 0, 1, 2]
    assert c1["cust_tasks_so_far"].tolist() == [0, 1, 1, 1]
    assert cp.loc[cp["customer_id"] == "C2", "cust_contacts_so_far"].tolist() == [0]


def _province_log(status: list[dict] | None = None) -> dict[str, pd.DataFrame]:
    return hand_events(
        provinces=[{"province_id": "P01"}, {"province_id": "P02", "works_weekends": True}],
        workers=[
            {"worker_id": "W1"},
            {"worker_id": "W2", "shift_start_hour": 22, "shift_hours": 4},
            {"worker_id": "W3", "province_id": "P02", "work_days": "0123456"},
        ],
        tasks=[{"task_id": f"T{i}", "created_at": at(0, h)} for i, h in enumerate([1, 2, 3], start=1)],
        assignments=[
            {"task_id": "T1", "worker_id": "W1", "assigned_at": at(0, 1.5)},
            {"task_id": "T1", "worker_id": "W1", "assigned_at": at(0, 1.7)},
        ],
        completions=[{"task_id": "T1", "worker_id": "W1", "completed_at": at(0, 2.5)}],
        worker_status=status or [],
    )


def test_province_backlog_unassigned_arrivals_and_calendar() -> None:
    ev = _province_log()
    snaps = np.arange(0, 6 * 24) * HOUR + to_us(pd.Series([D0]))[0]
    both = build_province_status(ev, snaps)
    p2 = both[both["province_id"] == "P02"].set_index("event_timestamp")  # a second province: no tasks
    assert (p2["prov_backlog"] == 0).all() and (p2["prov_arrival_rate"] == 0).all()
    assert p2.loc[at(5, 10), "prov_staff_scheduled"] == 1 and bool(p2.loc[at(5, 10), "prov_is_open"])
    ps = both[both["province_id"] == "P01"].set_index("event_timestamp")
    assert ps.loc[at(0, 3), ["prov_backlog", "prov_unassigned"]].tolist() == [1, 1]  # 3h task not yet known
    assert ps.loc[at(0, 3), "prov_arrival_rate"] == pytest.approx(2 / 4)
    assert ps.loc[at(0, 4), ["prov_backlog", "prov_unassigned"]].tolist() == [2, 2]
    assert ps.loc[at(0, 6), "prov_arrival_rate"] == pytest.approx(2 / 4)  # the 1h arrival left the window
    # Schedules (UTC, Mon-Fri): W1 09-17, W2 22-02 overnight. No status log -> on shift = scheduled.
    assert ps.loc[at(0, 10), ["prov_staff_scheduled", "prov_staff_on_shift"]].tolist() == [1, 1]
    assert ps.loc[at(1, 1), "prov_staff_scheduled"] == 1  # W2's Monday shift runs past midnight
    assert ps.loc[at(0, 8), "prov_staff_scheduled"] == 0
    assert ps.loc[at(5, 10), "prov_staff_scheduled"] == 0  # Saturday
    assert bool(ps.loc[at(0, 10), "prov_is_open"]) and not bool(ps.loc[at(0, 8), "prov_is_open"])
    assert not bool(ps.loc[at(5, 10), "prov_is_open"])
    assert ps.loc[at(0, 3), "prov_backlog_per_staff"] == pytest.approx(1.0)  # no staff: divide by 1


def test_province_staff_on_shift_follows_the_status_log_when_present() -> None:
    ev = _province_log(
        status=[
            {"worker_id": "W1", "at": at(0, 9), "on_shift": True, "open_tasks": 0},
            {"worker_id": "W1", "at": at(0, 12), "on_shift": True, "open_tasks": 3},
            {"worker_id": "W1", "at": at(0, 13), "on_shift": False, "open_tasks": 0},
            {"worker_id": "W2", "at": at(0, 11), "on_shift": True, "open_tasks": 1},
        ]
    )
    snaps = np.arange(0, 24) * HOUR + to_us(pd.Series([D0]))[0]
    ps = build_province_status(ev, snaps)
    ps = ps[ps["province_id"] == "P01"].set_index("event_timestamp")["prov_staff_on_shift"]
    assert [ps[at(0, h)] for h in (9, 10, 12, 13, 14)] == [0, 1, 2, 2, 1]
