"""Operating the store: migration of the old Parquet layout (counts checked, files moved aside), stats
and compaction that keeps every row, through the CLI as an operator runs them."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from apps.cli import app
from opsmatch import event_admin, events
from opsmatch.settings import Settings
from tests import factories


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
