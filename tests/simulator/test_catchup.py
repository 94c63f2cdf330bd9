"""Catch-up: a history that ends in the past is continued to now, appended once, the open work handed over."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from opsmatch import events
from opsmatch.settings import Settings
from simulator.catchup import catch_up, last_activity
from simulator.run import generate_history

NOW = dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)
COUNTED = ("tasks", "assignments", "completions", "qa_results", "complaints", "worker_status")


@pytest.fixture(scope="module")
def stale(tmp_path_factory) -> tuple[Settings, dict[str, pd.DataFrame]]:
    """A small history that ended two days before NOW, then caught up to NOW."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("catchup") / "data")
    generate_history(settings, "small", 45, seed=3, end=NOW - dt.timedelta(days=2))
    before = {name: events.read_table(settings, name) for name in COUNTED}
    return settings, before


def test_the_missing_span_is_appended_up_to_now(stale) -> None:
    settings, before = stale
    last = last_activity(settings)
    assert last is not None and last <= pd.Timestamp(NOW - dt.timedelta(days=2))
    got = catch_up(settings, NOW)
    assert got is not None and got.rows["tasks"] > 300  # two days of ~280 tasks/day
    after = {name: events.read_table(settings, name) for name in COUNTED}
    for name in COUNTED:  # the history itself is untouched: every old row is still there, first
        pd.testing.assert_frame_equal(after[name].iloc[: len(before[name])], before[name])
        assert len(after[name]) - len(before[name]) == got.rows[name]
    tasks = after["tasks"].iloc[len(before["tasks"]) :]
    assert tasks["created_at"].min() >= last and tasks["created_at"].max() < pd.Timestamp(NOW)
    for name, column in (
        ("completions", "completed_at"),
        ("qa_results", "checked_at"),
        ("worker_status", "at"),
    ):
        assert after[name][column].max() <= pd.Timestamp(NOW)
    assert json.loads((settings.truth_dir / "meta.json").read_text())["end"] == pd.Timestamp(NOW).isoformat()
    # what was open at the old end was handed to the span: none of it is still untouched
    old_done = set(before["completions"]["task_id"])
    was_open = set(before["tasks"]["task_id"]) - old_done
    assert got.handed_over == len(was_open) > 0
    worked = set(after["assignments"].iloc[len(before["assignments"]) :]["task_id"])
    assert len(was_open & worked) >= 0.8 * len(was_open)  # weekend provinces may still be closed
    assert set(after["completions"].iloc[len(before["completions"]) :]["task_id"]) & was_open


def test_a_second_catch_up_to_the_same_instant_stores_nothing(stale) -> None:
    settings, _ = stale
    counts = {name: events.row_count(settings, name) for name in COUNTED}
    assert catch_up(settings, NOW) is None
    assert {name: events.row_count(settings, name) for name in COUNTED} == counts
