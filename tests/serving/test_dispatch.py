"""The lifecycle endpoints on the engine (fake models and profiles, a real temporary event store): two
writers racing on one task, and the monitor's pass on a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsmatch import events
from serving.api.schemas import AssignRequest
from serving.api.task_schemas import AnswersIn, AssignmentIn, TasksIn
from serving.config import load_service_config
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from serving.tasks.answers import answer_many, plan, write_planned
from serving.tasks.dispatch import TransitionConflict
from serving.tasks.lifecycle import TaskEvent
from tests.factories.fakes import NOW, ManualClock


def task_row(task_id: str, created_minutes_ago: float = 5.0) -> dict:
    created = NOW - timedelta(minutes=created_minutes_ago)
    return {
        "task_id": task_id,
        "task_type": "renewal",
        "province_id": "P01",
        "customer_id": "C1",
        "created_at": created,
        "sla_due_at": created + timedelta(hours=8),
        "complexity": 3,
        "channel": "phone",
        "amount": 10.0,
    }


@pytest.fixture
def engines(settings, runtime):  # noqa: ANN001, ANN201
    """Two engines (two service processes) on one event store, one manual clock."""
    clock = ManualClock(NOW)
    stores = [StateStore(settings.resolved_state_db_url) for _ in range(2)]
    config = load_service_config({"policy_ttl_seconds": 0})
    yield [Engine(settings, runtime, st, config, clock=clock) for st in stores], clock
    for st in stores:
        st.close()


def test_two_writers_of_one_task_one_wins_the_other_gets_409(engines) -> None:  # noqa: ANN001
    (a, b), _ = engines
    got = a.queue.intake(TasksIn(tasks=[task_row("RACE")]), actor="core")
    assert got.new == 1 and got.tasks[0].status == "pending" and got.tasks[0].p_complaint is not None
    stale = b.book.state("RACE")  # b read the task before a wrote
    a.lifecycle.commit(AssignmentIn(task_id="RACE", worker_id="W0001", source="rank"), actor="d1")
    with pytest.raises(TransitionConflict) as err:
        b.lifecycle.write_assign(stale, "W0002", "A-other", source="rank", actor="d2", now=NOW, arm="ml")
    assert err.value.status == 409 and err.value.body()["detail"][0]["msg"] == "assigned"
    assert "another writer" in err.value.message
    assert b.book.state("RACE").worker_id == "W0001"  # b's book caught up; nothing of b's was stored
    assert b.book.assignment("A-other") is None


def test_monitor_takes_back_a_timed_out_task_and_gives_it_to_another(engines) -> None:  # noqa: ANN001
    (a, _), clock = engines
    a.queue.intake(TasksIn(tasks=[task_row("SLOW")]), actor="core")
    first = a.assign(AssignRequest(task_ids=["SLOW"], commit=True), actor="d")
    held = first.assignments[0]
    assert first.committed == 1 and held.assignment_id
    assert a.dispatcher.monitor() == 0  # within the accept timeout (15 min): nothing moves
    clock.advance(16)
    assert a.dispatcher.monitor() == 1
    history = a.book.history("SLOW")
    assert [(e.kind, e.source, e.reason_code) for e in history[-2:]] == [
        ("reassign", "monitor", "accept_timeout"),
        ("assign", "monitor", "accept_timeout"),
    ]
    assert history[-1].worker_id != held.worker_id and a.dispatcher.stats.moves == {"accept_timeout": 1}
    assert a.book.state("SLOW").previous_workers == (held.worker_id,)


def test_the_monitor_says_and_counts_only_what_the_store_holds(engines, monkeypatch) -> None:  # noqa: ANN001
    """A long wait with nobody on shift is reported once as waiting (not as dispatched, not counted as a
    move); the counters equal the monitor's events in the store."""
    (a, _), clock = engines
    said: list[str] = []
    upsert = a.store.upsert_alerts

    def record(alerts, at, **kw):  # noqa: ANN001, ANN003, ANN202
        said.extend(x.message for x in alerts if x.kind == "redispatch")
        return upsert(alerts, at, **kw)

    monkeypatch.setattr(a.store, "upsert_alerts", record)
    a.queue.intake(TasksIn(tasks=[task_row("WAIT")]), actor="core")
    pool = a.runtime.profiles.snapshot()
    pool.on_shift[:] = False  # the night: nobody on shift
    clock.advance(31)  # past pending_max_minutes (30)
    assert a.dispatcher.monitor() == 0 and a.dispatcher.monitor() == 0
    assert said == ["task WAIT waited too long for a worker (31 min): no eligible worker on shift: waits"]
    assert a.book.state("WAIT").status.value == "pending" and a.dispatcher.stats.moves == {}
    assert a.dispatcher.stats.dispatched == 0 and a.dispatcher.stats.unplaced == 1
    pool.on_shift[:] = True  # the morning
    a.queue.intake(TasksIn(tasks=[task_row("SLOW")]), actor="core")
    a.assign(AssignRequest(task_ids=["SLOW"], commit=True), actor="d")
    clock.advance(16)  # SLOW not accepted in time; WAIT finally dispatched
    assert a.dispatcher.monitor() == 2
    worker = a.book.state("WAIT").worker_id
    assert worker and said[-1].startswith("task WAIT waited too long") and said[-1].endswith(f"to {worker}")
    events = [e for t in ("WAIT", "SLOW") for e in a.book.history(t) if e.source == "monitor"]
    taken = [e.reason_code for e in events if e.kind == "reassign"]
    placed = [e.reason_code for e in events if e.kind == "assign"]
    stats = a.dispatcher.stats
    assert stats.dispatched == len(placed) == 2
    moves = {**{r: taken.count(r) for r in taken}, "pending_too_long": placed.count("pending_too_long")}
    assert dict(stats.moves) == moves == {"accept_timeout": 1, "pending_too_long": 1}


