"""ingest_path: files → event store, quarantine files, idempotency, conflicts, cross-file foreign keys."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from opsmatch import events
from opsmatch.contract import LOAD_ORDER
from opsmatch.ingest import ContractError, IngestReport, ingest_path, table_for_file
from opsmatch.settings import Settings
from tests import factories as f


def ingest(settings: Settings, path: Path) -> IngestReport:
    return ingest_path(settings, path, now=f.NOW)


def counts(report: IngestReport) -> dict[str, tuple[int, int, int, int]]:
    return {fr.path.name: (fr.read, fr.new, fr.unchanged, fr.quarantined) for fr in report.files}


def store_files(settings: Settings) -> list[str]:
    """Tables holding rows (the store's file may exist, empty, once anything has read it)."""
    return sorted(events.table_versions(settings))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_folder_ingest_loads_every_table(settings: Settings, inbox: Path, fmt: str) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, tables, fmt=fmt)
    report = ingest(settings, inbox)
    assert [fr.table for fr in report.files] == list(LOAD_ORDER)
    assert (report.read, report.new, report.unchanged, report.quarantined) == (
        57,
        57,
        0,
        0,
    )  # 28 rows + 20 task_events + 1 intervention + 4 contacts + 4 journeys
    for name, df in tables.items():
        pd.testing.assert_frame_equal(events.read_table(settings.events_dir, name), df)
    assert not settings.quarantine_dir.exists()


def test_single_gzipped_csv_with_bom_and_padded_header(settings: Settings, inbox: Path) -> None:
    f.write_tables(inbox, {"provinces": f.provinces(), "customers": f.customers()})
    ingest(settings, inbox)
    csv_text = (
        f.to_csv_frame(f.tasks()).to_csv(index=False).replace("task_id,task_type", " task_id , task_type")
    )
    path = inbox / "tasks_2026-06.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8-sig") as fh:
        fh.write(csv_text)
    report = ingest(settings, path)
    assert counts(report) == {"tasks_2026-06.csv.gz": (4, 4, 0, 0)}
    pd.testing.assert_frame_equal(events.read_table(settings.events_dir, "tasks"), f.tasks())


def test_foreign_keys_resolve_across_files_in_load_order(settings: Settings, inbox: Path) -> None:
    # Alphabetically, assignments.csv sorts before tasks.csv and workers.csv; LOAD_ORDER must win.
    tables = f.event_tables()
    f.write_tables(
        inbox, {k: tables[k] for k in ("assignments", "tasks", "workers", "customers", "provinces")}
    )
    report = ingest(settings, inbox)
    assert [fr.table for fr in report.files] == ["provinces", "workers", "customers", "tasks", "assignments"]
    assert report.quarantined == 0
    assert len(events.read_table(settings.events_dir, "assignments")) == 4


def test_foreign_keys_resolve_against_earlier_runs(settings: Settings, inbox: Path) -> None:
    tables = f.event_tables()
    f.write_tables(inbox / "first", {k: tables[k] for k in ("provinces", "customers")})
    f.write_tables(inbox / "second", {"tasks": tables["tasks"]})
    ingest(settings, inbox / "first")
    assert counts(ingest(settings, inbox / "second")) == {"tasks.csv": (4, 4, 0, 0)}


def test_unknown_foreign_key_is_quarantined_with_file_row_column_reason(
    settings: Settings, inbox: Path
) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, {k: tables[k] for k in ("provinces", "customers")})
    bad = f.to_csv_frame(tables["tasks"])
    bad.loc[2, "customer_id"] = "C999"
    f.write_csv(bad, inbox / "tasks.csv")
    report = ingest(settings, inbox)
    tasks_report = report.files[-1]
    assert (tasks_report.read, tasks_report.new, tasks_report.unchanged, tasks_report.quarantined) == (
        4,
        3,
        0,
        1,
    )
    q = pd.read_csv(tasks_report.quarantine_file, dtype=str, keep_default_na=False)
    assert tasks_report.quarantine_file.parent.parent == settings.quarantine_dir
    assert tasks_report.quarantine_file.name == "tasks.csv.quarantine.csv"
    assert list(q.columns[:5]) == ["file", "row", "column", "value", "reason"]
    assert list(q.columns[5:]) == [f"src_{c}" for c in bad.columns]
    assert q.loc[0, ["file", "row", "column", "value", "reason"]].tolist() == [
        str(inbox / "tasks.csv"), "3", "customer_id", "C999",
        "unknown customers.customer_id: not in the event store nor loaded in this run",
    ]  # fmt: skip
    assert q.loc[0, "src_task_id"] == "T0003"
    assert q.loc[0, "src_created_at"] == bad.loc[2, "created_at"]
    assert sorted(events.read_table(settings.events_dir, "tasks")["task_id"]) == ["T0001", "T0002", "T0004"]


