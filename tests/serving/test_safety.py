"""The engine when parts fail: champions missing, the feature store unreachable, tiny pools; the
degraded state it reports and its recovery; every served decision in the prediction log."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from opsmatch import events
from serving.api import schemas as s
from serving.config import Policy, load_service_config
from serving.errors import ApiError
from serving.matching.fallback import FEATURE_STORE, FEW_ELIGIBLE, MODEL_UNAVAILABLE, rule_scores
from serving.matching.ranking import rank_task
from serving.predictions.log import TABLE, PredictionLog
from serving.protocols import Runtime
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from tests.factories.fakes import NOW, FakeProfiles, FakeScorer, FakeTasks, make_pool, make_task


class FlakyTasks(FakeTasks):
    """Task rows from a feature store that can go down (``down``) and come back."""

    def __init__(self, tasks) -> None:  # noqa: ANN001
        super().__init__(tasks)
        self.down = False

    def get_tasks(self, task_ids):  # noqa: ANN001, ANN201
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return super().get_tasks(task_ids)

    def enrich(self, tasks):  # noqa: ANN001, ANN201
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return super().enrich(tasks)


TASKS = [make_task(f"T{i}", "renewal", ("P01", "P02", "P03")[i % 3]) for i in range(6)]


@pytest.fixture
def world(settings):  # noqa: ANN201
    """An engine on fakes whose tasks are also in the event store; its prediction log writes there."""
    rows = pd.DataFrame(
        [
            {
                "task_id": t.task_id,
                "task_type": t.task_type,
                "province_id": t.province_id,
                "customer_id": t.customer_id,
                "created_at": t.created_at,
                "sla_due_at": t.sla_due_at,
                "complexity": t.complexity,
                "channel": "phone",
                "amount": 100.0,
            }
            for t in TASKS
        ]
    )
    events.append(settings, "tasks", rows)
    runtime = Runtime(
        profiles=FakeProfiles(make_pool(m=60, seed=1, skill_level=3, open_tasks=0)),
        tasks=FlakyTasks(TASKS),
        scorer=FakeScorer(),
    )
    store = StateStore(settings.resolved_state_db_url)
    log = PredictionLog(lambda f: events.append(settings, TABLE, f), flush_seconds=0.05).start()
    config = load_service_config({"policy_ttl_seconds": 0, "min_eligible": 3})
    eng = Engine(settings, runtime, store, config, clock=lambda: NOW, predictions=log)
    yield eng
    log.stop()
    store.close()


def _rules(task, pool, k: int) -> list[str]:  # noqa: ANN001
    class PriorOnly(FakeScorer):
        def score_pairs(self, tasks, pool, task_idx, worker_idx, *, now=None):  # noqa: ANN001, ANN201
            return rule_scores(self, tasks, pool, task_idx, worker_idx)

    res = rank_task(task, pool, PriorOnly(), Policy(), NOW, k)
    return pool.worker_ids[res.workers].tolist()


def test_missing_champions_rank_by_rules_stay_ready_and_recover(world: Engine) -> None:
    pool = world.runtime.profiles.snapshot()
    world.runtime.scorer.is_ready = False  # the champions could not load
    assert world.ready()
    out = world.rank(s.RankRequest(task_id="T1", top_k=4))
    assert out.fallback == MODEL_UNAVAILABLE
    assert [w.worker_id for w in out.workers] == _rules(TASKS[1], pool, 4)
    assert world.info().degraded == [MODEL_UNAVAILABLE]
    plan = world.assign(s.AssignRequest(task_ids=["T0", "T1", "T2"]))
    assert plan.fallback == MODEL_UNAVAILABLE and plan.n_assigned == 3
    world.runtime.scorer.is_ready = True  # they loaded at the next poll
    assert world.rank(s.RankRequest(task_id="T1", top_k=4)).fallback is None
    assert world.info().degraded == []


def test_feature_store_down_ranks_stored_tasks_by_rules_and_recovers(world: Engine) -> None:
    world.runtime.tasks.down = True
    scored_before = world.runtime.scorer.pairs_scored
    out = world.rank(s.RankRequest(task_id="T2", top_k=3))
    assert out.fallback == FEATURE_STORE and out.task_type == "renewal" and len(out.workers) == 3
    assert world.runtime.scorer.pairs_scored == scored_before  # no model saw featureless tasks
    inline = s.InlineTask(
        task_id="NEW",
        task_type="renewal",
        province_id="P01",
        created_at=NOW,
        sla_due_at=NOW + pd.Timedelta(hours=4),
    )
    assert world.rank(s.RankRequest(task=inline, top_k=2)).fallback == FEATURE_STORE
    assert world.assign(s.AssignRequest(task_ids=["T0", "T3"])).fallback == FEATURE_STORE
    with pytest.raises(ApiError) as err:
        world.rank(s.RankRequest(task_id="NOPE"))
    assert err.value.status == 404 and err.value.loc == ["task_id"]
    with pytest.raises(ApiError) as err:
        world.risk(s.RiskRequest(task_ids=["T0"]))
    assert err.value.status == 503 and err.value.kind == FEATURE_STORE
    assert FEATURE_STORE in world.info().degraded
    world.runtime.tasks.down = False
    assert world.rank(s.RankRequest(task_id="T2", top_k=3)).fallback is None
    assert world.info().degraded == []


def test_few_eligible_workers_skip_the_models_in_rank_and_assign(settings) -> None:
    pool = make_pool(m=6, provinces=("P01",), seed=2, skill_level=3, open_tasks=0)
    runtime = Runtime(profiles=FakeProfiles(pool), tasks=FakeTasks(TASKS), scorer=FakeScorer())
    store = StateStore(settings.resolved_state_db_url)
    try:
        for floor, expected in ((10, FEW_ELIGIBLE), (2, None)):
            config = load_service_config({"policy_ttl_seconds": 0, "min_eligible": floor})
            eng = Engine(settings, runtime, store, config, clock=lambda: NOW)
            assert eng.rank(s.RankRequest(task_id="T0", top_k=3)).fallback == expected
            assert eng.assign(s.AssignRequest(task_ids=["T0", "T3"])).fallback == expected
        assert eng.info().degraded == []  # the guard is not a fault
    finally:
        store.close()


def test_every_served_decision_is_logged_with_versions_hash_and_values(world: Engine) -> None:
    ranked = world.rank(s.RankRequest(task_id="T1", top_k=4))
    plan = world.assign(s.AssignRequest(task_ids=["T0", "T2", "T4"]))
    risk = world.risk(s.RiskRequest(task_ids=["T3", "T5"]))
    assert world.predictions.flush()
    log = events.read_table(world.settings, TABLE)
    assert world.predictions.stats()["written_rows"] == len(log) == 4 + 3 + 2
    r = log[log["endpoint"] == "rank"].sort_values("rank")
    assert r["worker_id"].tolist() == [w.worker_id for w in ranked.workers]
    assert np.allclose(r["p_qa_pass"], [w.p_qa_pass for w in ranked.workers], atol=1e-6)
    assert json.loads(r["model_versions"].iloc[0]) == ranked.model_versions
    assert r["features"].notna().tolist() == [True, False, False, False]  # the task's row once
    assert r["inputs_hash"].nunique() == 4 and r["decision_id"].nunique() == 1
    a = log[log["endpoint"] == "assign"].set_index("task_id")
    for x in plan.assignments:
        assert a.loc[x.task_id, "worker_id"] == x.worker_id
        assert a.loc[x.task_id, "predicted_minutes"] == pytest.approx(x.predicted_minutes, abs=1e-6)
    k = log[log["endpoint"] == "risk"].set_index("task_id")
    for item in risk.items:
        assert k.loc[item.task_id, "p_complaint_pre"] == pytest.approx(item.probability, abs=1e-6)
        assert pd.isna(k.loc[item.task_id, "worker_id"])
    assert log["fallback"].isna().all()
    assert world.info().prediction_log["overflow_decisions"] == 0


def test_metrics_carry_degraded_state_log_counters_and_the_latest_monitoring(world: Engine) -> None:
    from serving.runtime.safety_metrics import metric_lines, monitoring_path

    world.runtime.scorer.is_ready = False
    world.rank(s.RankRequest(task_id="T1", top_k=2))
    path = monitoring_path(world.settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "models": {"qa_pass": {"overall": {"n": 500.0, "ece": 0.031, "brier": 0.1, "auc": float("nan")}}},
        "stability": {"complaint_pre": {"cust_age_band": 0.42}},
        "skew": {"task_channel": 0.0},
        "ran_at_epoch": 1.0,
    }
    path.write_text(json.dumps(result))
    text = "\n".join(metric_lines(world))
    assert 'opsmatch_degraded{reason="model_unavailable"' in text
    assert 'opsmatch_prediction_log{counter="submitted"' in text
    assert 'opsmatch_model_monitor{model="qa_pass",figure="ece"} 0.031' in text
    assert 'figure="auc"' not in text  # NaN is left out
    assert 'opsmatch_feature_psi{model="complaint_pre",feature="cust_age_band"} 0.42' in text
