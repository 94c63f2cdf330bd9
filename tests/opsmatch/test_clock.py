"""The operation's clock: wall time at speed 1, anchored fast time in a demo."""

from datetime import UTC, datetime, timedelta

import pytest

from opsmatch.clock import OpsClock, clock_from, clock_reading, next_weekday_at
from opsmatch.settings import Settings

ANCHOR = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _wall_at(t: datetime):
    return lambda: t


def test_speed_one_is_the_wall_clock() -> None:
    t = ANCHOR + timedelta(minutes=7)
    assert OpsClock(anchor=ANCHOR, speed=1.0, wall=_wall_at(t))() == t


def test_fast_clock_runs_speed_times_from_the_anchor() -> None:
    clock = OpsClock(anchor=ANCHOR, speed=60.0, wall=_wall_at(ANCHOR + timedelta(minutes=2)))
    assert clock() == ANCHOR + timedelta(hours=2)
    assert clock.wall_seconds(3600) == pytest.approx(60.0)
    assert clock.sim_delta(1.0) == timedelta(minutes=1)


def test_settings_build_the_same_clock_in_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSMATCH_CLOCK_ANCHOR", ANCHOR.isoformat())
    monkeypatch.setenv("OPSMATCH_CLOCK_SPEED", "30")
    clock = clock_from(Settings())
    assert clock.anchor == ANCHOR and clock.speed == 30.0


def test_bad_clocks_are_refused() -> None:
    with pytest.raises(ValueError, match="needs clock_anchor"):
        clock_from(Settings(clock_speed=10.0))
    with pytest.raises(ValueError, match="time zone"):
        OpsClock(anchor=datetime(2026, 1, 1), speed=2.0)


def test_next_weekday_morning_skips_the_weekend_and_the_hour_already_past() -> None:
    friday_noon_beijing = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)  # Fri 12:00 in Beijing
    assert next_weekday_at(friday_noon_beijing, 10) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Mon 10:00
    tuesday_early = datetime(2026, 12, 1, 1, 59, tzinfo=UTC)  # Tue 09:59 in Beijing
    assert next_weekday_at(tuesday_early, 10) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    at_ten = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # strictly after: the next day's
    assert next_weekday_at(at_ten, 10) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert next_weekday_at(tuesday_early, 10, zone="Asia/Urumqi") == datetime(2026, 12, 1, 4, tzinfo=UTC)


def test_a_clock_reading_an_instant_reads_it_then_and_runs_at_its_speed() -> None:
    at = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    morning = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    clock = clock_reading(morning, at, 10.0)
    assert clock.speed == 10.0
    assert replace_wall(clock, at)() == morning
    assert replace_wall(clock, at + timedelta(seconds=6))() == morning + timedelta(minutes=1)
    with pytest.raises(ValueError, match="speed 1"):
        clock_reading(morning, at, 1.0)


def replace_wall(clock: OpsClock, wall: datetime) -> OpsClock:
    return OpsClock(anchor=clock.anchor, speed=clock.speed, wall=_wall_at(wall))
