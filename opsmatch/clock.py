"""The operation's clock: wall time, or a demo clock that runs ``speed`` times faster from an anchor.

The service, ``opsmatch live`` and the monitor must agree on "now": a demo that plays an hour a
minute only makes sense when the service's SLA, shift and timeout arithmetic follows the same time.
Both build the clock from the same settings (``OPSMATCH_CLOCK_ANCHOR``, ``OPSMATCH_CLOCK_SPEED``):

    now = anchor + (wall_now - anchor) * speed

so at ``speed == 1`` (the default) it is the wall clock, and at any speed it equals the wall clock at
the anchor instant. Pure arithmetic; ``wall`` is injectable for tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

CENTRE_ZONE = "Asia/Shanghai"  # the national centre's local time (the scenarios' default zone)


def _wall() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OpsClock:
    """Callable clock: ``clock()`` is the operation's now (timezone-aware UTC)."""

    anchor: datetime | None = None
    speed: float = 1.0
    wall: Callable[[], datetime] = field(default=_wall, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"clock speed must be > 0, got {self.speed}")
        if self.anchor is not None and self.anchor.tzinfo is None:
            raise ValueError("clock anchor must carry a time zone")

    def __call__(self) -> datetime:
        now = self.wall()
        if self.anchor is None or self.speed == 1.0:
            return now
        return self.anchor + (now - self.anchor) * self.speed

    def wall_seconds(self, sim_seconds: float) -> float:
        """How many wall seconds pass while the operation's clock moves ``sim_seconds``."""
        return sim_seconds / self.speed

    def sim_delta(self, wall_seconds: float) -> timedelta:
        """How far the operation's clock moves in ``wall_seconds`` of wall time."""
        return timedelta(seconds=wall_seconds * self.speed)


def clock_from(settings: object) -> OpsClock:
    """The clock the settings describe (``clock_anchor``, ``clock_speed``)."""
    anchor = getattr(settings, "clock_anchor", None)
    speed = float(getattr(settings, "clock_speed", 1.0))
    if speed != 1.0 and anchor is None:
        raise ValueError("clock_speed other than 1 needs clock_anchor (the instant both clocks agree)")
    return OpsClock(anchor=anchor, speed=speed)


def next_weekday_at(wall: datetime, hour: int, zone: str = CENTRE_ZONE) -> datetime:
    """The first weekday ``hour``:00 local to ``zone`` strictly after ``wall``, in UTC.

    A demo or a test that must see the day shift at work starts its clock there (``clock_reading``)."""
    local = wall.astimezone(ZoneInfo(zone))
    day = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    while day <= local or day.weekday() >= 5:
        day = (day + timedelta(days=1)).replace(hour=hour)
    return day.astimezone(UTC)


def clock_reading(op_now: datetime, at: datetime, speed: float) -> OpsClock:
    """A demo clock of ``speed`` (not 1) that reads ``op_now`` at the wall instant ``at``."""
    if speed == 1.0:
        raise ValueError("the wall clock (speed 1) reads the wall time: it cannot read another instant")
    return OpsClock(anchor=at - (op_now - at) / (speed - 1.0), speed=speed)
