"""`opsmatch.events` on the embedded SQLite store: idempotent by key, conflicts refused whole, versions."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from opsmatch import events
from opsmatch.event_store import StoreConflict, StoreError
from tests import factories

NOW = pd.Timestamp("2024-03-04 10:00", tz="UTC")


def _status(workers: list[str], minutes: list[int], open_tasks: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "worker_id": workers,
            "at": [NOW + pd.Timedelta(minutes=m) for m in minutes],
            "on_shift": True,
            "open_tasks": open_tasks,
        }
    )


def test_every_table_round_trips_in_contract_dtypes(tmp_path: Path) -> None:
    for name, df in factories.event_tables().items():
        assert events.append_rows(tmp_path, name, df) == len(df)
        pd.testing.assert_frame_equal(events.read_table(tmp_path, name), df)
        assert events.append_rows(tmp_path, name, df) == 0  # the same rows again: nothing new
    assert events.read_table(tmp_path / "empty", "tasks").dtypes.equals(events.empty_frame("tasks").dtypes)


def test_composite_key_is_idempotent_and_keeps_append_order(tmp_path: Path) -> None:
    got = events.append(tmp_path, "worker_status", _status(["W1", "W2", "W1", "W1"], [5, 0, 0, 5]))
    assert (got.received, got.new, got.already_stored, got.new_at) == (4, 3, 1, (0, 1, 2))
    again = events.append(tmp_path, "worker_status", _status(["W3", "W1"], [1, 5]))
    assert (again.new, again.already_stored, again.new_at) == (1, 1, (0,))
    out = events.read_table(tmp_path, "worker_status")
    assert list(zip(out["worker_id"], out["at"].dt.minute, strict=True)) == [
        ("W1", 5),
        ("W2", 0),
        ("W1", 0),
        ("W3", 1),
    ]


def test_a_key_stored_with_other_content_refuses_the_whole_append(tmp_path: Path) -> None:
    events.append_rows(tmp_path, "worker_status", _status(["W1"], [0]))
    before = events.current_version(tmp_path)
    with pytest.raises(StoreConflict) as err:
        events.append_rows(tmp_path, "worker_status", _status(["W9", "W1"], [0, 0], open_tasks=7))
    msg = str(err.value)
    assert "worker_status" in msg and "worker_id=W1" in msg and "2024-03-04T10:00:00+00:00" in msg
    assert "open_tasks is 1 in the store, 7 here" in msg
    assert events.row_count(tmp_path, "worker_status") == 1 and events.current_version(tmp_path) == before
    with pytest.raises(StoreConflict, match="earlier in this batch"):
        twice = pd.concat([_status(["W5"], [0]), _status(["W5"], [0], 3)])
        events.append_rows(tmp_path, "worker_status", twice)


def test_append_many_stores_every_table_or_none(tmp_path: Path) -> None:
    tables = factories.event_tables()
    events.append_rows(tmp_path, "worker_status", _status(["W1"], [0]))
    before = events.current_version(tmp_path)
    with pytest.raises(StoreConflict):  # the second table conflicts: the first is not stored either
        events.append_many(
            tmp_path, {"tasks": tables["tasks"], "worker_status": _status(["W1"], [0], open_tasks=4)}
        )
    assert events.row_count(tmp_path, "tasks") == 0 and events.current_version(tmp_path) == before
    got = events.append_many(
        tmp_path, {"tasks": tables["tasks"], "worker_status": _status(["W1", "W2"], [0, 0])}
    )
    assert (got["tasks"].new, got["worker_status"].new, got["worker_status"].already_stored) == (
        len(tables["tasks"]),
        1,
        1,
    )
    assert events.table_version(tmp_path, "worker_status") > events.table_version(tmp_path, "tasks") > before


def test_wrong_schema_is_refused_naming_table_and_column(tmp_path: Path) -> None:
    tasks = factories.event_tables()["tasks"]
    with pytest.raises(StoreError, match="tasks: refused: missing column.*amount"):
        events.append_rows(tmp_path, "tasks", tasks.drop(columns="amount"))
    with pytest.raises(StoreError, match="tasks: refused: column complexity is not int"):
        events.append_rows(tmp_path, "tasks", tasks.assign(complexity="high"))
    with pytest.raises(StoreError, match="unknown table 'task'"):
        events.read_table(tmp_path, "task")
    assert not events.has_rows(tmp_path, "tasks")


def test_versions_give_back_exactly_what_was_stored_then(tmp_path: Path) -> None:
    tables = factories.event_tables()
    events.append_rows(tmp_path, "provinces", tables["provinces"])
    v1 = events.current_version(tmp_path)
    events.append_rows(tmp_path, "worker_status", _status(["W1"], [0]))
    events.append_rows(tmp_path, "worker_status", _status(["W2"], [0]))
    assert events.current_version(tmp_path) == v1 + 2
    assert events.read_table(tmp_path, "worker_status", version=v1).empty
    assert events.read_table(tmp_path, "worker_status", version=v1 + 1)["worker_id"].tolist() == ["W1"]
    assert events.read_table(tmp_path, "worker_status", since=v1 + 1)["worker_id"].tolist() == ["W2"]
    assert events.table_versions(tmp_path) == {"provinces": v1, "worker_status": v1 + 2}
    assert events.table_versions(tmp_path, upto=v1) == {"provinces": v1}
    assert events.newest_time(tmp_path, "worker_status") == NOW


def test_threads_appending_the_same_and_different_rows_store_each_once(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    news: list[int] = []

    def writer(i: int) -> None:
        try:
            for j in range(10):
                shared = _status([f"S{j}"], [0])  # every thread sends these
                own = _status([f"T{i}-{j}"], [0])
                news.append(events.append_rows(tmp_path, "worker_status", pd.concat([shared, own])))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = events.read_table(tmp_path, "worker_status")
    assert len(stored) == sum(news) == 10 + 40 and not stored.duplicated(["worker_id", "at"]).any()


def test_lookup_returns_only_stored_rows_of_the_given_keys(tmp_path: Path) -> None:
    tasks = factories.event_tables()["tasks"]
    events.append_rows(tmp_path, "tasks", tasks.head(2))
    found = events.lookup(tmp_path, "tasks", tasks)
    pd.testing.assert_frame_equal(found.sort_values("task_id").reset_index(drop=True), tasks.head(2))


def test_a_column_empty_in_the_first_thousands_of_rows_reads_back_whole(tmp_path: Path) -> None:
    """SQLite's ADBC driver types a column from the first batch it reads: a column NULL in the first
    1,024 rows came back INT64 and the first text value after them failed the read (a restarted
    service could not load its task book once an override followed 1,024 events without one)."""
    at = pd.Timestamp("2026-12-01", tz="UTC")
    rows = [
        {"event_id": f"T{i}#1", "task_id": f"T{i}", "kind": "create", "at": at, "actor": "t", "source": "api"}
        for i in range(3000)
    ]
    rows.append(
        {
            "event_id": "T7#2",
            "task_id": "T7",
            "kind": "assign",
            "at": at,
            "actor": "d",
            "source": "person",
            "assignment_id": "A1",
            "worker_id": "W1",
            "ranked_worker_id": "W2",
            "override_reason": "training",
        }
    )
    frame = pd.DataFrame(rows).reindex(columns=events.spec("task_events").column_names)
    assert events.append_rows(tmp_path, "task_events", frame) == 3001
    back = events.read_table(tmp_path, "task_events")
    assert len(back) == 3001
    assert back["override_reason"].dropna().tolist() == ["training"]
    assert back["worker_id"].dropna().tolist() == ["W1"]
    assert events.read_table(tmp_path, "task_events", since=0, columns=["arm"])["arm"].isna().all()
