"""The board's server side without a server: the open tasks from the task book (the lifecycle's rule for
status), the KPI index (first fold, incremental reads) on a real event store, and the pure board over a
pool and a policy."""

from __future__ import annotations

import pandas as pd
import pytest

from opsmatch import events
from opsmatch.contract import TABLES
from opsmatch.settings import Settings
from serving.config import default_policy, merge_policy
from serving.console.board import build_board, hours_window
from serving.console.board_index import BoardIndex
from serving.matching.eligibility import effective_capacity
from serving.tasks.book import TaskBook
from tests.factories.events import at, hand_events, table, write_events
from tests.factories.fakes import make_pool


def _moves(*rows: tuple[str, str, float]) -> pd.DataFrame:
    """task_events rows (task, kind, hours after D0)."""
    full = [
        {
            "event_id": f"E{task}-{kind}",
            "task_id": task,
            "kind": kind,
            "at": at(0, hour),
            "actor": "test",
            "source": "worker" if kind in ("accept", "start") else "person",
            "assignment_id": f"A-{task}" if kind in ("assign", "accept", "start", "reject") else None,
            "worker_id": "W1" if kind != "create" else None,
            "ranked_worker_id": None,
            "reason_code": {"cancel": "withdrawn", "reject": "unavailable"}.get(kind),
            "override_reason": None,
            "note": None,
            "arm": None,
        }
        for i, (task, kind, hour) in enumerate(rows)
    ]
    return events.coerce(TABLES["task_events"], pd.DataFrame(full))


@pytest.fixture
def settings(tmp_path) -> Settings:
    s = Settings(data_dir=tmp_path / "data")
    tasks = [
        {"task_id": "T1", "province_id": "P01", "created_at": at(0, 0)},  # pending, overdue at 9h
        {"task_id": "T2", "province_id": "P01", "created_at": at(0, 1)},  # assigned (assignments row)
        {"task_id": "T3", "province_id": "P02", "created_at": at(0, 2)},  # done at 5h
        {"task_id": "T4", "province_id": "P02", "created_at": at(0, 3)},  # accepted (task_events)
        {"task_id": "T5", "province_id": "P02", "created_at": at(0, 3)},  # cancelled
    ]
    log = hand_events(
        provinces=[{"province_id": "P01", "name": "North"}, {"province_id": "P02", "name": "South"}],
        workers=[{"worker_id": "W1"}],
        customers=[{"customer_id": "C1"}],
        tasks=tasks,
        assignments=[
            {"assignment_id": "A-T2", "task_id": "T2", "worker_id": "W1", "assigned_at": at(0, 1.5)},
            {"assignment_id": "A-T3", "task_id": "T3", "worker_id": "W1", "assigned_at": at(0, 2.5)},
        ],
        completions=[{"task_id": "T3", "worker_id": "W1", "completed_at": at(0, 5)}],
        qa_results=[{"task_id": "T3", "worker_id": "W1", "checked_at": at(0, 6), "passed": True}],
    )
    write_events(s, log)
    events.append(s, "task_events", _moves(("T4", "assign", 3.2), ("T4", "accept", 3.5), ("T5", "cancel", 4)))
    return s


def _open(book: TaskBook) -> dict[str, str]:
    return {t: o.status for t, o in book.open_tasks()}


def test_open_tasks_and_kpis_fold_the_history_then_read_only_new_rows(settings: Settings) -> None:
    book = TaskBook(settings)
    index = BoardIndex(settings, book.times)
    assert _open(book) == {"T1": "pending", "T2": "assigned", "T4": "accepted"}
    version = index.refresh()
    held = dict(book.open_tasks())
    assert held["T2"].worker_id == "W1" and held["T4"].since_us == at(0, 3.5).value // 1000
    hours = hours_window(at(0, 23).to_pydatetime())
    trend, names = index.snapshot(hours)
    assert names == {"P01": "North", "P02": "South"}
    assert sum(trend["arrivals"]) == 5 and sum(trend["done"]) == 1
    assert sum(trend["turnaround_minutes"]) == pytest.approx(180.0) and sum(trend["sla_met"]) == 1
    assert sum(trend["qa_checked"]) == sum(trend["qa_passed"]) == 1
    assert index.refresh() == version  # nothing stored: one probe, same version

    events.append(settings, "tasks", table("tasks", [{"task_id": "T6", "created_at": at(0, 7)}]))
    events.append(
        settings,
        "completions",
        table("completions", [{"task_id": "T1", "worker_id": "W1", "completed_at": at(0, 10)}]),
    )
    events.append(settings, "task_events", _moves(("T2", "reject", 8)))
    assert _open(book) == {"T2": "rejected", "T4": "accepted", "T6": "pending"}
    assert index.refresh() > version
    trend, _ = index.snapshot(hours)
    assert sum(trend["done"]) == 2 and sum(trend["sla_met"]) == 1  # T1 done 2 h past its 8 h SLA
    assert sum(trend["turnaround_minutes"]) == pytest.approx(180.0 + 600.0)


def test_board_rows_staff_sharing_and_kpis(settings: Settings) -> None:
    book = TaskBook(settings)
    index = BoardIndex(settings, book.times)
    open_tasks = book.open_tasks()
    index.refresh()
    now = at(0, 9.5).to_pydatetime()  # T1 (due 8h) and T2 (9h) overdue; T4 (due 11h) near (2h)
    hours = hours_window(now)
    trend, names = index.snapshot(hours)
    policy = merge_policy(default_policy(), {"provinces": {"P02": {"closed": True, "share_in": False}}})
    pool = make_pool(m=9, provinces=("P01", "P02", "P03"), capacity=4, open_tasks=4)
    on_shift = pool.province_ids != "P03"  # P03 entirely off shift, and one worker of P01
    on_shift[6] = False
    board = build_board(
        now=now,
        open_tasks=open_tasks,
        trend=trend,
        hours=hours,
        province_names=names,
        pool=pool,
        on_shift=on_shift,
        capacity=effective_capacity(pool, policy),
        policy=policy,
        policy_version=3,
    )
    rows = {r["province_id"]: r for r in board["provinces"]}
    assert list(rows) == ["P01", "P02", "P03"]  # provinces of the pool count even without tasks
    p1, p2, p3 = rows["P01"], rows["P02"], rows["P03"]
    assert (p1["backlog"], p1["in_progress"], p1["sla_overdue"], p1["oldest_task_id"]) == (1, 1, 2, "T1")
    assert p1["oldest_minutes"] == pytest.approx(570.0) and p1["name"] == "North"
    assert (p2["backlog"], p2["in_progress"], p2["sla_overdue"], p2["sla_near"]) == (0, 1, 0, 1)
    assert p2["closed"] and not p2["share_in"] and p2["share_out"] and not p1["closed"]
    assert (p1["staff"], p1["on_shift"], p1["at_capacity"], p1["utilisation"]) == (3, 2, 2, 1.0)
    assert (p3["on_shift"], p3["utilisation"]) == (0, None)
    k = board["kpis"]
    assert (k["arrivals"], k["done"], k["sla_met"], k["qa_pass"], k["backlog"]) == (5, 1, 1.0, 1.0, 1)
    assert k["mean_turnaround_hours"] == 3.0 and board["policy_version"] == 3
    assert len(board["trend"]["hours"]) == 24 and sum(board["trend"]["arrivals"]) == 5
