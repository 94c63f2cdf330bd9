"""ML policies on the twin: they decide with the service's scorer and cost on champions trained here."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

import serving.tasks.plan as dispatch_plan
from evaluation.ab import evaluate_policies
from evaluation.ml_policies import MLBatchPolicy, MLRankingPolicy
from evaluation.replay import evaluation_period, run_policy
from evaluation.report import EXPERIMENT, log_report_to_mlflow, write_report
from evaluation.twin_lifecycle import TwinLifecycle, TwinLifecycleError
from evaluation.twin_service import ACTOR, ServingModels
from serving.api.schemas import PolicyUpdate
from serving.config import default_policy, load_service_config, merge_policy
from simulator.policies import NationalLeastBusyPolicy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(trained) -> ServingModels:
    settings, _ = trained
    return ServingModels.from_settings(settings)


@pytest.fixture(scope="module")
def period(trained):
    settings, _ = trained
    return evaluation_period(settings, days=2, seed=5)


def test_ml_ranking_decides_with_the_serving_scorer(trained, models, period) -> None:
    _, prepared = trained
    assert models.scorer.versions() == prepared.versions  # the champions of the temp registry
    calls = {"pairs": 0, "rows": 0}
    original = models.scorer.score_pairs

    def counting(tasks, pool, task_idx, worker_idx, **kw):
        calls["pairs"] += 1
        calls["rows"] += len(worker_idx)
        return original(tasks, pool, task_idx, worker_idx, **kw)

    models.scorer.score_pairs = counting
    try:
        ml = run_policy(period, MLRankingPolicy(models))
    finally:
        del models.scorer.score_pairs
    national = run_policy(period, NationalLeastBusyPolicy())
    assert calls["pairs"] > 100 and calls["rows"] > calls["pairs"]
    assert np.isfinite(ml.completed).all()
    differs = (ml.worker != national.worker).mean()
    assert differs > 0.3, differs
    assert set(ml.assignments["policy"]) == {"ml_ranking"}


class _Checked(MLRankingPolicy):
    """Compares the policy's serving cost with the service's rank_task on the first decisions."""

    checks: list[tuple[int, int]]

    def on_task(self, view, task):
        idle = list(view.idle_workers(view.task_type[task]))
        if len(idle) >= 2 and len(self.checks) < 25:
            cost = self.cost(view, task, idle)
            self.checks.append((idle[int(np.argmin(cost))], self.svc.rank(task, idle)))  # all scored
        super().on_task(view, task)


def test_policy_cost_is_the_services_ranking(models, period) -> None:
    policy = _Checked(models)
    policy.checks = []
    run_policy(period, policy)
    assert len(policy.checks) == 25
    assert all(mine == service for mine, service in policy.checks)


class _NoTruthView:
    """A view proxy that refuses the hidden truth (workforce.truth, arrivals.surges)."""

    def __init__(self, inner, blocked):
        self._inner, self._blocked = inner, blocked

    def __getattr__(self, name):
        if name in self._blocked:
            raise AssertionError(f"an ML policy read the hidden truth: {name}")
        return getattr(self._inner, name)


@pytest.mark.parametrize("cls", [MLRankingPolicy, MLBatchPolicy])
def test_ml_policies_never_read_the_truth(models, period, cls) -> None:
    class Guarded(cls):
        def start(self, view, rng):
            view.workforce = _NoTruthView(view.workforce, {"truth", "eligible"})
            view.arrivals = _NoTruthView(view.arrivals, {"surges"})
            super().start(view, rng)

    result = run_policy(period, Guarded(models))
    assert np.isfinite(result.completed).all()


@pytest.mark.parametrize("on_events", [False, True])
def test_ml_batch_assigns_through_assign_tasks(models, period, monkeypatch, on_events: bool) -> None:
    calls = []
    original = dispatch_plan.assign_tasks

    def spy(tasks, pool, scorer, policy, now, **kw):
        calls.append((len(tasks), policy.max_open_tasks))
        return original(tasks, pool, scorer, policy, now, **kw)

    monkeypatch.setattr(dispatch_plan, "assign_tasks", spy)
    policy = MLBatchPolicy(models, every_minutes=10, on_events=on_events)
    result = run_policy(period, policy)
    assert set(policy.svc.arms) == {"ml"}  # no experiment: ML decides every task
    assert len(calls) > 20 and all(cap == 1 for _, cap in calls)  # only free workers get a task
    assert np.isfinite(result.completed).all()
    task = np.asarray(result.assignments["task"], dtype=int)
    at = np.array(result.assignments["at"])
    on_tick = np.isclose((at - period.start_minute) % 10, 0)
    on_arrival = np.isclose(at, result.arrivals.tasks["t"].to_numpy(dtype=float)[task])
    if on_events:  # a task arriving to a free worker is assigned at once; the ticks still clear the rest
        assert on_arrival.mean() > 0.2 and (~on_tick).mean() > 0.2 and on_tick.any()
    else:
        assert on_tick.all()  # decisions only at the ticks


def test_ml_batch_runs_the_services_switchback_on_the_twin(models, period) -> None:
    exp = {"enabled": True, "baseline": "least_busy", "slice_minutes": 60, "settle_minutes": 0}
    policy = MLBatchPolicy(models, merge_policy(default_policy(), {"experiment": exp}), every_minutes=10)
    result = run_policy(period, policy)
    arms = policy.svc.arms
    assert set(arms) == {"ml", "least_busy"} and min(arms.values()) > 0.3 * sum(arms.values())
    assert np.isfinite(result.completed).all()
    # every assign event the twin's lifecycle applied carries the arm that decided it
    assert set(policy.lifecycle.arms) == {"ml", "least_busy"}
    assert sum(policy.lifecycle.arms.values()) == len(result.assignments["task"])


@pytest.mark.parametrize(("cls", "source"), [(MLRankingPolicy, "rank"), (MLBatchPolicy, "assign")])
def test_ml_policies_move_every_task_through_the_services_state_machine(models, period, cls, source) -> None:
    policy = cls(models)
    result = run_policy(period, policy)
    life, n = policy.lifecycle, len(result.completed)
    assert life.source == source
    assert life.kinds["create"] == life.kinds["accept"] == life.kinds["start"] == life.kinds["complete"] == n
    assert life.kinds["assign"] == len(result.assignments["task"]) == n + life.kinds["reassign"]
    assert life.open() == {}  # drained: every task went create -> assign -> accept -> start -> complete


class _View:
    task_ids = ["T1", "T2"]
    worker_ids = ["W1", "W2"]


def test_the_twin_lifecycle_refuses_what_the_service_refuses() -> None:
    at = datetime(2026, 12, 1, 2, tzinfo=UTC)
    life = TwinLifecycle(_View(), "assign")
    life.observe("create", 0, -1, at)
    with pytest.raises(TwinLifecycleError, match="cannot accept task T1: it is pending"):
        life.observe("start", 0, 0, at)  # the worker cannot start what nobody assigned
    life.decided(0, "least_busy")
    life.observe("assign", 0, 0, at)
    life.observe("hand_back", 0, 0, at)  # queued at a shift end: taken back (worker_off_shift)
    assert life.open() == {"T1": "reassigned"}
    life.observe("assign", 0, 1, at)
    assert life.states[0].previous_workers == ("W1",) and life.states[0].assignment_id == "A-T1-4"
    with pytest.raises(TwinLifecycleError, match="cannot assign task T1: it is assigned"):
        life.observe("assign", 0, 0, at)  # the twin cannot hand a held task to a second worker
    life.observe("start", 0, 1, at)
    life.observe("complete", 0, 1, at)
    assert life.open() == {} and life.arms == {"least_busy": 1, "ml": 1}
    with pytest.raises(TwinLifecycleError, match="cannot create task T2"):
        life.observe("create", 1, -1, at)
        life.observe("create", 1, -1, at)  # the same task cannot arrive twice


def test_emergency_close_takes_the_province_out_of_the_pool(models, period) -> None:
    close_at = period.start_minute + 600
    patch = PolicyUpdate(actor=ACTOR, provinces={"P01": {"closed": True}}).changes()
    policy = MLRankingPolicy(models, changes=[(close_at, patch)])
    result = run_policy(period, policy)
    assert policy.svc.policy.sharing("P01").closed
    at = np.array(result.assignments["at"])
    prov = result.workforce.province[np.array(result.assignments["worker"])]
    assert (prov[at < close_at] == 0).any()
    assert not (prov[at >= close_at] == 0).any()  # no P01 worker takes a task after the close
    task_prov = result.arrivals.tasks["p"].to_numpy()[np.array(result.assignments["task"])]
    assert ((task_prov == 0) & (at >= close_at)).any()  # P01's tasks keep flowing, elsewhere


def test_ab_with_ml_policies_report_and_mlflow(trained, tmp_path) -> None:
    import mlflow

    settings, _ = trained
    done = []
    report = evaluate_policies(settings, "small", days=1, seeds=(1, 2), progress=lambda d, t: done.append(d))
    assert done[-1] == 14 and report.policies[2:4] == ["ml_ranking", "ml_batch"]
    assert report.policies[-2:] == ["watchlist_random", "ml_watchlist"]
    assert len(report.targets) == 4 + 4 + 7 and report.model_versions
    shipped = load_service_config()  # the twin's ML ranking ran with the /rank settings that ship
    assert report.ran_with["ml_ranking"]["rank_prescreen"] == shipped.rank_prescreen
    assert report.ran_with["ml_ranking"]["near_sla_hours"] == default_policy().dispatch.sla_near_hours
    runs = report.runs.set_index(["policy", "seed"])
    assert (runs.loc["ml_watchlist", "risk_contacts_per_day"] > 0).all()
    # Alert quality: the daily high-risk list by current risk and by intake risk, same capacity.
    for col in ("alert_precision_now", "alert_precision_intake"):
        assert runs.loc["ml_watchlist", col].between(0.0, 1.0).all(), runs.loc["ml_watchlist", col]
    assert (runs.loc["ml_watchlist", "alerted"] > 0).all()
    # the control replays FIFO's dispatch: the same turnaround, only complaints can differ
    assert (
        runs.loc["watchlist_random", "mean_turnaround_h"].tolist()
        == runs.loc["legacy_fifo", "mean_turnaround_h"].tolist()
    )
    assert (runs.loc["watchlist_random", "complaint_rate"] <= runs.loc["legacy_fifo", "complaint_rate"]).all()
    frontier = report.frontier_summary()
    assert len(frontier) == 2 * 9 and set(frontier["effect"]) == {0.3, 0.5, 0.8}
    assert report.ratio("ml_watchlist", "watchlist_random", "complaint_rate").n == 2
    r = report.ratio("ml_ranking", "oracle", "true_cost_total")
    assert r is not None and r.n == 2 and r.low <= r.estimate <= r.high
    path = write_report(report, tmp_path / "ab")
    assert "## Targets" in path.read_text() and "## Risk team: the frontier" in path.read_text()
    assert "alert precision (risk now)" in path.read_text()
    summary = json.loads((path.parent / "summary.json").read_text())
    assert {"policy", "reference", "kpi", "estimate", "low", "high"} == set(summary["ratios"][0])
    assert len(summary["ratios"]) == len(report.comparisons) and len(summary["targets"]) == 15
    pairs = {(r["policy"], r["reference"], r["kpi"]) for r in summary["ratios"]}
    assert ("ml_watchlist", "legacy_fifo", "escalated_rate") in pairs
    run_id = log_report_to_mlflow(settings, report, path.parent)
    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(run_id)
    assert "ml_ranking.mean_turnaround_h" in run.data.metrics
    assert "ml_batch.vs_legacy_fifo.mean_turnaround_h" in run.data.metrics
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    arts = {a.path for a in client.list_artifacts(run_id, "report")}
    assert "report/report.md" in arts and "report/turnaround.png" in arts


def test_the_watchlist_reads_what_customers_said_before_scoring(models, period) -> None:
    from evaluation.prevention_severity import EscalationShares
    from evaluation.watchlist import WatchlistPolicy, team_kpis, team_work, voice_kpis
    from simulator.outcomes import task_outcomes
    from simulator.policies import LegacyPolicy
    from tests.factories.voice import voice_models

    shares = EscalationShares({(True, False): 0.3}, 0.1)  # a VIP's complaint escalates 3x as often
    policy = WatchlistPolicy(
        LegacyPolicy(explore=False), models, voice=voice_models(), severity=lambda: shares
    )
    result = run_policy(period, policy)
    served, o = policy.scores(), task_outcomes(result)
    ranked, said = policy.ranked_scores(result, o), policy.ranked_scores(result, o, severity=False)
    assert served is not None and ranked is not None and said is not None
    scored = np.isfinite(served)
    assert scored.any() and np.array_equal(np.isfinite(ranked), scored)
    assert not np.allclose(said[scored], served[scored])  # the words moved the list's risk
    vip = result.arrivals.customers["vip"].to_numpy(bool)[o["customer"].to_numpy(int)]
    on_time = np.nan_to_num(o["hours_late"].to_numpy(float)) <= 24  # (VIP, late) is not a cell: overall
    assert np.allclose(ranked[scored] / said[scored], np.where(vip & on_time, 1.9, 1.3)[scored])  # weight 3
    work = team_work(period, result, policy, outcomes=o)
    got = team_kpis(work) | voice_kpis(period, result, policy)
    assert {
        "uplift_at_capacity",
        "qini_auc",
        "complaint_rate_served_only",
        "escalated_rate_unweighted",
    } <= set(got)
    assert 0.0 <= got["complaint_rate_served_only"] <= 1.0
