"""The task book's state derivation on a real (temporary) event store: history tasks without events,
events folded on top, completions without their event, incremental refresh, optimistic event ids."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from opsmatch import events
from opsmatch.event_store import StoreConflict
from serving.tasks.book import TaskBook, event_row
from serving.tasks.lifecycle import Status, TaskEvent
from tests import factories as f


@pytest.fixture
def where(tmp_path):  # noqa: ANN001, ANN201
    """Tasks T0001..T0004: T0001 and T0002 assigned in the history, T0001 also completed."""
    where = tmp_path / "events"
    tasks = f.tasks(4)
    assigned = f.assignments(tasks.head(2))
    events.append(where, "tasks", tasks)
    events.append(where, "assignments", assigned)
    events.append(where, "completions", f.completions(assigned.head(1)))
    return where


def append_event(where, book: TaskBook, task_id: str, kind: str, minutes: float, **kw) -> TaskEvent:  # noqa: ANN001
    row = book.row(task_id)
    assert row is not None
    at = pd.Timestamp(row["created_at"]).to_pydatetime() + timedelta(minutes=minutes)
    event = TaskEvent(
        book.next_event_id(task_id), task_id, kind, at, "tester", kw.pop("source", "person"), **kw
    )
    events.append(where, "task_events", pd.DataFrame([event_row(event)]))
    return event


def test_history_tasks_without_events_start_as_the_spec_says(where) -> None:  # noqa: ANN001
    book = TaskBook(where)
    assert book.state("T0001").status is Status.DONE
    held = book.state("T0002")
    assert held.status is Status.ASSIGNED and held.assignment_id == "AT0002" and held.worker_id == "W002"
    assert held.arm == "legacy" and held.assignments == 1
    assert book.state("T0003").status is Status.PENDING and book.state("NOPE") is None
    assert {s.task_id for s in book.states({Status.PENDING})} == {"T0003", "T0004"}
    assert book.held_by_worker() == {"W002": 1}


def test_events_fold_on_top_and_refresh_is_incremental(where) -> None:  # noqa: ANN001
    book = TaskBook(where)
    assert book.state("T0002").status is Status.ASSIGNED
    reads = book.reads
    append_event(where, book, "T0002", "accept", 6, assignment_id="AT0002", source="worker")
    assert book.state("T0002").status is Status.ACCEPTED
    assert book.reads == reads + 1  # only task_events moved, and only its new rows were read
    append_event(
        where,
        book,
        "T0002",
        "reassign",
        9,
        assignment_id="AT0002",
        source="monitor",
        reason_code="start_timeout",
    )
    st = book.state("T0002")
    assert st.status is Status.REASSIGNED and st.previous_workers == ("W002",) and st.worker_id is None
    append_event(
        where, book, "T0003", "assign", 20, assignment_id="A-new", worker_id="W003", source="assign", arm="ml"
    )
    events.append(
        where, "assignments", f.assignments(f.tasks(4).iloc[[2]], ["W003"]).assign(assignment_id="A-new")
    )
    st = book.state("T0003")
    assert (
        st.status is Status.ASSIGNED
        and st.assignment_id == "A-new"
        and st.arm == "ml"
        and st.assignments == 1
    )
    assert book.assignment("A-new").worker_id == "W003"
    fresh = TaskBook(where)  # a new process derives the same states from the store alone
    assert {s.task_id: s for s in fresh.states()} == {s.task_id: s for s in book.states()}


def test_a_completion_without_its_event_closes_the_task(where) -> None:  # noqa: ANN001
    book = TaskBook(where)
    append_event(where, book, "T0002", "accept", 6, assignment_id="AT0002", source="worker")
    events.append(where, "completions", f.completions(f.assignments(f.tasks(4).iloc[[1]], ["W002"])))
    assert book.state("T0002").status is Status.DONE
    assert book.held_state("T0002").status is Status.ACCEPTED  # what a complete event applies to


def test_two_writers_of_the_next_transition_collide_on_its_id(where) -> None:  # noqa: ANN001
    a, b = TaskBook(where), TaskBook(where)
    assert a.state("T0004") == b.state("T0004")  # both loaded: b is about to be stale
    assert a.next_event_id("T0004") == b.next_event_id("T0004") == "T0004#1"
    append_event(where, a, "T0004", "assign", 5, assignment_id="A1", worker_id="W001", source="assign")
    with pytest.raises(StoreConflict):
        append_event(where, b, "T0004", "assign", 5, assignment_id="A2", worker_id="W002", source="assign")
    assert b.state("T0004").assignment_id == "A1" and b.next_event_id("T0004") == "T0004#2"


def test_a_stale_illegal_event_is_skipped_not_fatal(where) -> None:  # noqa: ANN001
    book = TaskBook(where)
    append_event(where, book, "T0003", "start", 5, assignment_id="X", source="worker")  # never assigned
    assert book.state("T0003").status is Status.PENDING


def test_a_held_tasks_light_record_is_built_once_until_the_task_moves(where) -> None:  # noqa: ANN001
    book = TaskBook(where)
    first = book.light_record("T0003")
    assert book.light_record("T0003") is first  # not rebuilt on every /assign and sweep
    append_event(where, book, "T0003", "cancel", 1, reason_code="duplicate", source="person")
    book.refresh()
    again = book.light_record("T0003")
    assert again is not first and again == first  # re-derived task: built again from its row


def test_many_assignments_are_found_at_once_held_or_not(where) -> None:  # noqa: ANN001
    book = TaskBook(where, keep_closed=0)  # T0001 (done) is not held: its assignment is read from the store
    got = book.assignments(["AT0001", "AT0002", "NOPE", "AT0002"])
    assert sorted(got) == ["AT0001", "AT0002"] and got["AT0001"].task_id == "T0001"
    assert got["AT0002"] == book.assignment("AT0002")
