"""Operating the store: migration of the old Parquet layout (counts checked, files moved aside), stats
and compaction that keeps every row, through the CLI as an operator runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from apps.cli import app
from opsmatch import event_admin, events
from opsmatch.settings import Settings
from tests import factories
from tests.factories.events import write_events

ROOT = Path(__file__).resolve().parents[2]


def test_old_layout_is_migrated_counted_and_moved_aside(tmp_path, monkeypatch) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    tables = factories.event_tables()
    settings.events_dir.mkdir(parents=True)
    for name, df in tables.items():
        df.to_parquet(settings.events_dir / f"{name}.parquet", index=False)
    monkeypatch.setenv("OPSMATCH_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    out = runner.invoke(app, ["events", "migrate"])
    assert out.exit_code == 0, out.output
    for name, df in tables.items():
        pd.testing.assert_frame_equal(events.read_table(settings, name), df)
    assert not event_admin.old_layout_files(settings.events_dir)
    assert len(list((settings.events_dir / event_admin.MIGRATED_DIR).glob("*.parquet"))) == len(tables)
    assert "nothing to migrate" in runner.invoke(app, ["events", "migrate"]).output

    stats = json.loads(runner.invoke(app, ["events", "stats", "--json"]).output)
    assert stats["version"] == events.current_version(settings) == len(tables)
    for name, df in tables.items():
        got = stats["tables"][name]
        assert got["rows"] == got["distinct_keys"] == len(df) and got["version"] > 0 and got["bytes"] > 0
    out = runner.invoke(app, ["events", "compact"])
    assert out.exit_code == 0 and "rows unchanged" in out.output
    assert {n: events.row_count(settings, n) for n in tables} == {n: len(df) for n, df in tables.items()}


def _append_in_another_process(settings: Settings, qa_id: str) -> None:
    code = (
        "import sys, pandas as pd; from opsmatch import events; from tests import factories;"
        "row = factories.event_tables()['qa_results'].iloc[:1].assign(qa_id=sys.argv[2]);"
        "assert events.append(sys.argv[1], 'qa_results', row).new == 1"
    )
    subprocess.run([sys.executable, "-c", code, str(settings.events_dir), qa_id], check=True, cwd=ROOT)


def test_a_backup_under_live_connections_loses_no_later_write(tmp_path) -> None:
    """The backup runs on the store's own SQLite library: this process's open connections keep their
    locks, so a row another process appends afterwards is read back here (a second SQLite library
    closing the file would drop those locks and delete the live write-ahead log under them)."""
    settings = Settings(data_dir=tmp_path / "data")
    write_events(settings, factories.event_tables())
    before = events.row_count(settings, "qa_results")  # this process now holds an open connection
    url = event_admin.backup(settings, tmp_path / "copy")
    assert events.row_count(url, "qa_results") == before
    for i in range(3):
        _append_in_another_process(settings, f"QX{i}")
        assert events.row_count(settings, "qa_results") == before + i + 1
    assert set(events.read_table(settings, "qa_results")["qa_id"]) >= {"QX0", "QX1", "QX2"}


def test_no_code_opens_sqlite_through_a_second_library() -> None:
    """Every SQLite access to the event store goes through the ADBC driver (``opsmatch.event_store``)."""
    offenders = [
        str(p.relative_to(ROOT))
        for folder in (
            "opsmatch",
            "simulator",
            "features",
            "training",
            "serving",
            "evaluation",
            "apps",
            "tests",
        )
        for p in (ROOT / folder).rglob("*.py")
        if re.search(r"^\s*(import sqlite3|from sqlite3 )", p.read_text(), re.M)
    ]
    assert offenders == []
