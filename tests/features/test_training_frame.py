"""Training frames: Feast point-in-time features at assigned_at, labels from the event log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.pipeline import build_features
from features.spec import EVENT_TS, SERVICES, VIEWS, feature_columns, table_path
from features.store import apply_repo, build_store
from features.training_frame import ENTITY_COLUMNS, LABELS, build_training_frame, build_training_frames
from opsmatch.settings import Settings
from tests.factories.events import at, hand_events, make_events, write_events


def _ready(settings: Settings) -> Settings:
    build_features(settings)
    apply_repo(settings)
    return settings


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    ev = hand_events(
        workers=[{"worker_id": "W1"}, {"worker_id": "W2"}],
        tasks=[
            {"task_id": t, "created_at": at(d, 0.5)}
            for t, d in [("T1", 0), ("T2", 0), ("T3", 39), ("T4", 39), ("T5", 40)]
        ],
        assignments=[
            {"task_id": "T1", "worker_id": "W1", "assigned_at": at(0, 1)},
            {"task_id": "T1", "worker_id": "W2", "assigned_at": at(0, 2)},
            {"task_id": "T2", "worker_id": "W1", "assigned_at": at(0, 1)},
            {"task_id": "T3", "worker_id": "W1", "assigned_at": at(39, 1)},
            {"task_id": "T4", "worker_id": "W2", "assigned_at": at(39, 1)},
        ],
        completions=[
            {"task_id": "T1", "worker_id": "W2", "completed_at": at(0, 3), "handling_minutes": 60.0},
            {"task_id": "T2", "worker_id": "W1", "completed_at": at(0, 2), "handling_minutes": 30.0},
            {"task_id": "T3", "worker_id": "W1", "completed_at": at(39, 2), "handling_minutes": 45.0},
        ],
        qa_results=[
            {"task_id": "T1", "worker_id": "W2", "checked_at": at(0, 5), "passed": True},
            {"task_id": "T1", "worker_id": "W2", "checked_at": at(0, 9), "passed": False, "qa_id": "Q9"},
        ],
        complaints=[{"task_id": "T1", "filed_at": at(0, 10)}],
    )
    s = Settings(data_dir=tmp_path_factory.mktemp("labels") / "data")
    write_events(s, ev)
    _ready(s)
    return build_training_frame(build_store(s), s, "handling_time").set_index("assignment_id")


def test_labels_go_to_the_completing_assignment(labelled: pd.DataFrame) -> None:
    rows = {a: labelled.loc[a, LABELS].tolist() for a in labelled.index}
    assert np.isnan(rows["A1"]).all()  # T1 first went to W1, who did not complete it
    assert rows["A2"] == [60.0, 1.0, 1.0]  # first QA result; complaint within 30 days
    assert rows["A3"][0] == 30.0 and np.isnan(rows["A3"][1]) and rows["A3"][2] == 0.0  # never checked
    assert rows["A4"][0] == 45.0 and np.isnan(rows["A4"][2])  # 30-day window still open: censored
    assert np.isnan(rows["A5"]).all()  # never completed


def test_columns_are_entities_timestamp_labels_then_feature_columns(labelled: pd.DataFrame) -> None:
    cols = ["assignment_id", *labelled.columns]
    assert cols == [*ENTITY_COLUMNS, EVENT_TS, *LABELS, *feature_columns("handling_time")]
    assert labelled.loc["A2", EVENT_TS] == at(0, 2)
    assert labelled.loc["A2", "task_type"] == "renewal"


def test_feature_columns_exclude_ids_and_raw_timestamps() -> None:
    for model in SERVICES:
        cols = feature_columns(model)
        assert len(cols) == len(set(cols))
        assert not {"task_customer_id", "task_created_at", "task_sla_due_at"} & set(cols)
    assert set(feature_columns("complaint_pre")) <= {
        *VIEWS["task_profile"].feature_names,
        *VIEWS["customer_profile"].feature_names,
        *VIEWS["province_status"].feature_names,
        "hours_to_sla",
        "task_age_hours",
    }
    assert "hours_to_sla" in feature_columns("handling_time") and "load_ratio" in feature_columns("complaint")
    with pytest.raises(KeyError):
        feature_columns("churn")


@pytest.fixture(scope="module")
def random_world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    s = Settings(data_dir=tmp_path_factory.mktemp("random") / "data")
    write_events(s, make_events(days=6, seed=21))
    return _ready(s)


def _asof(frame: pd.DataFrame, table: pd.DataFrame, keys: list[str], ttl: pd.Timedelta) -> pd.DataFrame:
    """Reference point-in-time join in pandas: latest row at or before the entity time, within ttl."""
    left = frame.reset_index()[["assignment_id", *keys, EVENT_TS]].sort_values(EVENT_TS)
    right = table.rename(columns={EVENT_TS: "_ft"}).sort_values("_ft")
    m = pd.merge_asof(left, right, left_on=EVENT_TS, right_on="_ft", by=keys, direction="backward")
    stale = m["_ft"].isna() | (m[EVENT_TS] - m["_ft"] > ttl)
    m.loc[stale, [c for c in table.columns if c not in (*keys, EVENT_TS)]] = np.nan
    return m.set_index("assignment_id")


@pytest.mark.parametrize(
    "view", ["worker_profile", "worker_type_perf", "customer_profile", "province_status"]
)
def test_feast_values_equal_a_pandas_asof_join(random_world: Settings, view: str) -> None:
    frame = build_training_frame(build_store(random_world), random_world, "complaint").set_index(
        "assignment_id"
    )
    spec = VIEWS[view]
    ref = _asof(
        frame,
        pd.read_parquet(table_path(random_world.feature_data_dir, view)),
        list(spec.keys),
        pd.Timedelta(spec.ttl),
    )
    for col in [c for c in spec.feature_names if c in frame.columns]:
        a, b = frame[col], ref.loc[frame.index, col]
        same = (a.astype(object) == b.astype(object)) | (a.isna() & b.isna())
        assert same.all(), (view, col, frame.loc[~same, [col]].head(), b[~same].head())
    assert frame[spec.feature_names[-1]].notna().mean() > 0.5


def test_one_retrieval_for_all_models_matches_per_model_frames(random_world: Settings) -> None:
    store = build_store(random_world)
    frames = build_training_frames(store, random_world, ("handling_time", "complaint_pre"))
    for model, frame in frames.items():
        pd.testing.assert_frame_equal(frame, build_training_frame(store, random_world, model))


def test_unknown_model_is_refused(random_world: Settings, tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        build_training_frame(build_store(random_world), random_world, "churn")
