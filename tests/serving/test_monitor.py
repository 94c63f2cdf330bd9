"""The monitor's pure decisions on a test clock: timeouts, off-shift work, long waits, escalation, alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from serving.config import AlertRules, MonitorRules
from serving.tasks.lifecycle import Status, TaskEvent, TaskState, apply
from serving.tasks.monitor import grace_instant, sweep
from tests.factories.fakes import ManualClock, make_task

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
RULES = MonitorRules(accept_timeout_minutes=15, start_timeout_minutes=60, pending_max_minutes=30)
ALERTS = AlertRules(sla_near_hours=2.0, backlog_min_tasks=2, backlog_per_worker=1.0)


def state(task_id: str, status: Status, at: datetime, **kw: object) -> TaskState:
    held = status in (Status.ASSIGNED, Status.ACCEPTED, Status.STARTED)
    fields: dict[str, object] = (
        {"worker_id": "W1", "assignment_id": f"A-{task_id}", "assigned_at": at} if held else {}
    )
    if status in (Status.ACCEPTED, Status.STARTED):
        fields["accepted_at"] = at
    fields["assignments"] = 1 if held else 0
    fields.update(kw)
    return TaskState(task_id, status, since=at, created_at=at, **fields)  # type: ignore[arg-type]


def tasks_for(states: list[TaskState], hours_to_sla: float = 24.0, now: datetime = T0) -> dict:
    return {
        s.task_id: make_task(s.task_id, province_id="P01", hours_to_sla=hours_to_sla, now=now) for s in states
    }


def run(states: list[TaskState], now: datetime, rules: MonitorRules = RULES, **kw: object):  # noqa: ANN201
    kw.setdefault("on_shift", {"W1": True})
    return sweep(states, kw.pop("tasks", tasks_for(states)), now, rules, ALERTS, **kw)  # type: ignore[arg-type]


def test_an_assignment_not_accepted_in_time_is_taken_back() -> None:
    clock = ManualClock(T0)
    states = [state("T1", Status.ASSIGNED, T0)]
    assert run(states, clock.advance(15)).redispatch == []  # exactly at the timeout: not yet
    moves = run(states, clock.advance(1)).redispatch
    assert [(m.task_id, m.action, m.reason) for m in moves] == [("T1", "reassign", "accept_timeout")]
    assert moves[0].exclude_workers == ("W1",) and moves[0].waited_minutes == pytest.approx(16)
    # the alert's message says it in words: whom it was taken from, why, after how long
    assert (
        moves[0].message("W2")
        == "task T1 taken back from W1 (not accepted in time, 16 min) and re-dispatched to W2"
    )
    assert moves[0].message() == (  # nobody took it: it waits, and the words say so
        "task T1 taken back from W1 (not accepted in time, 16 min): no eligible worker on shift: waits"
    )


def test_an_accepted_task_not_started_in_time_is_taken_back() -> None:
    clock = ManualClock(T0)
    states = [state("T1", Status.ACCEPTED, T0)]
    assert run(states, clock.advance(59)).redispatch == []
    assert [m.reason for m in run(states, clock.advance(2)).redispatch] == ["start_timeout"]


def test_work_left_with_a_worker_gone_off_shift_is_taken_back_after_the_grace() -> None:
    clock = ManualClock(T0)
    states = [state("T1", Status.STARTED, T0, started_at=T0)]
    now = clock.advance(5)
    # off now but still on at now - grace (the shift just ended): not yet
    assert run(states, now, on_shift={"W1": False}, on_shift_earlier={"W1": True}).redispatch == []
    moves = run(states, clock.advance(10), on_shift={"W1": False}, on_shift_earlier={"W1": False}).redispatch
    assert [(m.reason, m.worker_id) for m in moves] == [("worker_off_shift", "W1")]
    assert grace_instant(now, RULES) == now - timedelta(minutes=RULES.off_shift_grace_minutes)


def test_tasks_waiting_too_long_are_dispatched_without_the_workers_who_let_them_go() -> None:
    clock = ManualClock(T0)
    states = [
        state("T1", Status.PENDING, T0),
        state("T2", Status.REJECTED, T0, previous_workers=("W7",)),
        state("T3", Status.PENDING, T0 + timedelta(minutes=20)),
    ]
    moves = run(states, clock.advance(31)).redispatch
    assert [(m.task_id, m.action, m.reason) for m in moves] == [
        ("T1", "dispatch", "pending_too_long"),
        ("T2", "dispatch", "pending_too_long"),
    ]
    assert moves[1].exclude_workers == ("W7",)
    assert (
        moves[0].message("W3")
        == "task T1 waited too long for a worker (31 min): dispatched by the monitor to W3"
    )
    long_wait = replace(moves[0], waited_minutes=2110.0)  # a night's backlog: said in hours
    assert (
        long_wait.message()
        == "task T1 waited too long for a worker (35.2 h): no eligible worker on shift: waits"
    )


def test_moves_come_in_sla_order_and_finished_tasks_are_ignored() -> None:
    states = [state(f"T{i}", Status.PENDING, T0) for i in range(3)] + [state("T9", Status.DONE, T0)]
    tasks = {
        s.task_id: make_task(s.task_id, hours_to_sla=h, now=T0)
        for s, h in zip(states, (30, 10, 20, 1), strict=True)
    }
    moves = run(states, T0 + timedelta(hours=1), tasks=tasks).redispatch
    assert [m.task_id for m in moves] == ["T1", "T2", "T0"]


def test_the_switch_off_moves_nothing_but_alerts_still_rise() -> None:
    states = [state("T1", Status.ASSIGNED, T0)]
    tasks = tasks_for(states, hours_to_sla=1.0)
    off = run(
        states, T0 + timedelta(hours=1), rules=RULES.model_copy(update={"redispatch": False}), tasks=tasks
    )
    assert off.redispatch == [] and off.escalated == []
    assert [a.kind for a in off.alerts] == ["sla_near"]
    assert "assigned to W1, not started" in off.alerts[0].message


def test_a_task_moved_too_often_is_escalated_instead() -> None:
    states = [state("T1", Status.ASSIGNED, T0, assignments=5, previous_workers=("W3", "W4", "W5", "W6"))]
    got = run(states, T0 + timedelta(minutes=20))
    assert got.redispatch == [] and [e.reason for e in got.escalated] == ["accept_timeout"]
    limit = [a for a in got.alerts if a.kind == "redispatch_limit"]
    assert len(limit) == 1 and limit[0].subject_id == "T1" and limit[0].severity == "critical"


def test_sla_and_backlog_alerts_cover_the_open_tasks_not_yet_started() -> None:
    now = T0 + timedelta(hours=1)
    states = [
        state("T1", Status.PENDING, T0),
        state("T2", Status.PENDING, T0),
        state("T3", Status.STARTED, T0, started_at=T0),
    ]
    tasks = {
        s.task_id: make_task(s.task_id, province_id="P02", hours_to_sla=h, now=now)
        for s, h in zip(states, (-1, 1, -1), strict=True)
    }
    got = run(states, now, tasks=tasks, staff_on_shift={"P02": 1})
    kinds = sorted((a.kind, a.subject_id) for a in got.alerts)
    assert kinds == [("province_backlog", "P02"), ("sla_near", "T2"), ("sla_overdue", "T1")]
    assert "waiting for dispatch" in next(a.message for a in got.alerts if a.subject_id == "T1")


def test_a_monitor_move_applies_as_a_legal_reassign_event_with_its_reason() -> None:
    st = state("T1", Status.ASSIGNED, T0)
    move = run([st], T0 + timedelta(minutes=20)).redispatch[0]
    event = TaskEvent(
        event_id="E1",
        task_id=move.task_id,
        kind="reassign",
        at=T0 + timedelta(minutes=20),
        actor="monitor",
        source="monitor",
        assignment_id=move.assignment_id,
        reason_code=move.reason,
    )
    after = apply(st, event)
    assert isinstance(after, TaskState) and after.status is Status.REASSIGNED
    assert after.previous_workers == move.exclude_workers


def test_a_task_without_its_record_is_a_caller_error() -> None:
    with pytest.raises(KeyError, match="T1"):
        sweep([state("T1", Status.PENDING, T0)], {}, T0, RULES, ALERTS, on_shift={})


def test_timeouts_wait_for_the_workers_system_to_catch_up() -> None:
    """A twin (or dispatch system) behind the service's clock has not told its worker yet: the accept
    and start timeouts count on how far its status feed has got, not on the service's clock alone."""
    import numpy as np

    from serving.tasks.monitor import told_clock

    states = [state("T1", Status.ASSIGNED, T0), state("T2", Status.ACCEPTED, T0)]
    now = T0 + timedelta(minutes=90)
    behind = T0 + timedelta(minutes=10)  # the feed's newest status: ten minutes after the assignment
    assert run(states, now, told=behind).redispatch == []
    caught_up = run(states, now, told=T0 + timedelta(minutes=61)).redispatch
    assert [(m.task_id, m.reason) for m in caught_up] == [("T1", "accept_timeout"), ("T2", "start_timeout")]
    # the feed's clock: its newest status, never after now, and a silent feed stops holding back at the TTL
    at = np.array([np.nan, behind.timestamp(), (T0 - timedelta(hours=1)).timestamp()])
    assert told_clock(at, now, ttl_seconds=7200) == behind
    assert told_clock(at, now + timedelta(hours=3), ttl_seconds=7200) == now + timedelta(hours=1)
    assert told_clock(at, T0, ttl_seconds=7200) == T0 and told_clock(None, now, 7200) == now