def test_reference_to_a_quarantined_row_is_itself_quarantined(settings: Settings, inbox: Path) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, {k: tables[k] for k in ("provinces", "workers", "customers", "assignments")})
    bad = f.to_csv_frame(tables["tasks"])
    bad.loc[0, "complexity"] = "7"
    f.write_csv(bad, inbox / "tasks.csv")
    report = ingest(settings, inbox)
    assert counts(report)["tasks.csv"] == (4, 3, 0, 1)
    assert counts(report)["assignments.csv"] == (4, 3, 0, 1)
    q = pd.read_csv(report.files[-1].quarantine_file, dtype=str)
    assert q[["row", "column", "value"]].values.tolist() == [["1", "task_id", "T0001"]]


def test_reingest_is_idempotent_and_keeps_the_store_version(settings: Settings, inbox: Path) -> None:
    f.write_tables(inbox, f.event_tables())
    ingest(settings, inbox)
    before = events.current_version(settings)
    report = ingest(settings, inbox)
    assert (report.read, report.new, report.unchanged, report.quarantined) == (57, 0, 57, 0)
    assert events.current_version(settings) == before


def test_same_content_spelled_differently_is_unchanged(settings: Settings, inbox: Path) -> None:
    f.write_tables(inbox, {"provinces": f.provinces()})
    ingest(settings, inbox)
    workers = f.to_csv_frame(f.workers())
    workers.loc[0, "skills"] = '{"underwriting": 2, "policy_change": 3}'  # other key order, spaces
    workers.loc[1, "hired_at"] = (
        pd.Timestamp(workers.loc[1, "hired_at"]).tz_convert("Asia/Shanghai").isoformat()
    )
    workers.loc[2, "active"] = "1"
    f.write_csv(f.workers(), inbox / "workers.csv")
    ingest(settings, inbox / "workers.csv")
    f.write_csv(workers, inbox / "workers_again.csv")
    assert counts(ingest(settings, inbox / "workers_again.csv")) == {"workers_again.csv": (3, 0, 3, 0)}


def test_conflicting_reingest_is_quarantined_not_overwritten(settings: Settings, inbox: Path) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, {k: tables[k] for k in ("provinces", "customers", "tasks")})
    ingest(settings, inbox)
    changed = f.to_csv_frame(tables["tasks"])
    changed.loc[1, "amount"] = "99.5"
    changed.loc[1, "channel"] = "phone"
    path = f.write_csv(changed, inbox / "tasks_fix.csv")
    report = ingest(settings, path)
    assert counts(report) == {"tasks_fix.csv": (4, 0, 3, 1)}
    q = pd.read_csv(report.files[0].quarantine_file, dtype=str)
    assert q[["row", "column", "value", "reason"]].values.tolist() == [
        ["2", "channel", "phone", "conflicts with the stored row of the same key (stored value: agent)"],
        ["2", "amount", "99.5", "conflicts with the stored row of the same key (stored value: 1250.5)"],
    ]
    pd.testing.assert_frame_equal(events.read_table(settings.events_dir, "tasks"), tables["tasks"])


def test_new_and_known_rows_mixed(settings: Settings, inbox: Path) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, {k: tables[k] for k in ("provinces", "customers")})
    f.write_csv(f.tasks(2), inbox / "tasks.csv")
    ingest(settings, inbox)
    path = f.write_csv(f.tasks(4), inbox / "tasks.csv")
    assert counts(ingest(settings, path)) == {"tasks.csv": (4, 2, 2, 0)}
    pd.testing.assert_frame_equal(events.read_table(settings.events_dir, "tasks"), f.tasks(4))


def test_two_files_of_one_table_in_one_run(settings: Settings, inbox: Path) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, {k: tables[k] for k in ("provinces", "customers")})
    f.write_csv(f.tasks(3), inbox / "tasks_a.csv")
    f.write_parquet(f.tasks(4), inbox / "tasks_b.parquet")
    report = ingest(settings, inbox)
    assert counts(report)["tasks_a.csv"] == (3, 3, 0, 0)
    assert counts(report)["tasks_b.parquet"] == (4, 1, 3, 0)


