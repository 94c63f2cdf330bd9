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


MONDAY_NIGHT = datetime(2026, 12, 6, 18, 36, tzinfo=UTC)  # Mon 02:36 in Beijing
TUESDAY_WORK = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # Tue 11:00 in Beijing


def test_a_demo_clock_starts_at_a_past_working_morning_at_any_hour() -> None:
    from opsmatch.clock import demo_start

    friday_ten = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    assert demo_start(MONDAY_NIGHT, None) == friday_ten  # the weekend and the night skipped
    assert demo_start(TUESDAY_WORK, None) == datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # this morning
    # at 10x the clock meets the wall after an hour: 9 operation hours earlier, Monday's morning
    assert demo_start(TUESDAY_WORK, None, speed=10.0) == datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    # a store that already ran past that morning continues where it stopped, never in the future
    later = friday_ten + timedelta(hours=30)
    assert demo_start(MONDAY_NIGHT, later) == later
    assert demo_start(MONDAY_NIGHT, MONDAY_NIGHT + timedelta(hours=1)) == MONDAY_NIGHT


def test_a_demo_clock_runs_at_its_speed_and_never_passes_the_wall_clock() -> None:
    from opsmatch.clock import demo_clock

    clock = demo_clock(MONDAY_NIGHT, None, speed=60.0)
    assert replace_wall(clock, MONDAY_NIGHT)() == clock.start
    one_minute = replace_wall(clock, MONDAY_NIGHT + timedelta(minutes=1))()
    assert one_minute == clock.start + timedelta(hours=1)
    late = MONDAY_NIGHT + timedelta(hours=3)
    assert replace_wall(clock, late)() == late  # caught up: real time from then on
    info = clock.describe()
    assert info["mode"] == "demo" and info["speed"] == 60.0 and info["anchor"] == MONDAY_NIGHT


def test_settings_carry_the_demo_clock_to_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.demo import clock_env, with_clock

    chosen = with_clock(Settings(clock="demo", clock_speed=10.0, data_dir="/nonexistent"), MONDAY_NIGHT)
    for name, value in clock_env(chosen).items():
        monkeypatch.setenv(name, value)
    again = clock_from(Settings())
    assert again.start == chosen.clock_start and again.anchor == MONDAY_NIGHT and again.speed == 10.0
    assert again.not_after_wall
    with pytest.raises(ValueError, match="chosen by `opsmatch demo`"):
        clock_from(Settings(clock="demo", clock_anchor=None))


def replace_wall(clock: OpsClock, wall: datetime) -> OpsClock:
    return OpsClock(
        anchor=clock.anchor,
        speed=clock.speed,
        wall=_wall_at(wall),
        start=clock.start,
        not_after_wall=clock.not_after_wall,
    )
