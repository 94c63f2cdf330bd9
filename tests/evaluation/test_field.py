"""Field uplift estimator: synthetic alternating logs with a known effect, and twin switching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.alternating import AlternatingPolicy, alternating_log
from evaluation.field import estimate_uplift, slice_policies
from evaluation.replay import run_policy, synthetic_period
from simulator.clock import to_minutes
from simulator.policies import LegacyPolicy, NationalLeastBusyPolicy

T0 = pd.Timestamp("2026-06-01T00:00:00Z")


def synthetic_log(
    days: int = 14,
    per_slice: int = 20,
    *,
    turnaround_cut_h: float = 0.0,
    qa_gain: float = 0.0,
    complaint_cut: float = 0.0,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Hourly slices, ``on`` at even hours on even days and odd hours on odd days; every task is assigned
    a minute after creation by the slice's policy; the ``on`` effects are injected."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        for h in range(24):
            on = (h + d) % 2 == 0
            start = T0 + pd.Timedelta(days=d, hours=h)
            for i in range(per_slice):
                created = start + pd.Timedelta(minutes=float(rng.uniform(0, 60)))
                hours = rng.lognormal(np.log(3.0), 0.5) - (turnaround_cut_h if on else 0.0)
                rows.append(
                    {
                        "task_id": f"T{d:02d}{h:02d}{i:03d}",
                        "created_at": created,
                        "policy": "on" if on else "off",
                        "completed_at": created + pd.Timedelta(hours=max(hours, 0.1)),
                        "passed": rng.random() < 0.85 + (qa_gain if on else 0.0),
                        "complaint": rng.random() < 0.06 - (complaint_cut if on else 0.0),
                    }
                )
    t = pd.DataFrame(rows)
    tasks = pd.DataFrame(
        {
            "task_id": t["task_id"],
            "created_at": t["created_at"],
            "sla_due_at": t["created_at"] + pd.Timedelta(hours=4),
        }
    )
    assignments = pd.DataFrame(
        {
            "assignment_id": "A" + t["task_id"],
            "task_id": t["task_id"],
            "worker_id": "W1",
            "assigned_at": t["created_at"] + pd.Timedelta(minutes=1),
            "policy": t["policy"],
        }
    )
    completions = pd.DataFrame(
        {
            "task_id": t["task_id"],
            "worker_id": "W1",
            "completed_at": t["completed_at"],
            "started_at": t["created_at"],
            "handling_minutes": 20.0,
        }
    )
    qa = pd.DataFrame(
        {
            "qa_id": "Q" + t["task_id"],
            "task_id": t["task_id"],
            "worker_id": "W1",
            "checked_at": t["completed_at"] + pd.Timedelta(hours=1),
            "passed": t["passed"],
        }
    )
    c = t[t["complaint"]]
    complaints = pd.DataFrame(
        {
            "complaint_id": "K" + c["task_id"],
            "task_id": c["task_id"],
            "filed_at": c["completed_at"] + pd.Timedelta(days=1),
        }
    )
    end_marker = pd.DataFrame(
        {"complaint_id": ["K-end"], "task_id": ["none"], "filed_at": [T0 + pd.Timedelta(days=days + 10)]}
    )
    return {
        "tasks": tasks,
        "assignments": assignments,
        "completions": completions,
        "qa_results": qa,
        "complaints": pd.concat([complaints, end_marker], ignore_index=True),
    }


def test_recovers_an_injected_uplift() -> None:
    log = synthetic_log(turnaround_cut_h=0.5, qa_gain=0.05, complaint_cut=0.03, seed=1)
    rep = estimate_uplift(log, policy_on="on", complaint_days=5)
    assert rep.policy_off == "off" and rep.method == "day"
    f = rep.frame().set_index("kpi")
    for kpi, injected in (("turnaround_h", -0.5), ("qa_pass", 0.05), ("complaint", -0.03)):
        assert f.loc[kpi, "low"] <= injected <= f.loc[kpi, "high"], kpi
        assert f.loc[kpi, "high"] < 0 or f.loc[kpi, "low"] > 0, f"{kpi}: effect not detected"
    assert f.loc["sla_met", "lift"] > 0  # a faster turnaround meets more 4-hour SLAs


def test_identical_policies_give_no_uplift() -> None:
    rep = estimate_uplift(synthetic_log(seed=2), policy_on="on", complaint_days=5)
    f = rep.frame().set_index("kpi")
    assert ((f["low"] <= 0) & (f["high"] >= 0)).all(), f
    assert abs(f.loc["turnaround_h", "lift"]) < 0.2


def test_settling_window_and_methods() -> None:
    log = synthetic_log(days=6, seed=3)
    rep = estimate_uplift(log, policy_on="on", settle_minutes=15, complaint_days=5)
    n = len(log["tasks"])
    # every slice starts with a switch: about a quarter of the tasks fall in the first 15 minutes
    assert 0.18 < rep.excluded["settling"] / n < 0.32
    assert (
        rep.lifts["turnaround_h"].tasks_on + rep.lifts["turnaround_h"].tasks_off
        == n - rep.excluded["settling"]
    )
    none = estimate_uplift(log, policy_on="on", settle_minutes=0, complaint_days=5)
    assert none.excluded["settling"] == 0
    welch = estimate_uplift(log, policy_on="on", method="welch", complaint_days=5)
    assert welch.lifts["qa_pass"].lift.method == "welch"
    with pytest.raises(ValueError, match="decided no slice"):
        estimate_uplift(log, policy_on="nobody")


def test_slice_policy_is_the_majority_of_its_assignments() -> None:
    at = T0 + pd.to_timedelta([1, 2, 3, 4, 70], unit="min")
    a = pd.DataFrame({"assigned_at": at, "policy": ["a", "a", "b", "a", "b"]})
    sp = slice_policies(a, 60)
    assert sp["policy"].tolist() == ["a", "b"]
    assert sp["share"].tolist() == [0.75, 1.0]


def test_alternating_policy_labels_each_decision_with_its_slice_policy(small_period) -> None:
    policy = AlternatingPolicy(NationalLeastBusyPolicy(), LegacyPolicy(explore=False), 60)
    result = run_policy(small_period, policy)
    a = result.assignments
    labels = np.array(a["policy"])
    expected = np.where([policy.is_on(t) for t in a["at"]], "national_least_busy", "legacy_fifo")
    assert (labels == expected).all()
    assert set(labels) == {"national_least_busy", "legacy_fifo"}
    # hour h of day 0 and of day 1 belong to different policies (phase flip): every hour sees both
    t0 = small_period.start_minute
    assert policy.is_on(t0 + 30) != policy.is_on(t0 + 1440 + 30)


def test_twin_log_of_identical_policies_shows_no_uplift(small) -> None:
    period = synthetic_period(small, 21, seed=8, workforce_seed=3)
    twin = LegacyPolicy(explore=False)
    twin.name = "legacy_twin"
    tables, _ = alternating_log(period, LegacyPolicy(explore=False), twin)
    assert set(tables["assignments"]["policy"]) == {"legacy_fifo", "legacy_twin"}
    rep = estimate_uplift(tables, policy_on="legacy_fifo")
    f = rep.frame().set_index("kpi")
    assert ((f["low"] <= 0) & (f["high"] >= 0)).all(), f
    created = to_minutes(period.config, tables["tasks"]["created_at"])
    assert created.min() >= period.start_minute


def test_validation_compares_the_switchback_estimate_with_the_full_ab(small) -> None:
    from evaluation.validate import validate_uplift
    from simulator.oracle import OraclePolicy

    period = synthetic_period(small, 14, seed=2, workforce_seed=3)
    out = validate_uplift(
        period,
        lambda: OraclePolicy(period.workforce.truth),
        NationalLeastBusyPolicy,
        attributions=("created",),
        kpis=("turnaround_h", "handling_min"),
    )
    assert list(out["kpi"]) == ["turnaround_h", "handling_min"]
    row = out.set_index("kpi").loc["handling_min"]
    assert row["ab_difference"] < 0  # the oracle gives tasks to faster workers
    assert row["estimate"] < 0 and row["bracketed"]
    assert (out["ab_difference"] == out["ab_on"] - out["ab_off"]).all()
