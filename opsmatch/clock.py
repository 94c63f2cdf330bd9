"""The operation's clock: wall time, or a demo clock that runs ``speed`` times faster from an anchor.

The service, ``opsmatch live`` and the monitor must agree on "now": a demo that plays an hour a
minute only makes sense when the service's SLA, shift and timeout arithmetic follows the same time.
Both build the clock from the same settings (``OPSMATCH_CLOCK``, ``OPSMATCH_CLOCK_ANCHOR``,
``OPSMATCH_CLOCK_START``, ``OPSMATCH_CLOCK_SPEED``):

    now = start + (wall_now - anchor) * speed        (start defaults to the anchor)

so at ``speed == 1`` without a start it is the wall clock, and at any speed it equals the wall clock at
the anchor instant when no start is given. ``OPSMATCH_CLOCK=wall`` (a deployment) is the wall clock.

``OPSMATCH_CLOCK=demo`` (``make run``) is a clock that reads a *past* working-day morning in the centre's
zone when the demo starts (:func:`demo_start`) and never passes the wall clock: no row is stamped in
the wall clock's future, and the demo shows a working day at whatever hour it is started. At ``speed``
above 1 it catches up with the wall clock after about ``DEMO_WALL_HOURS`` of wall time and then runs
in real time. Pure arithmetic; ``wall`` is injectable for tests.
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
    start: datetime | None = None  # what the clock reads at the anchor (default: the anchor)
    not_after_wall: bool = False  # a demo clock: never reads later than the wall clock

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"clock speed must be > 0, got {self.speed}")
        for name in ("anchor", "start"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"clock {name} must carry a time zone")
        if self.start is not None and self.anchor is None:
            raise ValueError("a clock start needs the anchor (the wall instant it reads the start)")

    def __call__(self) -> datetime:
        now = self.wall()
        if self.anchor is None or (self.speed == 1.0 and self.start is None):
            return now
        start = self.anchor if self.start is None else self.start
        reading = start + (now - self.anchor) * self.speed
        return min(reading, now) if self.not_after_wall else reading

    def describe(self) -> dict[str, object]:
        """What ``GET /info`` reports: the mode, now, speed, anchor and start."""
        mode = "demo" if self.not_after_wall else ("wall" if self.anchor is None else "fast")
        return {"mode": mode, "now": self(), "speed": self.speed, "anchor": self.anchor, "start": self.start}

    def wall_seconds(self, sim_seconds: float) -> float:
        """How many wall seconds pass while the operation's clock moves ``sim_seconds``."""
        return sim_seconds / self.speed

    def sim_delta(self, wall_seconds: float) -> timedelta:
        """How far the operation's clock moves in ``wall_seconds`` of wall time."""
        return timedelta(seconds=wall_seconds * self.speed)


def clock_from(settings: object) -> OpsClock:
    """The clock the settings describe (``clock``, ``clock_anchor``, ``clock_start``, ``clock_speed``).

    A demo clock without its anchor is the one ``opsmatch demo`` has not yet chosen: the caller (the
    bootstrap, the demo) picks it with :func:`demo_clock`; anything else reading it is an error."""
    mode = getattr(settings, "clock", "wall")
    anchor = getattr(settings, "clock_anchor", None)
    start = getattr(settings, "clock_start", None)
    speed = float(getattr(settings, "clock_speed", 1.0))
    if mode == "demo":
        if anchor is None:
            raise ValueError("the demo clock is chosen by `opsmatch demo` (OPSMATCH_CLOCK_ANCHOR is unset)")
        return OpsClock(anchor=anchor, speed=speed, start=start, not_after_wall=True)
    if speed != 1.0 and anchor is None:
        raise ValueError("clock_speed other than 1 needs clock_anchor (the instant both clocks agree)")
    return OpsClock(anchor=anchor, speed=speed, start=start)


DEMO_HOUR = 10  # the centre's working morning (every province's day shift is on by then)
DEMO_WALL_HOURS = 1.0  # wall hours a fast demo clock runs before it meets the wall clock


def last_weekday_at(wall: datetime, hour: int, zone: str = CENTRE_ZONE) -> datetime:
    """The last weekday ``hour``:00 local to ``zone`` at or before ``wall``, in UTC."""
    local = wall.astimezone(ZoneInfo(zone))
    day = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    while day > local or day.weekday() >= 5:
        day = (day - timedelta(days=1)).replace(hour=hour)
    return day.astimezone(UTC)


def demo_start(wall: datetime, last: datetime | None, speed: float = 1.0) -> datetime:
    """Where a demo clock starts when the demo starts at ``wall`` on a store whose newest event is
    ``last``: the last weekday morning (``DEMO_HOUR`` in Beijing) early enough that the clock runs
    ``DEMO_WALL_HOURS`` of wall time before it meets the wall clock; never before ``last`` (the store's
    time does not go back: a store that already ran past that morning continues where it stopped)."""
    room = timedelta(hours=DEMO_WALL_HOURS * max(speed - 1.0, 0.0))
    start = last_weekday_at(wall - room, DEMO_HOUR)
    if last is not None and last > start:
        return min(last, wall)
    return start


def demo_clock(wall: datetime, last: datetime | None, speed: float = 1.0) -> OpsClock:
    """The demo clock chosen at ``wall`` (see :func:`demo_start`): reads its start then, never passes
    the wall clock."""
    return OpsClock(anchor=wall, speed=speed, start=demo_start(wall, last, speed), not_after_wall=True)


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
