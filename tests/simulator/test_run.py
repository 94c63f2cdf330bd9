"""``generate_history``: the CLI entry point."""

from __future__ import annotations

import json

from opsmatch import events
from opsmatch.settings import Settings
from simulator.run import generate_history


def test_generate_history_writes_events_truth_and_reports(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    calls: list[tuple[float, float]] = []
    summary = generate_history(settings, "small", 3, seed=9, progress=lambda d, t: calls.append((d, t)))
    assert sorted(events.table_versions(settings)) == sorted(summary.rows)
    assert {n: events.row_count(settings, n) for n in summary.rows} == summary.rows
    before = events.current_version(settings)
    generate_history(settings, "small", 3, seed=9)  # the same history again stores nothing
    assert events.current_version(settings) == before
    truth_files = {p.name for p in settings.truth_dir.iterdir()}
    assert truth_files >= {
        "worker_type_truth.parquet",
        "task_truth.parquet",
        "scenario.json",
        "meta.json",
        "surges.parquet",
    }
    meta = json.loads((settings.truth_dir / "meta.json").read_text())
    assert (meta["scenario"], meta["days"], meta["seed"]) == ("small", 3, 9)
    assert calls[-1] == (3.0, 3.0) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert summary.seconds > 0 and set(summary.timings) >= {"arrivals", "simulate", "write_events"}
    assert 0 < summary.metrics["qa_pass_rate"] < 1 and summary.rows["tasks"] > 500
    again = generate_history(settings, "small", 3, seed=9)
    assert again.rows == summary.rows  # rewriting replaces, never appends


def test_a_history_anchored_at_end_stops_there_with_open_work(tmp_path) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from opsmatch import events

    settings = Settings(data_dir=tmp_path / "data")
    end = dt.datetime(2026, 12, 2, 15, 30, tzinfo=dt.UTC)  # a Wednesday afternoon in Beijing
    summary = generate_history(settings, "small", 5, seed=9, end=end)
    start = dt.datetime.fromisoformat(summary.start).astimezone(ZoneInfo("Asia/Shanghai"))
    assert (start.weekday(), start.hour, start.minute) == (0, 0, 0)  # a Monday, local midnight
    assert (end - start) >= dt.timedelta(days=5)
    assert dt.datetime.fromisoformat(summary.end) == end
    tasks = events.read_table(settings.events_dir, "tasks")
    assert tasks["created_at"].max() < end and tasks["created_at"].max() > end - dt.timedelta(hours=1)
    done = events.read_table(settings.events_dir, "completions")
    assert done["completed_at"].max() <= end
    assigned = events.read_table(settings.events_dir, "assignments")
    assert (~tasks["task_id"].isin(assigned["task_id"])).sum() > 0  # work still pending at the end
    status = events.read_table(settings.events_dir, "worker_status")
    assert status["at"].max() <= end
