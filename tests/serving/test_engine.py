"""The service core on in-memory fakes: rank, assign, risk, outcomes, status, policy, alerts."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from opsmatch import events
from serving.api import schemas as s
from serving.errors import ApiError
from tests.factories.fakes import NOW


def test_rank_returns_top_k_sorted_by_cost_with_counts(engine) -> None:
    out = engine.rank(s.RankRequest(task_id="T0", top_k=5))
    costs = [w.cost for w in out.workers]
    assert len(out.workers) == 5 and costs == sorted(costs)
    for w in out.workers:
        parts = w.cost_parts.model_dump()
        assert w.cost == pytest.approx(sum(parts.values()), abs=1e-5)
        assert w.reason_codes
    pool = engine.runtime.profiles.snapshot()
    assert out.eligible + sum(out.excluded.values()) == len(pool)
    assert out.model_versions["handling_time"] == "1"


def test_rank_province_filter_and_unknown_province(engine) -> None:
    out = engine.rank(s.RankRequest(task_id="T0", top_k=50, provinces=["P02"]))
    assert {w.province_id for w in out.workers} == {"P02"}
    assert out.excluded["not_requested"] == 40
    with pytest.raises(ApiError) as err:
        engine.rank(s.RankRequest(task_id="T0", provinces=["P99"]))
    assert err.value.status == 422 and err.value.loc == ["provinces"]


def test_rank_unknown_task_is_404_and_top_k_over_limit_is_400(engine) -> None:
    with pytest.raises(ApiError) as err:
        engine.rank(s.RankRequest(task_id="nope"))
    assert err.value.status == 404 and err.value.loc == ["task_id"]
    with pytest.raises(ApiError) as err:
        engine.rank(s.RankRequest(task_id="T0", top_k=500))
    assert err.value.status == 400 and err.value.loc == ["top_k"]


def test_rank_inline_task(engine) -> None:
    task = s.InlineTask(
        task_id="NEW",
        task_type="underwriting",
        province_id="P03",
        created_at=NOW - timedelta(hours=1),
        sla_due_at=NOW + timedelta(hours=3),
    )
    out = engine.rank(s.RankRequest(task=task, top_k=3))
    assert out.task_id == "NEW" and out.task_type == "underwriting" and len(out.workers) == 3


def test_not_ready_is_503(engine) -> None:
    engine.runtime.profiles.is_ready = False  # no worker profiles yet (missing champions: rules, test_safety)
    with pytest.raises(ApiError) as err:
        engine.rank(s.RankRequest(task_id="T0"))
    assert err.value.status == 503


def test_assign_respects_capacity_and_puts_overdue_first(engine) -> None:
    pool = engine.runtime.profiles.snapshot()
    pool.open_tasks[:] = pool.capacity  # everybody full ...
    pool.open_tasks[0] = pool.capacity[0] - 1  # ... except one slot at W0000 (P01)
    out = engine.assign(s.AssignRequest(task_ids=[f"T{i}" for i in range(9)] + ["T-late"]))
    # claims_review task from P02 may go to P01 under default sharing
    assert [a.task_id for a in out.assignments] == ["T-late"]
    assert out.n_overdue == 1 and out.n_overdue_assigned == 1
    assert {u.reason for u in out.unassigned} == {"capacity_exhausted"}


def test_assign_objective_matches_sum_of_costs(engine) -> None:
    out = engine.assign(s.AssignRequest(task_ids=[f"T{i}" for i in range(9)]))
    assert out.n_assigned == 9
    assert out.objective == pytest.approx(sum(a.cost for a in out.assignments), abs=1e-4)
    counts = {}
    for a in out.assignments:
        counts[a.worker_id] = counts.get(a.worker_id, 0) + 1
    pool = engine.runtime.profiles.snapshot()
    for wid, c in counts.items():
        i = pool.index[wid]
        assert c <= pool.capacity[i] - pool.open_tasks[i]


def test_emergency_close_moves_every_pending_task_of_the_province(engine) -> None:
    engine.put_policy(
        s.PolicyUpdate(actor="ops-head", note="snowstorm", provinces={"P01": {"closed": True}}),
        actor="tester",
    )
    ids = [f"T{i}" for i in range(9)]
    out = engine.assign(s.AssignRequest(task_ids=ids))
    p01 = {f"T{i}" for i in range(0, 9, 3)}
    moved = [a for a in out.assignments if a.task_id in p01]
    assert len(moved) == 3 and out.moved_from_closed == 3
    assert all(a.worker_province_id != "P01" for a in out.assignments)
    assert out.closed_provinces == ["P01"]
    ranked = engine.rank(s.RankRequest(task_id="T0", top_k=100))
    assert ranked.excluded["province_closed"] == 20
    assert all(w.province_id != "P01" for w in ranked.workers)


def test_sharing_off_keeps_tasks_home(engine) -> None:
    engine.put_policy(s.PolicyUpdate(actor="ops", default_sharing={"share_out": False}), actor="tester")
    out = engine.rank(s.RankRequest(task_id="T0", top_k=100))
    assert {w.province_id for w in out.workers} == {"P01"}
    assert out.excluded["province_not_sharing"] == 40


def test_assign_with_worker_subset_and_unknown_worker(engine) -> None:
    out = engine.assign(s.AssignRequest(task_ids=["T0", "T1"], worker_ids=["W0003", "W0004"]))
    assert {a.worker_id for a in out.assignments} <= {"W0003", "W0004"}
    with pytest.raises(ApiError) as err:
        engine.assign(s.AssignRequest(task_ids=["T0"], worker_ids=["W0003", "ghost"]))
    assert err.value.status == 422 and err.value.loc == ["worker_ids", 1]


def test_assign_raises_sla_alerts_with_suggestion(engine) -> None:
    engine.assign(s.AssignRequest(task_ids=["T-late", "T0"]))
    alerts = engine.alerts("sla_overdue", None, None, 10).alerts
    assert [(a.province_id, a.count) for a in alerts] == [("P02", 1)]  # one incident per province
    assert alerts[0].examples[0]["subject_id"] == "T-late"
    assert alerts[0].examples[0]["details"]["suggested_worker"]


def test_risk_tiers_reasons_and_alerts(engine) -> None:
    vip = s.InlineTask(
        task_id="R1",
        task_type="renewal",
        province_id="P01",
        customer_id="C9",
        created_at=NOW - timedelta(hours=1),
        sla_due_at=NOW + timedelta(hours=5),
        customer={"vip": True, "prior_complaints": 3},
    )
    calm = s.InlineTask(
        task_id="R2",
        task_type="renewal",
        province_id="P01",
        customer_id="C8",
        created_at=NOW - timedelta(hours=1),
        sla_due_at=NOW + timedelta(hours=5),
    )
    out = engine.risk(s.RiskRequest(tasks=[calm, vip]))
    assert [i.task_id for i in out.items] == ["R1", "R2"]
    assert out.items[0].tier == "high" and out.items[1].tier == "low"
    assert out.items[0].reasons[0].code == "customer_history"
    assert out.items[0].reasons[0].text == "Customer history: has complained before; VIP customer"
    assert out.alerts_raised == 1
    assert engine.alerts("high_risk", None, False, 10).count == 1


def _outcomes(n: int = 2) -> s.OutcomesRequest:
    return s.OutcomesRequest(
        qa_results=[
            {
                "qa_id": f"Q{i}",
                "task_id": "T0",
                "worker_id": "W0001",
                "checked_at": NOW - timedelta(minutes=5),
                "passed": True,
                "score": 90.0,
                "satisfaction": 5,
            }
            for i in range(n)
        ]
    )


def test_outcomes_are_durable_idempotent_and_pushed(engine) -> None:
    first = engine.outcomes(_outcomes(), actor="tester")
    assert first.tables["qa_results"].new == 2 and first.profiles_refreshed
    again = engine.outcomes(_outcomes(), actor="tester")
    assert again.tables["qa_results"].new == 0 and again.tables["qa_results"].duplicates == 2
    assert not again.profiles_refreshed
    stored = events.read_table(engine.settings.events_dir, "qa_results")
    assert sorted(stored["qa_id"]) == ["Q0", "Q1"]
    assert len(engine.runtime.profiles.outcomes) == 1


def test_outcome_with_same_id_and_other_content_is_409(engine) -> None:
    engine.outcomes(_outcomes(1), actor="tester")
    changed = _outcomes(1)
    changed.qa_results[0].passed = False
    with pytest.raises(ApiError) as err:
        engine.outcomes(changed, actor="tester")
    assert err.value.status == 409 and err.value.loc == ["qa_results", 0, "qa_id"]


def test_outcome_in_the_future_is_422(engine) -> None:
    req = _outcomes(1)
    req.qa_results[0].checked_at = NOW + timedelta(days=1)
    with pytest.raises(ApiError) as err:
        engine.outcomes(req, actor="tester")
    assert err.value.status == 422 and err.value.loc == ["qa_results", 0, "checked_at"]


def test_outcome_validator_problem_names_row_and_column(engine) -> None:
    engine.validate_rows = lambda table, frame: [(0, "task_id", "unknown tasks.task_id")]
    with pytest.raises(ApiError) as err:
        engine.outcomes(_outcomes(1), actor="tester")
    assert err.value.status == 422 and err.value.loc == ["qa_results", 0, "task_id"]
    assert not events.has_rows(engine.settings, "qa_results")


def test_worker_status_updates_profiles_and_raises_overload(engine) -> None:
    out = engine.worker_status(
        s.WorkerStatusRequest(
            statuses=[
                {"worker_id": "W0002", "at": NOW - timedelta(minutes=1), "on_shift": True, "open_tasks": 9},
                {"worker_id": "W0003", "at": NOW - timedelta(minutes=1), "on_shift": False, "open_tasks": 0},
            ]
        ),
        actor="tester",
    )
    pool = engine.runtime.profiles.snapshot()
    assert pool.open_tasks[pool.index["W0002"]] == 9 and not pool.on_shift[pool.index["W0003"]]
    assert out.alerts_raised == 1 and out.stored == 2
    ranked = engine.rank(s.RankRequest(task_id="T0", top_k=100))
    assert "W0002" not in {w.worker_id for w in ranked.workers}
    assert ranked.excluded["at_capacity"] >= 1 and ranked.excluded["off_shift"] >= 1


def test_worker_status_unknown_worker_is_422(engine) -> None:
    with pytest.raises(ApiError) as err:
        engine.worker_status(
            s.WorkerStatusRequest(
                statuses=[{"worker_id": "ghost", "at": NOW, "on_shift": True, "open_tasks": 1}]
            ),
            actor="tester",
        )
    assert err.value.status == 422 and err.value.loc == ["statuses", 0, "worker_id"]


def test_policy_update_is_versioned_and_audited(engine) -> None:
    before = engine.get_policy()
    assert before.version == 0
    out = engine.put_policy(
        s.PolicyUpdate(
            actor="li",
            note="more quality",
            weights={"quality": 4.0},
            provinces={"P02": {"closed": True}},
            expected_version=0,
        ),
        actor="tester",
    )
    assert out.version == 1 and out.policy.weights.quality == 4.0
    assert out.policy.weights.efficiency == before.policy.weights.efficiency  # untouched
    assert out.closed_provinces == ["P02"]
    hist = engine.store.policy_history()
    assert hist[0]["actor"] == "tester" and "body actor: li" in hist[0]["note"]  # the key, not the body
    assert hist[0]["changes"]["weights.quality"] == {"old": 60.0, "new": 4.0}
    actions = [a["action"] for a in engine.store.audit_entries()]
    assert actions[:2] == ["emergency_close", "policy_update"]
    with pytest.raises(ApiError) as err:
        engine.put_policy(
            s.PolicyUpdate(actor="li", weights={"quality": 1.0}, expected_version=0), actor="tester"
        )
    assert err.value.status == 409


def test_policy_update_rejects_bad_values_and_unknown_province(engine) -> None:
    with pytest.raises(ApiError) as err:
        engine.put_policy(s.PolicyUpdate(actor="li", risk_tiers={"medium": 0.9}), actor="tester")
    assert err.value.status == 422 and err.value.loc == ["risk_tiers"]
    with pytest.raises(ApiError) as err:
        engine.put_policy(s.PolicyUpdate(actor="li", provinces={"P1": {"closed": True}}), actor="tester")
    assert err.value.status == 422 and err.value.loc == ["provinces", "P1"]
    with pytest.raises(ApiError):
        engine.put_policy(s.PolicyUpdate(actor="li"), actor="tester")


def test_policy_change_reaches_ranking(engine) -> None:
    base = engine.rank(s.RankRequest(task_id="T0", top_k=1)).workers[0]
    engine.put_policy(
        s.PolicyUpdate(
            actor="x",
            weights={"efficiency": 0, "quality": 0, "complaint": 0, "load": 0, "cross_province": 0, "sla": 0},
        ),
        actor="tester",
    )
    after = engine.rank(s.RankRequest(task_id="T0", top_k=1)).workers[0]
    assert base.cost > 0 and after.cost == 0


def test_ack_alert_and_unknown_alert(engine) -> None:
    engine.assign(s.AssignRequest(task_ids=["T-late"]))
    alert = engine.alerts(None, None, False, 10).alerts[0]
    acked = engine.ack(alert.id, s.AckRequest(actor="risk-1", note="called"), actor="tester")
    assert acked.acked and acked.acked_by == "tester" and acked.ack_note == "called [body actor: risk-1]"
    assert engine.alerts(None, None, False, 10).count == 0
    with pytest.raises(ApiError) as err:
        engine.ack("nope", s.AckRequest(actor="x"), actor="tester")
    assert err.value.status == 404


def test_sweep_raises_overload_alerts(engine) -> None:
    pool = engine.runtime.profiles.snapshot()
    pool.open_tasks[:3] = pool.capacity[:3]
    assert engine.sweep_alerts() >= 1  # one incident per province
    assert engine.sweep_alerts() == 0  # same alerts refreshed, not duplicated
    got = engine.alerts("overloaded_worker", None, None, 100).alerts
    assert {"W0000", "W0001", "W0002"} <= {e["subject_id"] for a in got for e in a.examples}
    pool.open_tasks[:3] = 0
    engine.sweep_alerts()  # the whole pool seen again: cleared, resolved
    assert engine.alerts("overloaded_worker", None, None, 100, state="active").alerts == []


def test_batch_limit_is_configurable(engine) -> None:
    engine.config = engine.config.model_copy(update={"max_batch_tasks": 2})
    with pytest.raises(ApiError) as err:
        engine.assign(s.AssignRequest(task_ids=["T0", "T1", "T2"]))
    assert err.value.status == 400 and "at most 2" in err.value.message


def test_info_reports_versions_and_workers(engine) -> None:
    info = engine.info()
    assert info.ready and info.workers == 60 and info.model_versions["complaint_pre"] == "1"
    assert np.isfinite(info.profiles_staleness_seconds)
