"""Point-in-time correctness: changing or adding events after a row's timestamp cannot change that row.

Checked on the feature tables and on Feast training frames, and shown to catch a deliberately leaky
pipeline (events counted a day before they are known).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import features.worker_features as wf
from features.pipeline import build_features
from features.spec import EVENT_TS, VIEWS, feature_columns, table_path
from features.store import apply_repo, build_store
from features.training_frame import build_training_frame
from features.windows import DAY
from opsmatch.settings import Settings
from tests.factories.events import make_events, write_events

CUT_DAYS = 3.5


def perturb_future(ev: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Change every outcome known after ``cut`` and add new events after it (same overall time span)."""
    ev = {k: v.copy() for k, v in ev.items()}
    last = ev["tasks"]["created_at"].max()
    c = ev["completions"]
    late = c["completed_at"] > cut
    c.loc[late, "handling_minutes"] *= 3
    q = ev["qa_results"]
    q.loc[q["checked_at"] > cut, "passed"] = ~q.loc[q["checked_at"] > cut, "passed"].astype(bool)
    q.loc[q["checked_at"] > cut, "satisfaction"] = 1
    s = ev["worker_status"]
    s.loc[s["at"] > cut, "open_tasks"] += 5
    extra = c[late & (c["completed_at"] + pd.Timedelta(hours=1) < last)].head(40)
    tasks = ev["tasks"].set_index("task_id")
    new_complaints = pd.DataFrame(
        {
            "complaint_id": [f"KX{i}" for i in range(len(extra))],
            "task_id": extra["task_id"].to_numpy(),
            "customer_id": tasks.loc[extra["task_id"], "customer_id"].to_numpy(),
            "filed_at": (extra["completed_at"] + pd.Timedelta(hours=1)).to_numpy(),
            "severity": "high",
            "reason": "attitude",
        }
    )
    ev["complaints"] = pd.concat([ev["complaints"], new_complaints], ignore_index=True)
    new_tasks = ev["tasks"][ev["tasks"]["created_at"] > cut].head(30).copy()
    new_tasks["task_id"] = "TX" + new_tasks["task_id"]
    new_tasks["created_at"] = new_tasks["created_at"] - pd.Timedelta(minutes=1)
    new_tasks["sla_due_at"] = new_tasks["sla_due_at"] - pd.Timedelta(minutes=1)
    ev["tasks"] = pd.concat([ev["tasks"], new_tasks], ignore_index=True)
    return ev


def changed_rows(
    a: pd.DataFrame, b: pd.DataFrame, keys: list[str], cols: list[str], cut: pd.Timestamp, after: bool = False
) -> int:
    """Rows (matched on keys + event_timestamp) at or before ``cut`` (after it if ``after``) that differ."""
    m = a.merge(b, on=[*keys, EVENT_TS], how="outer", suffixes=("_a", "_b"), indicator=True)
    m = m[(m[EVENT_TS] > cut) if after else (m[EVENT_TS] <= cut)]
    diff = m["_merge"] != "both"
    for c in cols:
        x, y = m[f"{c}_a"], m[f"{c}_b"]
        diff |= ~((x == y) | (x.isna() & y.isna()))
    return int(diff.sum())


def leaky_window_sums(key, t, values, n_keys, snapshots, window):
    """A broken variant: events count one day before they happen (a future-peeking cutoff)."""
    return wf_window_sums(key, np.asarray(t) - DAY, values, n_keys, snapshots, window)


wf_window_sums = wf.window_sums


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    """The same history and its perturbed future, each built by the real and by the leaky pipeline."""
    base = make_events(days=7, seed=11)
    cut = base["tasks"]["created_at"].min().normalize() + pd.Timedelta(days=CUT_DAYS)
    variants = {"real": base, "real_future": perturb_future(base, cut)}
    out: dict[str, Settings] = {}
    mp = pytest.MonkeyPatch()
    for pipeline in ("clean", "leaky"):
        for name, ev in variants.items():
            s = Settings(data_dir=tmp_path_factory.mktemp(f"{pipeline}-{name}") / "data")
            write_events(s, ev)
            if pipeline == "leaky":
                mp.setattr(wf, "window_sums", leaky_window_sums)
            try:
                build_features(s)
            finally:
                mp.undo()
            apply_repo(s)
            out[f"{pipeline}:{name}"] = s
    out["cut"] = cut  # type: ignore[assignment]
    return out


def _table_changes(worlds, pipeline: str, after: bool = False) -> dict[str, int]:
    a, b = worlds[f"{pipeline}:real"], worlds[f"{pipeline}:real_future"]
    out = {}
    for view, spec in VIEWS.items():
        ta = pd.read_parquet(table_path(a.feature_data_dir, view))
        tb = pd.read_parquet(table_path(b.feature_data_dir, view))
        out[view] = changed_rows(ta, tb, list(spec.keys), spec.feature_names, worlds["cut"], after)
    return out


def test_future_events_do_not_change_past_feature_rows(worlds) -> None:
    assert _table_changes(worlds, "clean") == {v: 0 for v in VIEWS}


def test_the_perturbation_does_change_later_rows(worlds) -> None:
    changes = _table_changes(worlds, "clean", after=True)
    for view in (
        "worker_profile",
        "worker_type_perf",
        "customer_profile",
        "province_status",
        "worker_status",
        "worker_last_qa",
    ):
        assert changes[view] > 0, view


def test_leaky_pipeline_is_caught_on_feature_tables(worlds) -> None:
    changes = _table_changes(worlds, "leaky")
    assert changes["worker_profile"] > 0 and changes["worker_type_perf"] > 0


def _training_features(s: Settings, cut: pd.Timestamp) -> pd.DataFrame:
    from opsmatch.events import read_table

    asg = read_table(s.events_dir, "assignments")
    asg = asg[asg["assigned_at"] <= cut]
    frame = build_training_frame(build_store(s), s, "complaint", assignments=asg)
    return frame.set_index("assignment_id")[feature_columns("complaint")].sort_index()


@pytest.mark.parametrize("pipeline,leak_expected", [("clean", False), ("leaky", True)])
def test_training_rows_before_the_change_are_identical(worlds, pipeline: str, leak_expected: bool) -> None:
    cut = worlds["cut"]
    a = _training_features(worlds[f"{pipeline}:real"], cut)
    b = _training_features(worlds[f"{pipeline}:real_future"], cut)
    assert len(a) > 50 and a.index.equals(b.index)
    assert a["worker_done_7d"].notna().mean() > 0.9  # the check compares real values, not empty joins
    same = (a == b) | (a.isna() & b.isna())
    n_changed = int((~same.all(axis=1)).sum())
    assert (n_changed > 0) == leak_expected, n_changed


def test_cutoff_fixture_is_inside_the_history(worlds, tmp_path: Path) -> None:
    s = worlds["clean:real"]
    tasks = pd.read_parquet(table_path(s.feature_data_dir, "task_profile"))
    assert tasks[EVENT_TS].min() < worlds["cut"] < tasks[EVENT_TS].max()
