"""Pieces of the real runtime on tiny data: event key index, TTLs of live columns, config from env
and the /rank prescreen rule."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from opsmatch import events
from opsmatch.settings import Settings
from serving.config import Policy, load_service_config
from serving.matching.ranking import rank_task
from serving.runtime.scoring import FeatureAssembler
from serving.state.event_index import EventIndex
from tests.factories.fakes import NOW, FakeScorer, make_pool, make_task
from training.encoder import FeatureEncoder


def _tasks(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task_id": ids,
            "task_type": ["renewal"] * len(ids),
            "province_id": ["P01"] * len(ids),
            "customer_id": ["C1"] * len(ids),
            "created_at": pd.Timestamp("2026-06-01", tz="UTC"),
            "sla_due_at": pd.Timestamp("2026-06-02", tz="UTC"),
            "complexity": 3,
            "channel": "online",
            "amount": 10.0,
        }
    )


def test_event_index_reads_once_then_only_rows_stored_after_its_version(tmp_path) -> None:
    events.append_rows(tmp_path, "tasks", _tasks(["T1", "T2"]))
    index = EventIndex(tmp_path)
    assert set(index.keys("tasks")) == {"T1", "T2"} and index.loads == 1
    assert index.lookup("tasks", ["T2", "nope"]).tolist() == ["renewal", None]
    assert set(index.keys("tasks")) == {"T1", "T2"} and (index.loads, index.updates) == (1, 0)

    events.append_rows(tmp_path, "tasks", _tasks(["T3"]))  # any writer, this process or another
    assert set(index.keys("tasks")) == {"T1", "T2", "T3"} and (index.loads, index.updates) == (1, 1)
    events.append_rows(tmp_path, "tasks", _tasks(["T1"]))  # already stored: no new version
    assert len(index.keys("tasks")) == 3 and index.updates == 1
    assert set(EventIndex(tmp_path / "empty").keys("workers")) == set()


def _snapshot_handle(n: int, live_age_hours: float, qa_age_hours: float):  # noqa: ANN202
    now_us = int(NOW.timestamp() * 1_000_000)
    hour = 3_600_000_000
    return SimpleNamespace(
        matrices={"renewal": np.zeros((n, 1))},
        live=np.column_stack([np.ones(n), np.full(n, 2.0), np.full(n, 0.1)]),
        live_at=np.full(n, now_us - int(live_age_hours * hour)),
        last_qa=np.column_stack([np.zeros(n), np.full(n, 55.0), np.full(n, 4.0)]),
        last_qa_at=np.full(n, now_us - int(qa_age_hours * hour)),
    )


@pytest.mark.parametrize(
    ("live_age", "qa_age", "live_known", "qa_known"),
    [(1, 1, True, True), (25, 1, False, True), (1, 49, True, False), (-1, -1, False, False)],
)
def test_live_columns_follow_the_push_views_ttls(live_age, qa_age, live_known, qa_known) -> None:  # noqa: ANN001
    """worker_status TTL 1 day, worker_last_qa 2 days; rows after the request time are unknown too."""
    names = ["open_tasks", "load_ratio", "last_qa_score", "task_complexity"]
    model = SimpleNamespace(feature_names=names, encoder=FeatureEncoder(names, {}))
    assembler = FeatureAssembler(model, ["unused"], apply_ttl=True)
    pool = make_pool(m=3)
    pool.handle = _snapshot_handle(3, live_age, qa_age)
    task = make_task("T", features={"task_complexity": 4})
    X = assembler.pairs([task], pool, np.zeros(3, dtype=int), np.arange(3), NOW)
    assert np.isfinite(X[:, 0]).all() == live_known and np.isfinite(X[:, 1]).all() == live_known
    assert np.isfinite(X[:, 2]).all() == qa_known
    assert (X[:, 3] == 4).all()
    untimed = FeatureAssembler(model, ["unused"], apply_ttl=False)
    assert np.isfinite(untimed.pairs([task], pool, np.zeros(3, dtype=int), np.arange(3), NOW)).all()


def test_service_config_from_the_settings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSMATCH_SERVICE__CHAMPION_POLL_SECONDS", "2.5")
    monkeypatch.setenv("OPSMATCH_SERVICE__RANK_PRESCREEN", "0")
    settings = Settings()
    cfg = load_service_config(settings=settings)
    assert cfg.champion_poll_seconds == 2.5 and cfg.rank_prescreen == 0
    assert load_service_config({"rank_prescreen": 7}, settings=settings).rank_prescreen == 7
    monkeypatch.setenv("OPSMATCH_SERVICE__PREDICT_THREADS", "0")
    with pytest.raises(ValueError, match="predict_threads"):
        load_service_config(settings=Settings())


def test_prescreen_scores_the_larger_of_the_minimum_and_the_share() -> None:
    pool = make_pool(m=200, seed=3, skill_level=3, open_tasks=0)
    scorer = FakeScorer()
    task = make_task("T", hours_to_sla=8.0)
    full = rank_task(task, pool, scorer, Policy(), NOW, 5)
    scorer.pairs_scored = 0
    pre = rank_task(task, pool, scorer, Policy(), NOW, 5, prescreen=20, prescreen_share=0.25)
    assert scorer.pairs_scored == 50  # max(20, 25 % of 200)
    assert pre.workers.tolist() == full.workers.tolist()
    scorer.pairs_scored = 0
    rank_task(task, pool, scorer, Policy(), NOW, 5, prescreen=0, prescreen_share=0.25)
    assert scorer.pairs_scored == 200  # prescreen off
