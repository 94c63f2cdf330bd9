"""End to end on the digital twin's ``small`` scenario: simulate, build, apply, materialize, train-frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pipeline import build_features, read_manifest
from features.profile_cache import ProfileCache
from features.spec import VIEWS, feature_columns
from features.store import apply_repo, build_store, materialize
from features.training_frame import LABELS, build_training_frames
from opsmatch.settings import Settings
from simulator import run
from tests.factories.events import online_mismatches


@pytest.mark.slow
def test_small_scenario_end_to_end(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    run.generate_history(settings, "small", 10, seed=3)
    summary = build_features(settings)
    assert summary["rows"]["worker_profile"] > 0 and summary["rows"]["task_profile"] > 1000
    apply_repo(settings)
    materialize(settings)
    store = build_store(settings)
    since = pd.Timestamp(read_manifest(settings.feature_data_dir)["online_since"])
    for view, spec in VIEWS.items():
        n, bad = online_mismatches(store, settings, view, since=since if spec.cadence == "event" else None)
        assert n > 0 and not bad, (view, bad[:3])

    frames = build_training_frames(store, settings)
    hand = frames["handling_time"]
    assert hand["handling_minutes"].notna().mean() > 0.8
    assert 0.5 < hand["qa_passed"].mean() < 1.0
    late = hand[hand["event_timestamp"] > hand["event_timestamp"].min() + pd.Timedelta(days=3)]
    for col in (
        "worker_done_7d",
        "wt_handling_ratio",
        "worker_qa_pass_rate",
        "prov_backlog",
        "task_sla_hours",
    ):
        assert late[col].notna().mean() > 0.9, col
    assert (late["hours_to_sla"] < late["task_sla_hours"] + 1e-6).all()
    for model, frame in frames.items():
        assert list(frame.columns[-len(feature_columns(model)) :]) == feature_columns(model)
        assert set(LABELS) <= set(frame.columns)

    cache = ProfileCache(settings, refresh_seconds=None)
    rows, live = cache.lookup("renewal")
    assert rows.shape[0] == summary["rows"]["worker_stats"] and np.isfinite(rows[:, 0]).all()
    assert np.isfinite(live[:, 1]).mean() > 0.5
