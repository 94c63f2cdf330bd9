"""Pure modules: eligibility, cost, risk, alerts rules, config merge, auth."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from serving.alerts import rules
from serving.config import AlertRules, Policy, RiskTiers, Weights, default_policy, merge_policy, policy_diff
from serving.matching.cost import pair_costs, reason_codes
from serving.matching.eligibility import REASONS, eligible_workers
from serving.risk.reasons import FAMILIES, reason_code, tiers, top_reasons
from tests.factories.fakes import make_pool


def _pool():
    pool = make_pool(m=8, provinces=("A", "B"), skill_level=3, capacity=4, open_tasks=0)
    # W0: A ok; W1: B ok; W2: A skill 1; W3: B off shift; W4: A full; W5: B inactive; W6: A ok; W7: B ok
    col = pool.type_column("renewal")
    pool.skills[2, col] = 1
    pool.on_shift[3] = False
    pool.open_tasks[4] = 4
    pool.active[5] = False
    return pool


def test_eligibility_counts_first_failing_reason() -> None:
    pool = _pool()
    policy = Policy(min_skill_level={"renewal": 2})
    e = eligible_workers(pool, "renewal", "A", policy)
    assert e.mask.tolist() == [True, True, False, False, False, False, True, True]
    counts = e.counts()
    assert set(counts) == set(REASONS)
    assert counts == {
        "not_requested": 0,
        "inactive": 1,
        "province_closed": 0,
        "province_not_sharing": 0,
        "skill": 1,
        "off_shift": 1,
        "at_capacity": 1,
        "shift_end": 0,
    }


def test_eligibility_sharing_rules() -> None:
    pool = _pool()
    no_out = Policy(provinces={"A": {"share_out": False}})
    # W1, W3, W7 (W5 is counted as inactive, the earlier check)
    assert eligible_workers(pool, "renewal", "A", no_out).counts()["province_not_sharing"] == 3
    no_in = Policy(provinces={"B": {"share_in": False}})
    assert eligible_workers(pool, "renewal", "A", no_in).counts()["province_not_sharing"] == 3
    # a task of B is unaffected by A's refusal to share out
    assert eligible_workers(pool, "renewal", "B", no_out).counts()["province_not_sharing"] == 0


def test_emergency_close_removes_workers_and_forces_tasks_out() -> None:
    pool = _pool()
    policy = Policy(provinces={"A": {"closed": True, "share_out": False}})
    e = eligible_workers(pool, "renewal", "A", policy)
    assert not e.mask[pool.province_ids == "A"].any()
    assert e.mask.tolist() == [False, True, False, False, False, False, False, True]
    # W2 (skill) and W4 (full) are in A: counted as province_closed, the first failing check
    assert e.counts()["province_closed"] == 4


def test_requested_subset_is_counted() -> None:
    pool = _pool()
    req = np.zeros(len(pool), dtype=bool)
    req[:2] = True
    e = eligible_workers(pool, "renewal", "A", Policy(), requested=req)
    assert e.mask.tolist() == [True, True] + [False] * 6
    assert e.counts()["not_requested"] == 6


def test_max_open_tasks_caps_capacity() -> None:
    pool = _pool()
    pool.open_tasks[:] = 2
    assert eligible_workers(pool, "renewal", "A", Policy(max_open_tasks=2)).mask.sum() == 0


def test_cost_parts_and_monotone_in_load() -> None:
    w = Weights(efficiency=1, quality=60, complaint=600, load=15, cross_province=10, sla=30)
    c = pair_costs(
        minutes=np.array([20.0, 40.0]),
        p_qa_pass=np.array([0.9, 0.8]),
        p_complaint=np.array([0.1, 0.0]),
        type_median=20.0,
        open_tasks=np.array([0, 3]),
        capacity=np.array([4, 4]),
        cross_province=np.array([False, True]),
        minutes_to_sla=60.0,
        weights=w,
        sla_cap=5.0,
    )
    # Minute-equivalents: minutes as such, each event priced per occurrence, lateness per hour.
    assert c.parts["efficiency"].tolist() == pytest.approx([20.0, 40.0])
    assert c.parts["quality"].tolist() == pytest.approx([6.0, 12.0])
    assert c.parts["complaint"].tolist() == pytest.approx([60.0, 0.0])
    assert c.parts["load"].tolist() == pytest.approx([3.75, 15.0])
    assert c.parts["cross_province"].tolist() == pytest.approx([0.0, 10.0])
    # second worker: finishes at 3*20 + 40 = 100 min, 40 min late = 2/3 hour at 30 per hour
    assert c.parts["sla"].tolist() == pytest.approx([0.0, 20.0])
    assert c.sla_overrun.tolist() == pytest.approx([0.0, 40 / 60])
    assert c.total == pytest.approx(sum(c.parts.values()))
    loads = [
        pair_costs(
            minutes=30.0,
            p_qa_pass=0.9,
            p_complaint=0.05,
            type_median=20.0,
            open_tasks=k,
            capacity=5,
            cross_province=False,
            minutes_to_sla=30.0,
            weights=w,
            sla_cap=5.0,
        ).total
        for k in range(6)
    ]
    assert all(b >= a for a, b in zip(loads, loads[1:], strict=False))


def test_reason_codes() -> None:
    codes = reason_codes(
        minutes_ratio=0.7,
        p_qa_pass=0.95,
        p_complaint=0.2,
        cross_province=True,
        load_ratio=0.95,
        sla_overrun=1.0,
    )
    assert codes == [
        "fast_on_task_type",
        "high_qa_pass",
        "complaint_risk",
        "cross_province",
        "high_load",
        "may_miss_sla",
    ]


def test_risk_tiers_and_reasons() -> None:
    assert tiers(np.array([0.05, 0.15, 0.29, 0.3]), RiskTiers(high=0.3, medium=0.15)) == [
        "low",
        "medium",
        "medium",
        "high",
    ]
    assert reason_code("cust_prior_complaints") == "customer_history"
    assert reason_code("hours_to_sla") == "waiting_sla"
    assert reason_code("prov_unassigned") == "waiting_sla"
    assert reason_code("task_created_weekday") == "calendar"
    assert reason_code("Mystery Feature!") == "other"
    names = ["cust_vip", "cust_prior_complaints", "task_complexity", "cust_complaints_so_far"]
    contrib = np.array([[0.2, 0.5, -1.0, 0.4, -3.0]])  # last column: bias
    out = top_reasons(contrib, names, k=3)[0]
    # The three customer features add up to one family; the complex file pulls the risk down: no reason.
    assert [r.code for r in out] == ["customer_history"]
    assert out[0].contribution == pytest.approx(1.1)
    assert out[0].text == "Customer history: has complained before; complaints filed so far"
    assert out[0].features == ("cust_prior_complaints", "cust_complaints_so_far", "cust_vip")
    with pytest.raises(ValueError):
        top_reasons(np.zeros((1, 2)), names)


def test_reasons_are_families_without_calendar_artefacts() -> None:
    names = ["task_created_weekday", "task_created_hour", "prov_unassigned", "task_channel", "worker_x"]
    names.append("zzz")
    contrib = np.array([[3.0, 2.0, 0.3, 0.2, 0.1, 5.0]])
    out = top_reasons(contrib, names, k=5)[0]
    assert [r.code for r in out] == ["waiting_sla", "channel", "handler_fit"]
    assert out[0].text == "Waiting and SLA: backlog in the province"
    assert all(r.code in FAMILIES and "weekday" not in r.text and "hour" not in r.text for r in out)


def test_alert_rules() -> None:
    r = AlertRules(sla_near_hours=2, backlog_min_tasks=5, backlog_per_worker=2, overload_ratio=1.0)
    sla = rules.sla_alerts(["a", "b", "c"], ["P", "P", "Q"], np.array([-1.0, 1.5, 5.0]), {"a": "W1"}, r)
    assert [(x.kind, x.subject_id) for x in sla] == [("sla_overdue", "a"), ("sla_near", "b")]
    assert "W1" in sla[0].message and "escalate" in sla[1].message
    back = rules.backlog_alerts({"P": 10, "Q": 4, "R": 6}, {"P": 2, "Q": 0, "R": 5}, r)
    assert [x.subject_id for x in back] == ["P"]
    over = rules.overload_alerts(
        np.array(["W1", "W2"]), np.array(["P", "P"]), np.array([4, 3]), np.array([4, 4]), r
    )
    assert [x.subject_id for x in over] == ["W1"]
    risk = rules.high_risk_alerts(
        ["t1", "t2"], ["P", "P"], np.array([0.5, 0.2]), ["high", "medium"], [["vip_customer"], []], r
    )
    assert [x.subject_id for x in risk] == ["t1"]
    assert risk[0].id == rules.alert_id("high_risk", "t1") and "/" not in risk[0].id


def test_policy_defaults_merge_and_diff() -> None:
    p = default_policy()
    assert p.weights.quality == 60.0 and p.weights.complaint == 600.0 and p.risk_tiers.high == 0.3
    q = merge_policy(p, {"provinces": {"P07": {"closed": True}}, "weights": {"load": 1.5}})
    assert q.sharing("P07").closed and q.sharing("P07").share_in and q.weights.load == 1.5
    assert q.weights.quality == p.weights.quality
    diff = policy_diff(p, q)
    assert diff["weights.load"] == {"old": 15.0, "new": 1.5}
    assert diff["provinces.P07.closed"] == {"old": None, "new": True}
    with pytest.raises(ValidationError):
        merge_policy(p, {"weights": {"nonsense": 1}})
    with pytest.raises(ValidationError):
        Policy(weights={"quality": float("nan")})