def test_file_level_error_refuses_the_run_before_writing(settings: Settings, inbox: Path) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, {k: tables[k] for k in ("provinces", "customers")})
    f.write_csv(tables["tasks"].drop(columns=["sla_due_at"]), inbox / "tasks.csv")
    (inbox / "complaints.csv").write_text("")
    with pytest.raises(ContractError) as err:
        ingest(settings, inbox)
    lines = str(err.value).splitlines()
    assert lines == [
        f"{inbox / 'tasks.csv'}: refused: table 'tasks' is missing required column(s): sla_due_at "
        "(expected columns: task_id, task_type, province_id, customer_id, created_at, sla_due_at, "
        "complexity, channel, amount)",
        f"{inbox / 'complaints.csv'}: refused: empty file (no header, no rows)",
    ]
    assert store_files(settings) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file (no header, no rows)"),
        ("task_id,task_type\n", "is missing required column(s)"),
        (",".join(f.TABLES["tasks"].column_names) + "\n\n", "no data rows"),
        (",".join(f.TABLES["tasks"].column_names + ["task_id"]) + "\n", "duplicate column name(s) task_id"),
    ],
)
def test_unusable_csv_is_refused(settings: Settings, inbox: Path, content: str, message: str) -> None:
    (inbox / "tasks.csv").write_text(content)
    with pytest.raises(
        ContractError, match=r"tasks\.csv: refused: .*" + message.replace("(", r"\(").replace(")", r"\)")
    ):
        ingest(settings, inbox / "tasks.csv")


def test_empty_parquet_is_refused(settings: Settings, inbox: Path) -> None:
    f.write_parquet(f.tasks().iloc[:0], inbox / "tasks.parquet")
    with pytest.raises(ContractError, match="no data rows"):
        ingest(settings, inbox)


@pytest.mark.parametrize("line", ["P09,Extra,Asia/Shanghai,9,18,false,surplus", "P09,Short"])
def test_ragged_csv_row_refuses_the_file(settings: Settings, inbox: Path, line: str) -> None:
    f.write_tables(inbox, {"provinces": f.provinces()})
    with (inbox / "provinces.csv").open("a") as fh:
        fh.write(line + "\n")
    with pytest.raises(ContractError, match=r"provinces\.csv: refused: cannot read file .*Expected 6 col"):
        ingest(settings, inbox)
    assert store_files(settings) == []


def test_unknown_table_name_is_refused(settings: Settings, inbox: Path) -> None:
    f.write_csv(f.tasks(), inbox / "task.csv")
    with pytest.raises(ContractError, match=r"task\.csv: refused: unknown table 'task'"):
        ingest(settings, inbox)


def test_non_data_files_are_skipped_with_a_warning(settings: Settings, inbox: Path) -> None:
    f.write_tables(inbox, {"provinces": f.provinces()})
    (inbox / "README.txt").write_text("hello")
    f.write_csv(f.customers().assign(segment="gold"), inbox / "customers.csv")
    report = ingest(settings, inbox)
    assert report.new == 5
    assert report.files[1].warnings == [
        f"{inbox / 'customers.csv'}: ignored column(s) not in the 'customers' contract: segment"
    ]
    assert report.all_warnings == report.warnings + report.files[1].warnings
    assert report.warnings == [
        f"{inbox / 'README.txt'}: skipped (not a .csv/.csv.gz/.parquet file; folders are not recursed)"
    ]


def test_empty_folder_and_missing_path(settings: Settings, inbox: Path) -> None:
    with pytest.raises(ContractError, match="no .csv, .csv.gz, .parquet files"):
        ingest(settings, inbox)
    with pytest.raises(FileNotFoundError):
        ingest(settings, inbox / "nope.csv")


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("tasks.csv", "tasks"),
        ("tasks_2026-07.csv", "tasks"),
        ("TASKS.CSV", "tasks"),
        ("qa_results.parquet", "qa_results"),
        ("qa_results_batch_2.csv.gz", "qa_results"),
        ("worker_status_0701.csv", "worker_status"),
        ("workers_north.csv", "workers"),
    ],
)
def test_table_for_file(name: str, table: str) -> None:
    assert table_for_file(Path(name)) == table


def test_report_rows_and_accounting(settings: Settings, inbox: Path) -> None:
    tables = f.event_tables()
    f.write_tables(inbox, {k: tables[k] for k in ("provinces", "customers")})
    bad = f.to_csv_frame(tables["tasks"])
    bad.loc[0, "amount"] = "lots"
    bad.loc[3, "task_id"] = "T0002"
    f.write_csv(bad, inbox / "tasks.csv")
    report = ingest(settings, inbox)
    rows = report.rows()
    assert rows[-1] == ("TOTAL", "", 9, 7, 0, 2, "")
    assert rows[2][:6] == (str(inbox / "tasks.csv"), "tasks", 4, 2, 0, 2)
    assert rows[2][6] == str(report.files[2].quarantine_file)
    assert len(rows[0]) == len(IngestReport.COLUMNS)
    for fr in report.files:
        assert fr.read == fr.new + fr.unchanged + fr.quarantined
