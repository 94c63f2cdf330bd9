"""The live twin's workers: answers, timing from the service's times, shifts, hand-backs, the truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from simulator.live_truth import TaskFacts, handling_minutes, task_uniforms
from simulator.live_world import Behaviour, LiveWorld
from simulator.workforce import build_workforce

NOW = dt.datetime(2026, 6, 3, 3, 0, tzinfo=dt.UTC)  # Wednesday 11:00 in Beijing: day shifts are on


def facts(task_id: str, task_type: str = "renewal") -> TaskFacts:
    return TaskFacts(
        task_id, task_type, "P01", "C000001", NOW, NOW + dt.timedelta(hours=24), 3, "phone", 500.0
    )


@pytest.fixture
def world(small, seed) -> LiveWorld:
    wf = build_workforce(small, seed)
    w = LiveWorld(wf.truth, wf, seed, Behaviour(reject_share=0.0))
    w.begin(NOW)
    return w


def skilled_on_shift(world: LiveWorld, task_type: str = "renewal") -> list[str]:
    k = world.truth.task_types.index(task_type)
    return [
        world.worker_ids[i]
        for i in range(len(world.worker_ids))
        if world.on_shift[i] and world.truth.eligible[i, k]
    ]


def run(world: LiveWorld, until: dt.datetime, step: float = 1.0) -> list:
    """Drive the world as the edge does: every action confirmed at its own time."""
    seen, t = [], NOW
    while t < until:
        t += dt.timedelta(minutes=step)
        queue = world.due(t)
        while queue:
            a = queue.pop(0)
            seen.append(a)
            if a.kind == "accept":
                queue += world.accepted(a.assignment_id, a.at)
            elif a.kind == "start":
                world.started(a.assignment_id, a.at)
    return seen


def test_an_assignment_is_accepted_started_and_completed_with_the_truth(world, seed) -> None:
    worker = skilled_on_shift(world)[0]
    world.offer("A1", facts("T1"), worker, NOW)
    seen = run(world, NOW + dt.timedelta(hours=8))
    kinds = [a.kind for a in seen if a.task_id == "T1" and a.kind in ("accept", "start", "complete")]
    assert kinds == ["accept", "start", "complete"]
    accept, start, done = (a for a in seen if a.task_id == "T1" and a.kind in ("accept", "start", "complete"))
    lo, hi = Behaviour().accept_minutes
    assert lo <= (accept.at - NOW).total_seconds() / 60 <= hi + 1e-6
    w = world.index[worker]
    k = world.truth.task_types.index("renewal")
    minutes = handling_minutes(
        world.truth, facts("T1"), w, task_uniforms(seed, "T1"), 0, world.truth.experience0[w, k]
    )
    assert done.row["handling_minutes"] == pytest.approx(minutes)
    assert done.row["started_at"] == start.at and done.row["completed_at"] == start.at + dt.timedelta(
        minutes=minutes
    )
    assert world.log.completions == [done.row] and world.log.assignments[0]["assignment_id"] == "A1"


def test_off_shift_and_overloaded_workers_reject(world) -> None:
    off = next(world.worker_ids[i] for i in range(len(world.worker_ids)) if not world.on_shift[i])
    busy = skilled_on_shift(world)[1]
    world.behaviour = Behaviour(reject_share=0.0, max_open=2)
    world.offer("A-off", facts("T-off"), off, NOW)
    for i in range(4):
        world.offer(f"A{i}", facts(f"T{i}", "renewal"), busy, NOW)
    seen = run(world, NOW + dt.timedelta(minutes=4), step=0.25)
    reasons = {a.assignment_id: a.reason_code for a in seen if a.kind == "reject"}
    accepted = [a.assignment_id for a in seen if a.kind == "accept"]
    assert reasons == {"A-off": "unavailable"} | {
        a: "workload" for a in ("A0", "A1", "A2", "A3") if a not in accepted
    }
    assert len(accepted) == 2


def test_shift_end_hands_back_the_queue_and_finishes_the_task_at_hand(world) -> None:
    worker = skilled_on_shift(world)[2]
    w = world.index[worker]
    _, ends = world.shifts.next_shift(w, world.minute(NOW))
    end = world.time(ends)
    before = end - dt.timedelta(minutes=1)
    run(world, before - dt.timedelta(minutes=2))
    world.offer("A-long", facts("T-long", "renewal"), worker, before - dt.timedelta(minutes=2))
    world.offer("A-next", facts("T-next", "renewal"), worker, before - dt.timedelta(minutes=2))
    t, seen = before - dt.timedelta(minutes=2), []
    while t < end + dt.timedelta(hours=6):
        t += dt.timedelta(minutes=0.5)
        queue = world.due(t)
        while queue:
            a = queue.pop(0)
            seen.append(a)
            if a.kind == "accept":
                queue += world.accepted(a.assignment_id, a.at)
            elif a.kind == "start":
                world.started(a.assignment_id, a.at + dt.timedelta(minutes=0))
        world.status_rows(t)
        if world.leaving[w]:
            assert world.reported[w][0] is True  # still reported on shift while finishing (overtime)
    starts = [a.assignment_id for a in seen if a.kind == "start"]
    rejects = {a.assignment_id: a.reason_code for a in seen if a.kind == "reject"}
    assert len(starts) == 1 and rejects == {({"A-long", "A-next"} - set(starts)).pop(): "unavailable"}
    assert [a.kind for a in seen if a.assignment_id == starts[0]][-1] == "complete"
    assert not world.on_shift[w] and not world.leaving[w] and world.reported[w] == (False, 0)


def test_withdrawn_work_frees_the_worker(world) -> None:
    worker = skilled_on_shift(world)[3]
    world.offer("A1", facts("T1"), worker, NOW)
    seen = run(world, NOW + dt.timedelta(minutes=5))
    assert [a.kind for a in seen] == ["accept", "start"]
    world.withdraw("A1")
    assert world.open_tasks(world.index[worker]) == 0 and world.holding() == {}
    assert all(a.kind != "complete" for a in run(world, NOW + dt.timedelta(hours=12)))


def test_the_same_offers_give_the_same_actions(small, seed) -> None:
    def play() -> list[tuple]:
        wf = build_workforce(small, seed)
        w = LiveWorld(wf.truth, wf, seed)
        w.begin(NOW)
        for i, worker in enumerate(skilled_on_shift(w)[:8]):
            w.offer(f"A{i}", facts(f"T{i}"), worker, NOW)
        return [(a.at, a.kind, a.assignment_id, a.reason_code) for a in run(w, NOW + dt.timedelta(days=4))]

    first, second = play(), play()
    assert first == second and {"accept", "start", "complete"} <= {k for _, k, _, _ in first}
    assert np.mean([k == "qa" for _, k, _, _ in first]) > 0  # some QA checks fall due within four days
