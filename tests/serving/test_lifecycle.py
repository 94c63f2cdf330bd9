"""The task lifecycle state machine: every (state, event) pair, legal and illegal, and the event rules."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opsmatch.contract import TABLES, TASK_EVENT_KINDS
from serving.tasks.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    InvalidEvent,
    Status,
    TaskEvent,
    TaskState,
    allowed_kinds,
    apply,
    replay,
)

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def ev(kind: str, minute: float = 0, **kw: object) -> TaskEvent:
    """A valid event of ``kind`` for task T1 on assignment A1 (fields overridable)."""
    base: dict[str, object] = {"assignment_id": "A1", "worker_id": None, "source": "worker"}
    if kind == "create":
        base = {"assignment_id": None, "source": "intake"}
    elif kind == "assign":
        base = {"assignment_id": "A1", "worker_id": "W1", "source": "assign", "arm": "ml"}
    elif kind == "reject":
        base["reason_code"] = "workload"
    elif kind == "reassign":
        base.update(reason_code="accept_timeout", source="monitor")
    elif kind == "cancel":
        base = {"assignment_id": None, "source": "intake", "reason_code": "withdrawn"}
    elif kind == "complete":
        base["source"] = "outcomes"
    fields = {"at": T0 + timedelta(minutes=minute), "actor": "tester", **base, **kw}
    return TaskEvent(event_id=f"E{next(_ids)}", task_id="T1", kind=kind, **fields)  # type: ignore[arg-type]


# A path from nothing to each state (minutes strictly increasing).
PATHS: dict[Status, list[str]] = {
    Status.PENDING: ["create"],
    Status.ASSIGNED: ["create", "assign"],
    Status.ACCEPTED: ["create", "assign", "accept"],
    Status.STARTED: ["create", "assign", "accept", "start"],
    Status.DONE: ["create", "assign", "accept", "start", "complete"],
    Status.REJECTED: ["create", "assign", "reject"],
    Status.REASSIGNED: ["create", "assign", "reassign"],
    Status.CANCELLED: ["create", "cancel"],
}


def reach(status: Status) -> TaskState:
    state = replay(ev(k, i) for i, k in enumerate(PATHS[status]))
    assert isinstance(state, TaskState) and state.status is status
    return state


def test_the_table_covers_every_kind_of_the_contract_and_every_state_is_reachable() -> None:
    assert set(TRANSITIONS) == set(TASK_EVENT_KINDS)
    assert set(PATHS) == set(Status)
    assert set(TABLES["task_events"].column("kind").choices or ()) == set(TRANSITIONS)


@pytest.mark.parametrize(("status", "kind"), list(itertools.product(list(Status), TASK_EVENT_KINDS)))
def test_every_state_and_event_pair_is_legal_exactly_when_the_table_says(status: Status, kind: str) -> None:
    state = reach(status)
    event = ev(kind, 100, assignment_id=state.assignment_id or "A1") if kind != "create" else ev(kind, 100)
    if kind == "assign":
        event = ev("assign", 100, assignment_id="A2", worker_id="W2")
    got = apply(state, event)
    allowed, target = TRANSITIONS[kind]
    if status in allowed:
        assert isinstance(got, TaskState), getattr(got, "message", got)
        assert got.status is target and got.since == event.at
    else:
        assert isinstance(got, IllegalTransition)
        assert got.current is status and got.attempted == kind
        assert f"it is {status.value}" in got.message
        assert kind not in allowed_kinds(status)


def test_a_task_cannot_be_created_twice_nor_moved_before_it_exists() -> None:
    assert isinstance(apply(None, ev("create")), TaskState)
    again = apply(reach(Status.PENDING), ev("create", 5))
    assert isinstance(again, IllegalTransition) and again.current is Status.PENDING
    ghost = apply(None, ev("assign"))
    assert isinstance(ghost, IllegalTransition) and ghost.current is None
    assert "does not exist" in ghost.message


def test_the_happy_path_records_who_holds_the_task_and_when() -> None:
    state = replay([ev("create"), ev("assign", 1, arm="least_busy"), ev("accept", 3), ev("start", 4)])
    assert isinstance(state, TaskState)
    assert (state.worker_id, state.assignment_id, state.arm) == ("W1", "A1", "least_busy")
    assert state.assigned_at == T0 + timedelta(minutes=1)
    assert state.accepted_at == T0 + timedelta(minutes=3)
    assert state.started_at == T0 + timedelta(minutes=4)
    done = apply(state, ev("complete", 30, worker_id="W1"))
    assert isinstance(done, TaskState) and done.status is Status.DONE and done.created_at == T0


def test_starting_before_accepting_and_accepting_a_done_task_are_illegal_with_the_current_state() -> None:
    early = apply(reach(Status.ASSIGNED), ev("start", 10))
    assert isinstance(early, IllegalTransition) and early.current is Status.ASSIGNED
    assert "allowed now: accept, reject, complete, reassign, cancel" in early.message
    late = apply(reach(Status.DONE), ev("accept", 10))
    assert isinstance(late, IllegalTransition) and late.current is Status.DONE
    assert "nothing (final)" in late.message


def test_a_rejected_task_is_dispatched_again_and_remembers_who_let_it_go() -> None:
    state = replay([ev("create"), ev("assign"), ev("reject", 2)])
    assert isinstance(state, TaskState)
    assert state.worker_id is None and state.assignment_id is None and state.previous_workers == ("W1",)
    state = apply(state, ev("assign", 3, assignment_id="A2", worker_id="W2"))
    assert isinstance(state, TaskState) and state.assignments == 2 and state.worker_id == "W2"
    # the old assignment no longer acts on the task
    stale = apply(state, ev("accept", 4, assignment_id="A1"))
    assert isinstance(stale, IllegalTransition) and "not the one in force (A2)" in stale.message
    wrong = apply(state, ev("accept", 4, assignment_id="A2", worker_id="W1"))
    assert isinstance(wrong, IllegalTransition) and "W2" in wrong.message


def test_events_out_of_time_order_and_for_another_task_are_refused() -> None:
    state = reach(Status.ASSIGNED)
    back = apply(state, ev("accept", -5))
    assert isinstance(back, IllegalTransition) and "before the last" in back.message
    with pytest.raises(ValueError, match="applied to task T1"):
        apply(state, replace(ev("accept", 5), task_id="T2"))


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        ("reject", {"reason_code": None}, "reason_code"),
        ("reject", {"reason_code": "accept_timeout"}, "reason_code"),  # a monitor reason, not a worker's
        ("reassign", {"reason_code": "workload"}, "reason_code"),
        ("cancel", {"reason_code": None}, "reason_code"),
        ("accept", {"assignment_id": None}, "assignment_id"),
        ("assign", {"worker_id": None}, "worker_id"),
        ("assign", {"source": "worker"}, "source"),
        ("assign", {"reason_code": "workload"}, "reason_code"),
        ("create", {"actor": ""}, "actor"),
        ("create", {"source": "somewhere"}, "source"),
        ("create", {"at": datetime(2026, 6, 1, 9)}, "at"),
    ],
)
def test_malformed_events_name_the_field(kind: str, fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        ev(kind, **fields)
    assert err.value.field == field


def test_an_override_of_the_top_ranked_worker_carries_its_reason() -> None:
    with pytest.raises(InvalidEvent) as err:
        ev("assign", source="person", worker_id="W2", ranked_worker_id="W1")
    assert err.value.field == "override_reason" and "top-ranked W1" in err.value.reason
    with pytest.raises(InvalidEvent, match="only a person"):
        ev("assign", source="rank", worker_id="W2", ranked_worker_id="W1", override_reason="training")
    chosen = ev("assign", source="person", worker_id="W2", ranked_worker_id="W1", override_reason="training")
    assert chosen.overridden
    followed = ev("assign", source="person", worker_id="W1", ranked_worker_id="W1")
    assert not followed.overridden


def test_replay_stops_at_the_first_illegal_event() -> None:
    got = replay([ev("create"), ev("assign", 1), ev("start", 2), ev("accept", 3)])
    assert isinstance(got, IllegalTransition) and got.attempted == "start"
    assert replay([]) is None
