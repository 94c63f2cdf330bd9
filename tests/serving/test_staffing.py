"""Staffing math: Erlang C on the textbook case, the back-office flow model on a toy backlog, the flow
work folded into the shift, and the sharing recommendation it words."""

from __future__ import annotations

import pandas as pd
import pytest

from serving.planning.needs import (
    StaffingPolicy,
    erlang_c_positions,
    flow_staff,
    hourly_needed,
    into_shifts,
    needed_and_gap,
)
from serving.planning.sharing import recommendations


def test_erlang_c_textbook_case() -> None:
    # 100 contacts per 30 min, AHT 3 min, 80 % within 20 s, 85 % occupancy cap, 30 % shrinkage
    raw, scheduled = erlang_c_positions(100, 3.0, 30.0, StaffingPolicy())
    assert (raw, scheduled) == (14, 20)
    # 13 agents answer only 79.6 % within 20 s (P(wait) = 0.285), so one more is needed
    assert erlang_c_positions(100, 3.0, 30.0, StaffingPolicy(service_level=0.79)) == (13, 19)
    assert erlang_c_positions(0, 3.0, 30.0, StaffingPolicy()) == (0, 0)


def test_flow_model_toy_backlog() -> None:
    # 600 open tasks of 20 min, 2 days to SLA, 300 new a day: 6,000 + 6,000 min a day = 200 h = 25 people
    assert flow_staff(600 * 20, 2, 300 * 20, 8) == pytest.approx(25.0)
    with pytest.raises(ValueError):
        flow_staff(1, 0, 1, 8)


def _hours(n: int) -> list[pd.Timestamp]:
    return list(pd.date_range("2026-12-07 00:00", periods=n, freq="h", tz="UTC"))


def test_flow_work_waits_for_the_shift_and_the_gap_counts_people() -> None:
    hours = _hours(4)
    arrivals = pd.DataFrame(
        {"start": hours, "province_id": "P01", "task_type": "renewal", "expected": [6.0, 0.0, 3.0, 3.0]}
    )
    aht = pd.DataFrame({"province_id": ["P01"], "task_type": ["renewal"], "aht_minutes": [17.0]})
    policy = StaffingPolicy(shrinkage=0.5, max_occupancy=0.85)
    raw = hourly_needed(
        arrivals, aht, {"renewal": 72.0}, pd.DataFrame(columns=["province_id", "task_type", "open"]), policy
    )
    assert raw["flow"].sum() == pytest.approx(12 * 17 / 60 / 0.85)  # 4 staff-hours of work
    rostered = pd.DataFrame({"start": hours, "province_id": "P01", "rostered": [0.0, 0.0, 3.0, 5.0]})
    folded = into_shifts(raw, rostered, "UTC")
    assert folded["flow"].tolist() == pytest.approx([0.0, 0.0, 2.0, 2.0])  # the night's work waits
    gap = needed_and_gap(raw, rostered, "UTC", policy)
    assert gap["needed"].tolist() == [0.0, 0.0, 4.0, 4.0]  # 2 staff-hours / (1 - 50 % shrinkage)
    assert gap["gap"].tolist() == [0.0, 0.0, -1.0, 1.0]


def test_backlog_is_drained_over_the_hours_to_its_sla() -> None:
    hours = _hours(3)
    arrivals = pd.DataFrame({"start": hours, "province_id": "P01", "task_type": "renewal", "expected": 0.0})
    aht = pd.DataFrame({"province_id": ["P01"], "task_type": ["renewal"], "aht_minutes": [30.0]})
    backlog = pd.DataFrame({"province_id": ["P01"], "task_type": ["renewal"], "open": [4]})
    raw = hourly_needed(arrivals, aht, {"renewal": 2.0}, backlog, StaffingPolicy(max_occupancy=1.0))
    assert raw["flow"].tolist() == pytest.approx([1.0, 1.0, 0.0])  # 2 h of work over 2 h to the SLA


def test_short_sla_work_is_staffed_by_erlang_c() -> None:
    hours = _hours(1)
    arrivals = pd.DataFrame({"start": hours, "province_id": "P01", "task_type": "call", "expected": [200.0]})
    aht = pd.DataFrame({"province_id": ["P01"], "task_type": ["call"], "aht_minutes": [3.0]})
    raw = hourly_needed(
        arrivals,
        aht,
        {"call": 0.5},
        pd.DataFrame(columns=["province_id", "task_type", "open"]),
        StaffingPolicy(),
    )
    assert raw["erlang"].tolist() == [14.0] and raw["flow"].tolist() == [0.0]  # the textbook load in an hour


def test_recommendation_names_the_short_and_the_idle_and_patches_the_policy() -> None:
    hours = _hours(3)
    rows = []
    for h, short in zip(hours, [6.0, 6.0, 0.0], strict=True):
        rows += [
            {"start": h, "province_id": "P18", "gap": -short},
            {"start": h, "province_id": "P08", "gap": 4.0},
            {"start": h, "province_id": "P09", "gap": 4.0},
            {"start": h, "province_id": "P01", "gap": 0.0},
        ]
    recs = recommendations(
        pd.DataFrame(rows), {"P18": "Shandong", "P08": "Jilin", "P09": "Heilongjiang"}, zone="Asia/Shanghai"
    )
    assert len(recs) == 1
    rec = recs[0]
    assert rec["text"] == (
        "Shandong short 6 people 08:00-10:00 Monday 2026-12-07; "
        "Jilin and Heilongjiang idle 8 then: share-in on"
    )
    assert rec["policy_patch"] == {
        "provinces": {"P18": {"share_out": True}, "P08": {"share_in": True}, "P09": {"share_in": True}}
    }
