"""KPI and interval computations on hand-built examples and one small replay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.kpis import busy_minutes, compute_kpis, peak_backlog, shift_minutes, true_cost
from evaluation.replay import run_policy
from evaluation.stats import bootstrap_interval, paired_ratio, t_interval, welch_difference
from simulator.outcomes import summarize, task_outcomes
from simulator.policies import LegacyPolicy


def test_peak_backlog_counts_waiting_tasks() -> None:
    # t=0 one waits; t=1 a task arrives and starts at once; t=2, t=3 two more wait; starts at 5 and 6.
    created = np.array([0.0, 1.0, 2.0, 3.0])
    started = np.array([5.0, 1.0, 6.0, np.nan])
    assert peak_backlog(created, started) == 3
    assert peak_backlog(np.array([0.0, 0.0]), np.array([0.0, 0.0])) == 0  # started at once: never waiting


def test_true_cost_weights_every_part() -> None:
    o = pd.DataFrame(
        {
            "expected_minutes": [10.0, 20.0],
            "p_pass": [0.9, 1.0],
            "p_complaint": [0.01, 0.0],
            "hours_late": [0.0, 2.0],
        }
    )
    # 10 + 60*0.1 + 600*0.01 + 0 = 22 ; 20 + 0 + 0 + 30*2 = 80
    np.testing.assert_allclose(true_cost(o), [22.0, 80.0])


def test_busy_minutes_clip_to_window() -> None:
    o = pd.DataFrame({"worker": [0, 0, 1], "started": [-10.0, 50.0, 90.0], "finish": [20.0, 60.0, 200.0]})
    np.testing.assert_allclose(busy_minutes(o, 3, 0.0, 100.0), [20.0 + 10.0, 10.0, 0.0])


def test_shift_minutes_of_a_week_are_the_weekly_pattern(small_period) -> None:
    result = run_policy(small_period, LegacyPolicy(explore=False), drain=False)
    wf = result.workforce
    t0 = 123.0  # any 7-day window holds each weekly shift exactly once
    got = shift_minutes(result, t0, t0 + 7 * 1440)
    np.testing.assert_allclose(got, wf.work_days.sum(axis=1) * wf.shift_hours * 60.0)


def test_kpis_agree_with_the_simulator_summary(small_period) -> None:
    result = run_policy(small_period, LegacyPolicy(explore=False))
    o = task_outcomes(result)
    k = compute_kpis(result, o).values
    s = summarize(result, o)
    assert k["completed_share"] == 1.0
    assert k["mean_turnaround_h"] == pytest.approx(s["mean_turnaround_hours"])
    assert k["sla_attainment"] == pytest.approx(s["sla_met_share"])
    assert k["qa_pass_rate"] == pytest.approx(s["qa_pass_rate"])
    assert k["p90_turnaround_h"] >= k["mean_turnaround_h"] > 0
    parts = k["cost_minutes"] + k["cost_qa"] + k["cost_complaint"] + k["cost_late"]
    assert k["true_cost_per_task"] == pytest.approx(parts)
    assert k["true_cost_total"] == pytest.approx(parts * k["tasks"])
    util = compute_kpis(result, o).province_utilisation
    assert set(util) == {"P01", "P02", "P03", "P04"}
    assert all(0.0 < u < 1.5 for u in util.values())


def test_t_interval_matches_the_formula() -> None:
    iv = t_interval([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert t_interval([5.0]).low == t_interval([5.0]).high == 5.0


def test_paired_ratio_and_welch() -> None:
    r = paired_ratio([2.0, 4.0, 6.0], [4.0, 8.0, 12.0])
    assert r.estimate == pytest.approx(0.5) and r.low == pytest.approx(0.5) and r.high == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 40), rng.normal(0.0, 2.0, 25)
    w = welch_difference(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (w.low, w.high) == pytest.approx((ref.low, ref.high))


def test_bootstrap_interval_brackets_the_mean() -> None:
    x = np.random.default_rng(1).exponential(2.0, 200)
    iv = bootstrap_interval(x, seed=3)
    assert iv.low < x.mean() < iv.high and iv.method == "bootstrap"
