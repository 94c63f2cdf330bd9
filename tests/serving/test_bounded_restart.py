"""Memory bounded by the open work (issue 23): on the small world's history, a service that ran through
a few transitions (holding only two closed tasks) and a restarted one that loaded the open tasks alone
answer the same as a full replay of the store -- the queue, the board, the watchlist's candidates, a
closed task's full history and a page of closed tasks, read from the store when asked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsmatch import event_admin, events
from opsmatch.event_store import store_for
from serving.console.board import hours_window
from serving.console.board_index import BoardIndex
from serving.risk.open_tasks import book_open_tasks
from serving.tasks.book import READ, TaskBook, TaskFacts, derive, event_from_row, event_row, read_rows
from serving.tasks.lifecycle import FINAL, WAITING, TaskEvent, TaskState
from tests.factories.serving_world import World

pytestmark = [pytest.mark.integration]


def replay(where: Path) -> tuple[dict[str, TaskState], dict[str, TaskFacts]]:
    """Every task's state from the whole store (what the unbounded book held)."""
    facts: dict[str, TaskFacts] = {}
    version = events.current_version(where)
    for table in READ:
        for row in read_rows(where, table, version, 0):
            f = facts.setdefault(str(row["task_id"]), TaskFacts())
            if table == "tasks":
                f.row = row
            elif table == "assignments":
                f.assignments.append(row)
            elif table == "completions":
                f.completion = row
            else:
                f.events.append(event_from_row(row))
    states = {t: st for t, f in facts.items() if (st := derive(f)) is not None}
    return states, facts


def step(where: Path, book: TaskBook, task_id: str, kind: str, at, **kw) -> None:  # noqa: ANN001
    event = TaskEvent(
        book.next_event_id(task_id), task_id, kind, at, "tester", kw.pop("source", "person"), **kw
    )
    events.append(where, "task_events", pd.DataFrame([event_row(event)]))
    book.refresh()


def test_a_restart_with_only_the_open_work_answers_the_same(world: World, tmp_path: Path) -> None:
    where = tmp_path / "events"
    event_admin.backup(world.settings, where)  # never write into the shared world
    ran = TaskBook(where, keep_closed=2)
    ran_index = BoardIndex(where, ran.times)
    ran.refresh()
    ran_index.refresh()
    waiting = sorted(st.task_id for st in ran.states(WAITING))
    before = book_open_tasks(ran)  # held, then rebuilt only for the tasks that move below
    worker = str(world.workers["worker_id"].iloc[0])
    at = pd.Timestamp(world.as_of).to_pydatetime() + timedelta(minutes=1)
    done, dropped, held = waiting[:3]
    for tid in (done, held):  # as the lifecycle does: the assignments row and the assign event
        row = {
            "assignment_id": f"A-{tid}",
            "task_id": tid,
            "worker_id": worker,
            "assigned_at": at,
            "policy": "ml",
        }
        events.append(where, "assignments", pd.DataFrame([row]))
        step(where, ran, tid, "assign", at, assignment_id=f"A-{tid}", worker_id=worker, source="assign")
    step(where, ran, done, "accept", at, assignment_id=f"A-{done}", source="worker")
    step(where, ran, done, "start", at, assignment_id=f"A-{done}", source="worker")
    events.append(
        where,
        "completions",
        pd.DataFrame(
            [
                {
                    "task_id": done,
                    "worker_id": worker,
                    "started_at": at,
                    "completed_at": at,
                    "handling_minutes": 5.0,
                }
            ]
        ),
    )
    step(where, ran, done, "complete", at, assignment_id=f"A-{done}", source="outcomes")
    step(where, ran, dropped, "cancel", at, source="person", reason_code="withdrawn")
    for tid in waiting[3:6]:  # three more closed: the two-task window forgets `done`
        step(where, ran, tid, "cancel", at, source="person", reason_code="withdrawn")
    assert ran.peek(done) is None and ran.peek(waiting[5]) is not None

    truth, facts = replay(where)
    restarted = TaskBook(where)
    index = BoardIndex(where, restarted.times)
    open_truth = {t: st for t, st in truth.items() if st.status not in FINAL}

    # the queue: the open tasks' states, and nothing closed is held after the restart
    assert {st.task_id: st for st in restarted.states()} == open_truth
    assert {st.task_id: st for st in ran.states() if st.status not in FINAL} == open_truth
    assert len(open_truth) < len(truth) / 5  # the bounded state is a fraction of the history
    # the board: open tasks as it counts them, and the KPIs of its window
    assert dict(restarted.open_tasks()) == dict(ran.open_tasks())
    ran_index.refresh()
    index.refresh()
    hours = hours_window(at)
    assert index.snapshot(hours) == ran_index.snapshot(hours)
    assert sum(index.snapshot(hours)[0]["done"]) > 0
    # the watchlist's candidates
    pd.testing.assert_frame_equal(book_open_tasks(restarted), book_open_tasks(ran))
    now_open, was = book_open_tasks(ran).set_index("task_id"), before.set_index("task_id")
    assert set(was.index) - set(now_open.index) == {done, dropped, *waiting[3:6]}  # the held frame moved
    assert now_open.loc[held, "assignments"] == was.loc[held, "assignments"] + 1
    # a closed task's full history, state and assignment, read from the store on request
    for book in (restarted, ran):
        assert book.peek(done) is None
        assert book.history(done) == sorted(facts[done].events, key=lambda e: e.at)
        assert book.state(done) == truth[done] and truth[done].status.value == "done"
        assert book.assignment(f"A-{done}").worker_id == worker
        assert book.next_event_id(done) == f"{done}#{len(facts[done].events) + 1}"
    # a page of closed tasks, newest first, from the store
    page, total = restarted.closed(sort="-created_at", limit=20)
    closed = sorted(
        (st for st in truth.values() if st.status in FINAL),
        key=lambda st: (facts[st.task_id].row["created_at"], st.task_id),
        reverse=True,
    )
    assert total == len(closed) and [st for st, _ in page] == closed[:20]
    # ... and earliest due first, walking the due-time index (ix_tasks_sla) of the store
    page, _ = restarted.closed(sort="sla_due_at", limit=20)
    due = sorted(closed, key=lambda st: (facts[st.task_id].row["sla_due_at"], st.task_id))
    assert [st for st, _ in page] == due[:20]
    with store_for(events.store_url(where)).connection() as cur:  # the store's own SQLite driver
        cur.execute("EXPLAIN QUERY PLAN SELECT sla_due_at FROM ev_tasks ORDER BY sla_due_at LIMIT 20")
        assert "ix_tasks_sla" in " ".join(str(row) for row in cur.fetchall())