def test_assign_with_nobody_on_shift_counts_by_reason_and_lists_a_page(engines) -> None:  # noqa: ANN001
    (a, _), _ = engines
    a.queue.intake(TasksIn(tasks=[task_row(f"N{i}") for i in range(5)]), actor="core")
    pool = a.runtime.profiles.snapshot()
    pool.on_shift[:] = False  # the night
    out = a.assign(AssignRequest(all_waiting=True, commit=True, limit=2), actor="d")
    assert (out.n_tasks, out.n_assigned, out.committed, out.n_unassigned) == (5, 0, 0, 5)
    assert out.unassigned_counts == {"no_eligible_worker": 5} and len(out.unassigned) == 2
    assert out.unassigned[0].excluded == {"off_shift": len(pool)} and out.scored_pairs == 0  # not scored
    pool.on_shift[:] = True  # the morning: the same request assigns, and still lists at most a page
    out = a.assign(AssignRequest(all_waiting=True, limit=1), actor="d")
    assert out.n_assigned == 5 and out.n_unassigned == 0 and out.unassigned == []


def test_the_monitor_does_not_plan_what_nobody_can_take(engines, monkeypatch) -> None:  # noqa: ANN001
    """A long-waiting task with nobody on shift is not scored or planned sweep after sweep (issue 23:
    idle CPU); once someone is on shift it is."""
    (a, _), clock = engines
    planned: list[list[str]] = []
    run = a.dispatcher.run

    def counted(tasks, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        planned.append([t.task_id for t in tasks])
        return run(tasks, *args, **kw)

    monkeypatch.setattr(a.dispatcher, "run", counted)
    a.queue.intake(TasksIn(tasks=[task_row("NIGHT")]), actor="core")
    pool = a.runtime.profiles.snapshot()
    pool.on_shift[:] = False
    clock.advance(31)
    assert [a.dispatcher.monitor() for _ in range(3)] == [0, 0, 0] and planned == []
    pool.on_shift[:] = True
    assert a.dispatcher.monitor() == 1 and planned == [["NIGHT"]]


def test_many_answers_in_one_transaction_each_answered_as_its_single_route(engines) -> None:  # noqa: ANN001
    """POST /assignments/answers on the engine: accept then start of one assignment in one request, a
    reject with and without its reason, an unknown id, an illegal start, a re-sent answer; the legal
    ones are one store version and the same events the single routes write."""
    (a, b), _ = engines
    a.queue.intake(TasksIn(tasks=[task_row(f"ANS{i}") for i in range(4)]), actor="core")
    out = a.assign(AssignRequest(task_ids=[f"ANS{i}" for i in range(4)], commit=True), actor="d")
    aid = {x.task_id: x.assignment_id for x in out.assignments}
    before = events.current_version(a.settings)
    got = answer_many(
        a.lifecycle,
        AnswersIn(
            answers=[
                {"assignment_id": aid["ANS0"], "action": "accept"},
                {"assignment_id": aid["ANS0"], "action": "start"},
                {"assignment_id": aid["ANS1"], "action": "reject"},  # no reason
                {"assignment_id": aid["ANS1"], "action": "reject", "reason_code": "workload"},
                {"assignment_id": "A-nope", "action": "accept"},
                {"assignment_id": aid["ANS2"], "action": "start"},  # not accepted
            ]
        ),
        actor="desk-1",
    )
    assert [(x.status, x.state) for x in got.answers] == [
        (200, "accepted"),
        (200, "started"),
        (422, None),
        (200, "rejected"),
        (404, None),
        (409, None),
    ]
    assert (got.received, got.answered, got.duplicates, got.refused) == (6, 3, 0, 3)
    assert events.current_version(a.settings) == before + 1  # one append for the three answers
    history = b.book.history("ANS0")  # another process reads what was stored
    assert [(e.kind, e.actor, e.source) for e in history[-2:]] == [
        ("accept", "desk-1", "worker"),
        ("start", "desk-1", "worker"),
    ]
    again = answer_many(
        a.lifecycle, AnswersIn(answers=[{"assignment_id": aid["ANS0"], "action": "accept"}]), actor="x"
    )
    assert again.answers[0].duplicate and again.answers[0].status == 200 and again.answered == 0
    assert events.current_version(a.settings) == before + 1  # a duplicate writes nothing


def test_the_monitor_takes_back_many_tasks_in_one_append(engines) -> None:  # noqa: ANN001
    (a, _), clock = engines
    a.queue.intake(TasksIn(tasks=[task_row(f"TB{i}") for i in range(5)]), actor="core")
    a.assign(AssignRequest(task_ids=[f"TB{i}" for i in range(5)], commit=True), actor="d")
    clock.advance(16)  # none accepted in time
    appends: list[int] = []
    append = events.append

    def counted(where, table, rows, **kw):  # noqa: ANN001, ANN003, ANN202
        if table == "task_events":
            appends.append(len(rows))
        return append(where, table, rows, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(events, "append", counted)
        assert a.dispatcher.monitor() == 5
    assert appends == [5]  # the five reassign events in one append (the re-dispatch is append_many)
    assert a.dispatcher.stats.moves == {"accept_timeout": 5}
    assert all(a.book.history(f"TB{i}")[-2].kind == "reassign" for i in range(5))


def test_a_batch_that_loses_a_race_loses_only_the_moved_task(engines) -> None:  # noqa: ANN001
    (a, b), _ = engines
    a.queue.intake(TasksIn(tasks=[task_row("R1"), task_row("R2")]), actor="core")
    out = a.assign(AssignRequest(task_ids=["R1", "R2"], commit=True), actor="d")
    aid = {x.task_id: x.assignment_id for x in out.assignments}
    planned = []
    for tid in ("R1", "R2"):  # b decides on what it read ...
        event = TaskEvent(
            b.book.next_event_id(tid), tid, "accept", NOW, "b", "worker", assignment_id=aid[tid]
        )
        planned.append(plan(b.book.state(tid), event))
    a.lifecycle.step(aid["R1"], "reject", actor="a", note=None, reason_code="workload")  # ... a moves R1
    got = write_planned(b.lifecycle, planned, ["answers"])
    assert isinstance(got[0], TransitionConflict) and got[0].current == "rejected"
    assert got[1].status.value == "accepted" and b.book.state("R2").status.value == "accepted"
    assert [e.kind for e in b.book.history("R1")][-1] == "reject"
