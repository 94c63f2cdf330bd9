"""The command line as a user drives it: exit codes, messages and what lands on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli import app
from opsmatch.events import read_table
from tests import factories

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSMATCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_simulate_writes_the_event_log_and_prints_counts(data_dir: Path) -> None:
    result = runner.invoke(app, ["simulate", "--scenario", "small", "--days", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    tasks = read_table(data_dir / "events", "tasks")
    assert len(tasks) > 0 and f"{len(tasks):,}" in result.output
    assert (data_dir / "truth").is_dir()


def test_ingest_loads_good_tables_then_reports_nothing_new(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    factories.write_tables(folder, factories.event_tables())
    first = runner.invoke(app, ["ingest", str(folder)])
    assert first.exit_code == 0, first.output
    n_tasks = len(read_table(data_dir / "events", "tasks"))
    again = runner.invoke(app, ["ingest", str(folder)])
    assert again.exit_code == 0, again.output
    assert len(read_table(data_dir / "events", "tasks")) == n_tasks > 0


def test_ingest_exits_1_and_names_the_quarantine_when_rows_are_bad(data_dir: Path, tmp_path: Path) -> None:
    tables = factories.event_tables()
    bad = factories.to_csv_frame(tables["provinces"])
    bad.loc[0, "workday_start_hour"] = "nine"
    folder = tmp_path / "in"
    factories.write_csv(bad, folder / "provinces.csv")
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 1, result.output
    assert "quarantined" in result.output
    assert any((data_dir / "quarantine").rglob("*.csv"))


def test_ingest_refuses_a_file_missing_a_column_with_exit_2(data_dir: Path, tmp_path: Path) -> None:
    frame = factories.to_csv_frame(factories.event_tables()["provinces"]).drop(columns=["timezone"])
    path = factories.write_csv(frame, tmp_path / "provinces.csv")
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and "timezone" in result.output
    assert not (data_dir / "events" / "provinces.parquet").exists()


def test_unknown_model_is_a_usage_error_naming_the_option(data_dir: Path) -> None:
    result = runner.invoke(app, ["promote", "--model", "speed"])
    assert result.exit_code == 2
    assert "speed" in result.output and "--model" in result.output
