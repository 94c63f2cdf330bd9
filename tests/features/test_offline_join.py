"""The bounded-memory point-in-time join gives Feast's own frames, row for row (``features.offline_join``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import training_frame
from features.offline_join import historical_features
from features.spec import SERVICES, view_features
from features.store import build_store
from features.training_frame import build_training_frames
from opsmatch.settings import Settings
from tests.factories.serving_world import World


def _feast_fetch(store, ent: pd.DataFrame, features) -> pd.DataFrame:  # noqa: ANN001
    """Feast's own retrieval over whole tables (the path ``offline_join`` replaces), in row order."""
    ent = ent.assign(_row=np.arange(len(ent)))
    feats = store.get_historical_features(entity_df=ent, features=features).to_df()
    return feats.sort_values("_row", kind="stable").set_index("_row").reindex(np.arange(len(ent)))


def _frames_both_ways(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    store = build_store(settings)
    ours = build_training_frames(store, settings)
    with monkeypatch.context() as m:
        m.setattr(training_frame, "_fetch", _feast_fetch)
        feast = build_training_frames(store, settings)
    return ours, feast


def test_small_world_frames_equal_feasts_row_for_row(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, feast = _frames_both_ways(world.settings, monkeypatch)
    for model in SERVICES:
        assert len(ours[model]) > 1000, model
        pd.testing.assert_frame_equal(ours[model], feast[model], check_exact=True, obj=model)
        assert ours[model].iloc[:, -5:].notna().any().all(), model  # features, not an all-null join


def test_small_chunks_and_a_tight_memory_limit_give_the_same_frame(world: World) -> None:
    store = build_store(world.settings)
    frames = build_training_frames(store, world.settings, ("complaint",))
    ent = frames["complaint"][["task_id", "worker_id", "task_type", "customer_id", "province_id"]]
    ent = ent.assign(
        event_timestamp=frames["complaint"]["event_timestamp"], now=frames["complaint"]["event_timestamp"]
    )
    refs = [f"{v}:{n}" for v in SERVICES["complaint"] for n in view_features(v)]
    whole = historical_features(store, ent, refs)
    chunked = historical_features(store, ent, refs, chunk_rows=len(ent) // 5 + 1, memory_limit="64MB")
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    empty = historical_features(store, ent.iloc[:0], refs)
    assert len(empty) == 0 and set(whole.columns) == set(empty.columns)
