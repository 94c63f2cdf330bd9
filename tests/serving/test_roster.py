"""Roster-aware availability: shift patterns, calendars, live status while fresh, roster when stale."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from features.province_features import scheduled_on_shift
from serving.matching.roster import SOURCES, Calendar, Roster, resolve

SH = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 6, 1)  # a Monday


def local(day: date, hour: float, zone: ZoneInfo = SH) -> datetime:
    h, m = int(hour), int(round((hour % 1) * 60))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=zone).astimezone(UTC)


def frames(patterns: list[tuple[int, int, str]], province: str = "P01", **calendar: object) -> tuple:
    workers = pd.DataFrame(
        {
            "worker_id": [f"W{i}" for i in range(len(patterns))],
            "province_id": province,
            "shift_start_hour": [p[0] for p in patterns],
            "shift_hours": [p[1] for p in patterns],
            "work_days": [p[2] for p in patterns],
        }
    )
    prov = {
        "province_id": ["P01", "P02"],
        "timezone": [str(calendar.get("timezone", "Asia/Shanghai")), "Europe/Berlin"],
        "workday_start_hour": [8, 8],
        "workday_end_hour": [18, 18],
        "works_weekends": [bool(calendar.get("works_weekends", False)), True],
    }
    return workers, pd.DataFrame(prov)


def roster(patterns: list[tuple[int, int, str]], **kw: object) -> Roster:
    workers, provinces = frames(patterns, **kw)
    return Roster.from_frames(workers["worker_id"].tolist(), workers, provinces)


def test_calendar_open_days_and_hours() -> None:
    cal = Calendar("Asia/Shanghai", 8, 18, works_weekends=False, holidays=frozenset({date(2026, 6, 3)}))
    assert cal.is_open_day(MONDAY) and not cal.is_open_day(date(2026, 6, 6))  # Saturday
    assert not cal.is_open_day(date(2026, 6, 3))  # a holiday
    assert (
        cal.is_open(local(MONDAY, 9))
        and not cal.is_open(local(MONDAY, 18))
        and not cal.is_open(local(MONDAY, 7.5))
    )


def test_a_day_shift_is_on_between_its_start_and_end_local_time() -> None:
    r = roster([(9, 8, "01234")])
    for hour, on in ((8.9, False), (9, True), (12.5, True), (16.99, True), (17, False)):
        assert bool(r.at(local(MONDAY, hour)).on_shift[0]) is on, hour
    shift = r.at(local(MONDAY, 10))
    assert shift.shift_end[0] == local(MONDAY, 17).timestamp()
    assert np.isnan(r.at(local(MONDAY, 18)).shift_end[0])
    assert not r.at(local(date(2026, 6, 6), 10)).on_shift[0]  # Saturday is not a work day


def test_an_overnight_shift_belongs_to_the_day_it_started() -> None:
    r = roster([(22, 8, "0")])  # Monday 22:00 -> Tuesday 06:00
    tuesday = MONDAY + timedelta(days=1)
    assert r.at(local(tuesday, 2)).on_shift[0]
    assert r.at(local(tuesday, 2)).shift_end[0] == local(tuesday, 6).timestamp()
    assert not r.at(local(tuesday, 22.5)).on_shift[0]  # Tuesday is not a work day
    assert not r.at(local(MONDAY, 2)).on_shift[0]  # the Sunday night shift does not exist


def test_the_province_calendar_closes_weekend_shifts_unless_it_works_weekends() -> None:
    saturday = date(2026, 6, 6)
    closed = roster([(9, 8, "0123456")], works_weekends=False)
    assert not closed.at(local(saturday, 10)).on_shift[0]
    open_ = roster([(9, 8, "0123456")], works_weekends=True)
    assert open_.at(local(saturday, 10)).on_shift[0]


def test_shift_hours_are_elapsed_hours_across_a_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    workers, provinces = frames([(22, 8, "5")], province="P02")  # Saturday 22:00, DST ends that night
    r = Roster.from_frames(["W0"], workers, provinces)
    start = local(date(2026, 10, 24), 22, berlin)
    assert r.at(start + timedelta(hours=7, minutes=59)).on_shift[0]
    assert not r.at(start + timedelta(hours=8)).on_shift[0]
    assert r.at(start + timedelta(hours=1)).shift_end[0] == (start + timedelta(hours=8)).timestamp()


def test_the_roster_agrees_with_the_feature_pipelines_shift_rule_on_the_hour() -> None:
    rng = np.random.default_rng(3)
    patterns = [
        (
            int(rng.integers(0, 24)),
            int(rng.integers(1, 13)),
            "".join(sorted(set(rng.choice(list("0123456"), 4)))),
        )
        for _ in range(40)
    ]
    r = roster(patterns, works_weekends=True)
    workers, _ = frames(patterns)
    for hours in range(0, 24 * 8, 5):
        t = local(MONDAY, 0) + timedelta(hours=hours)
        lt = t.astimezone(SH)
        expected = scheduled_on_shift(workers, np.array([lt.hour]), np.array([lt.weekday()]))[:, 0]
        assert r.at(t).on_shift.tolist() == expected.tolist(), t


def test_unknown_workers_and_provinces_have_no_roster() -> None:
    workers, provinces = frames([(9, 8, "01234")], province="P99")
    r = Roster.from_frames(["W0", "W-missing"], workers, provinces)
    assert r.known.tolist() == [False, False]
    assert not r.at(local(MONDAY, 10)).on_shift.any()


T = local(MONDAY, 10)  # W0 rostered on (09-17), W1 rostered off (night shift)


@pytest.fixture
def two() -> Roster:
    return roster([(9, 8, "01234"), (22, 8, "01234")])


def test_a_fresh_live_status_overrides_the_roster_both_ways(two: Roster) -> None:
    at = np.array([T.timestamp() - 60, T.timestamp() - 60])
    got = resolve(T, np.array([False, True]), at, two, ttl_seconds=3600)
    assert got.on_shift.tolist() == [False, True]
    assert [SOURCES[i] for i in got.source] == ["live", "live"]
    # W1 is on by live status outside its roster: the end of its shift is unknown
    assert np.isnan(got.minutes_left).all()


def test_a_stale_status_falls_back_to_the_roster(two: Roster) -> None:
    at = np.array([T.timestamp() - 7200, np.nan])
    got = resolve(T, np.array([False, True]), at, two, ttl_seconds=3600)
    assert got.on_shift.tolist() == [True, False]
    assert got.counts() == {"live": 0, "roster": 2, "last_status": 0, "assumed": 0}
    assert got.minutes_left[0] == pytest.approx(7 * 60)
    fresh_again = resolve(T, np.array([False, True]), at, two, ttl_seconds=7200)
    assert fresh_again.on_shift.tolist() == [False, False] and fresh_again.source_of(0) == "live"


def test_a_status_from_the_future_counts_only_within_the_clock_skew(two: Roster) -> None:
    on = np.array([False, False])
    soon = resolve(T, on, np.array([T.timestamp() + 30, np.nan]), two, 3600)
    later = resolve(T, on, np.array([T.timestamp() + 600, np.nan]), two, 3600)
    assert soon.source_of(0) == "live" and later.source_of(0) == "roster"


def test_without_a_roster_the_last_status_decides_else_the_worker_is_assumed_on() -> None:
    at = np.array([T.timestamp() - 10**6, np.nan])
    got = resolve(T, np.array([False, False]), at, None, ttl_seconds=60)
    assert got.on_shift.tolist() == [False, True]
    assert [got.source_of(i) for i in range(2)] == ["last_status", "assumed"]
    with pytest.raises(ValueError, match="roster has 2 rows for 3 workers"):
        resolve(T, np.zeros(3, bool), None, roster([(9, 8, "0"), (9, 8, "0")]), 60)
