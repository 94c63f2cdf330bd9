"""Event records order as (time, kind, insertion); shift calendars; what is scheduled at the opening."""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np

from simulator.arrivals import generate_arrivals
from simulator.clock import MINUTES_PER_DAY
from simulator.facts import build_facts
from simulator.scenario import load_scenario
from simulator.schedule import (
    Completion,
    DayMark,
    Disruption,
    EventKind,
    PolicyTick,
    ShiftCalendar,
    ShiftEnd,
    ShiftStart,
    StatusSnapshot,
    opening_events,
)
from simulator.workforce import build_workforce


def test_events_pop_by_time_then_kind_then_insertion() -> None:
    seq = itertools.count(1)
    pushed = [
        StatusSnapshot(60.0, EventKind.STATUS_SNAPSHOT, next(seq)),
        Completion(60.0, EventKind.COMPLETION, next(seq), 4),
        ShiftStart(60.0, EventKind.SHIFT_START, next(seq), 2, 600.0),
        ShiftEnd(60.0, EventKind.SHIFT_END, next(seq), 9),
        Completion(60.0, EventKind.COMPLETION, next(seq), 1),
        Completion(30.0, EventKind.COMPLETION, next(seq), 7),
        Disruption(60.0, EventKind.DISRUPTION, next(seq), 0, True),
        PolicyTick(60.0, EventKind.POLICY_TICK, next(seq)),
    ]
    heap: list = []
    for event in pushed:
        heapq.heappush(heap, event)
    popped = [heapq.heappop(heap) for _ in pushed]
    assert [type(e).__name__ for e in popped] == [
        "Completion",  # earlier time first
        "ShiftEnd",
        "Disruption",
        "Completion",
        "Completion",
        "ShiftStart",
        "PolicyTick",
        "StatusSnapshot",
    ]
    assert [e.worker for e in popped if isinstance(e, Completion)] == [7, 4, 1]  # insertion order at ties
    assert EventKind.SHIFT_START < EventKind.ARRIVAL < EventKind.POLICY_TICK  # arrivals sit in between


def test_next_shift_is_the_workers_own_shift_ending_after_the_time(small_workforce) -> None:
    cfg = load_scenario("small")
    shifts = ShiftCalendar(cfg, small_workforce)
    wf = small_workforce
    for worker in range(0, len(wf.province), 7):
        origin_minute, origin_weekday = cfg.local_origin(int(wf.province[worker]))
        after = 3 * MINUTES_PER_DAY + 11.5 * 60
        start, end = shifts.next_shift(worker, after)
        assert end > after and end - start == wf.shift_hours[worker] * 60
        local_start = start + origin_minute
        assert math.isclose(local_start % MINUTES_PER_DAY, wf.shift_start[worker] * 60)
        assert wf.work_days[worker, (origin_weekday + int(local_start // MINUTES_PER_DAY)) % 7]
        # no shift of the worker ends in between: the one before ended by ``after``
        following = shifts.next_shift(worker, end)
        assert following[0] >= end
        inside = shifts.next_shift(worker, (start + end) / 2)
        assert inside == (start, end)  # a shift in progress is returned


def test_opening_schedules_each_worker_and_only_the_asked_periodic_events() -> None:
    cfg = load_scenario("snowstorm")
    workforce = build_workforce(cfg, 5)
    facts = build_facts(cfg, generate_arrivals(cfg, 5, 5), workforce)
    shifts = ShiftCalendar(cfg, workforce)
    kw = {"start": 1440.0, "stop": 1440.0 * 4.5}
    bare = opening_events(
        facts, shifts, itertools.count(1), status_period=None, tick_minutes=None, day_marks=False, **kw
    )
    starts = [e for e in bare if isinstance(e, ShiftStart)]
    assert sorted(e.worker for e in starts) == list(range(facts.n_workers))
    assert all(e.at >= 1440.0 and e.ends_at > e.at for e in starts)
    storms = [e for e in bare if isinstance(e, Disruption)]
    assert [e.active for e in storms] == [True, False] and storms[1].at > storms[0].at
    assert len(bare) == facts.n_workers + 2
    full = opening_events(
        facts, shifts, itertools.count(1), status_period=60.0, tick_minutes=15.0, day_marks=True, **kw
    )
    assert [e.at for e in full if isinstance(e, StatusSnapshot)] == [1440.0]
    assert [e.at for e in full if isinstance(e, PolicyTick)] == [1455.0]
    assert [e.day for e in full if isinstance(e, DayMark)] == [1, 2, 3, 4]
    assert np.all(np.diff([e.seq for e in full]) == 1)  # numbered in scheduling order
