"""The training-slice cap (``training.sample``): no-op below it, a stratified task sample above it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.sample import capped_rows


def _slice(n_tasks: int = 6000, days: int = 20, seed: int = 1) -> pd.DataFrame:
    """Time-sorted rows of tasks with 1-3 rows each (snapshots) and a day-dependent label rate."""
    rng = np.random.default_rng(seed)
    reps = rng.integers(1, 4, n_tasks)
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.random(n_tasks)) * days, "D")
    task = np.repeat(np.arange(n_tasks), reps)
    ts = start.values.repeat(reps) + pd.to_timedelta(np.concatenate([np.arange(r) for r in reps]) * 6, "h")
    day = (start - start[0].normalize()).days.to_numpy()
    label = (rng.random(n_tasks) < 0.05 + 0.02 * (day % 5)).astype(float)
    frame = pd.DataFrame(
        {
            "task_id": [f"T{t:05d}" for t in task],
            "event_timestamp": ts,
            "y": label[task],
            "x": rng.random(len(task)),
        }
    )
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def test_below_the_cap_the_slice_is_untouched() -> None:
    frame = _slice()
    assert capped_rows(frame, None, "y", 7) is frame
    assert capped_rows(frame, len(frame), "y", 7) is frame


def test_above_the_cap_every_day_and_label_keeps_its_share_and_tasks_stay_whole() -> None:
    frame = _slice()
    cap = len(frame) // 4
    got = capped_rows(frame, cap, "y", 7)
    assert abs(len(got) - cap) < 0.03 * cap
    assert got["event_timestamp"].is_monotonic_increasing
    # a task is kept with all its rows or not at all
    sizes = frame.groupby("task_id").size()
    assert (got.groupby("task_id").size() == sizes.loc[got["task_id"].unique()]).all()
    # per (day of the task's first row, label): the same share of tasks everywhere
    first = frame.drop_duplicates("task_id")
    kept = first["task_id"].isin(got["task_id"])
    strata = kept.groupby([first["event_timestamp"].dt.floor("D"), first["y"]])
    expected = (strata.size() * cap / len(frame)).round()  # the share of the rows, task by task
    assert (strata.sum() == expected).all()
    # deterministic for a seed, another seed draws other tasks
    assert capped_rows(frame, cap, "y", 7).equals(got)
    assert not capped_rows(frame, cap, "y", 8)["task_id"].equals(got["task_id"])


def test_a_non_positive_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_train_rows"):
        capped_rows(_slice(n_tasks=50), 0, None, 7)
