"""The operation's clock: wall time at speed 1, anchored fast time in a demo."""

from datetime import UTC, datetime, timedelta

import pytest

from opsmatch.clock import OpsClock, clock_from
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
