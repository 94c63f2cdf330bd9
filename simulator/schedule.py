"""What the engine schedules: one named record per event kind, and each worker's shift calendar.

Every record starts with ``at`` (simulation minutes), ``kind`` (its ``EventKind``, also its priority at
equal times) and ``seq`` (insertion order), so the records themselves are the heap's entries and order
as (time, kind, insertion). Arrivals are not scheduled: the engine merges them from the pre-sorted
arrival list, with ``EventKind.ARRIVAL`` as their priority.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from enum import IntEnum
from typing import NamedTuple

from simulator.clock import MINUTES_PER_DAY
from simulator.facts import SimFacts
from simulator.scenario import ScenarioConfig
from simulator.workforce import Workforce


class EventKind(IntEnum):
    """Event kinds in the order they are handled at equal times."""

    SHIFT_END = 0
    DISRUPTION = 1
    COMPLETION = 2
    SHIFT_START = 3
    ARRIVAL = 4
    POLICY_TICK = 5
    STATUS_SNAPSHOT = 6
    DAY_MARK = 7


class ShiftEnd(NamedTuple):
    """A worker's shift ends: open tasks not yet started go back to the pool."""

    at: float
    kind: EventKind
    seq: int
    worker: int


class Disruption(NamedTuple):
    """A province becomes unavailable (``active``: every worker of it goes off shift) or available again."""

    at: float
    kind: EventKind
    seq: int
    province: int
    active: bool


class Completion(NamedTuple):
    """The task in service at ``worker`` is done."""

    at: float
    kind: EventKind
    seq: int
    worker: int


class ShiftStart(NamedTuple):
    """A worker's shift starts; it ends at ``ends_at`` (``inf``: never, the always-on workforce)."""

    at: float
    kind: EventKind
    seq: int
    worker: int
    ends_at: float


class PolicyTick(NamedTuple):
    """The policy's periodic hook (only for policies with ``tick_minutes``)."""

    at: float
    kind: EventKind
    seq: int


class StatusSnapshot(NamedTuple):
    """Every on-shift worker's status row (every ``status_every_hours``)."""

    at: float
    kind: EventKind
    seq: int


class DayMark(NamedTuple):
    """``day`` simulated days are done (drives the progress callback)."""

    at: float
    kind: EventKind
    seq: int
    day: int


Event = ShiftEnd | Disruption | Completion | ShiftStart | PolicyTick | StatusSnapshot | DayMark


class ShiftCalendar:
    """Shift calendar of each worker in simulation minutes."""

    def __init__(self, config: ScenarioConfig, workforce: Workforce) -> None:
        self.origin = [config.local_origin(p) for p in range(len(config.provinces))]
        self.workforce = workforce

    def next_shift(self, worker: int, after: float) -> tuple[float, float]:
        """(start, end) of the first shift of ``worker`` that ends after ``after`` (it may already be in
        progress); (inf, inf) when none does within nine days."""
        wf = self.workforce
        origin_minute, origin_weekday = self.origin[wf.province[worker]]
        start_minute, length = wf.shift_start[worker] * 60.0, wf.shift_hours[worker] * 60.0
        first_day = int((after + origin_minute) // MINUTES_PER_DAY) - 1
        for day in range(first_day, first_day + 9):
            start = day * MINUTES_PER_DAY + start_minute - origin_minute
            if wf.work_days[worker, (origin_weekday + day) % 7] and start + length > after:
                return start, start + length
        return math.inf, math.inf


def opening_events(
    facts: SimFacts,
    shifts: ShiftCalendar,
    seq: Iterator[int],
    *,
    start: float,
    stop: float,
    status_period: float | None,
    tick_minutes: float | None,
    day_marks: bool,
) -> list[Event]:
    """What is scheduled before the replay starts at ``start``: every worker's first shift, each
    disruption's on and off, the first status snapshot and policy tick (when set), and one mark per day
    up to ``stop`` (when ``day_marks``). ``seq`` numbers them in this order."""
    events: list[Event] = []
    for worker in range(facts.n_workers):
        if facts.always_on:
            events.append(ShiftStart(start, EventKind.SHIFT_START, next(seq), worker, math.inf))
        else:
            begins, ends = shifts.next_shift(worker, start)
            events.append(ShiftStart(max(begins, start), EventKind.SHIFT_START, next(seq), worker, ends))
    config = facts.config
    for d in config.disruptions:
        province = config.province_index(d.province)
        on = d.day * MINUTES_PER_DAY + d.hour * 60 - config.local_origin(province)[0]
        events.append(Disruption(on, EventKind.DISRUPTION, next(seq), province, True))
        off = on + d.duration_hours * 60
        events.append(Disruption(off, EventKind.DISRUPTION, next(seq), province, False))
    if status_period is not None:
        first = math.ceil(start / status_period) * status_period
        events.append(StatusSnapshot(first, EventKind.STATUS_SNAPSHOT, next(seq)))
    if tick_minutes:
        events.append(PolicyTick(start + tick_minutes, EventKind.POLICY_TICK, next(seq)))
    if day_marks:
        for day in range(1, int(math.ceil((stop - start) / MINUTES_PER_DAY)) + 1):
            events.append(DayMark(start + day * MINUTES_PER_DAY, EventKind.DAY_MARK, next(seq), day))
    return events
