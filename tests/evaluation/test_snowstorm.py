"""Emergency scenario: re-dispatch figures on a hand-built case and on the twin."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.ab import evaluate_policies
from evaluation.replay import evaluation_period
from evaluation.snowstorm import place_storm, redispatch

NAN = np.nan


def _case(t0_worker: int) -> dict[str, float]:
    # Workers 0, 1 in province 0; worker 2 in province 1. Storm in province 0 at minute 10.
    # t0: prov 0, created 0, waiting at the event.  t1: prov 0, queued at worker 0 at 6, handed back.
    # t2: prov 0, created after the event.  t3: prov 1.  t4: prov 0, started before the event.
    task_province = np.array([0, 0, 0, 1, 0])
    created = np.array([0.0, 5.0, 12.0, 0.0, 1.0])
    started = np.array([30.0, 10.0, 31.0, 0.0, 3.0])
    log = [(3, 2, 0.0), (4, 0, 1.0), (1, 0, 6.0), (1, 2, 10.0), (0, t0_worker, 25.0), (2, 2, 30.0)]
    task, worker, at = (np.array(c) for c in zip(*log, strict=True))
    return redispatch(task, worker, at, task_province, created, started, np.array([0, 0, 1]), 0, 10.0)


def test_redispatch_time_is_until_the_last_pending_task_left() -> None:
    out = _case(t0_worker=2)
    assert out["pending_at_event"] == 2  # t0 and t1 (t2 came later, t4 had started)
    assert out["redispatched"] == 2 and out["stranded"] == 0
    assert out["redispatch_minutes"] == pytest.approx(15.0)
    assert out["all_redispatched"] == 1.0


def test_nothing_pending_means_nothing_to_redispatch() -> None:
    out = redispatch(
        np.array([0]),
        np.array([0]),
        np.array([0.0]),
        np.array([0]),
        np.array([0.0]),
        np.array([1.0]),
        np.array([0]),
        0,
        10.0,
    )
    assert out["pending_at_event"] == 0 and out["redispatch_minutes"] == 0 and out["all_redispatched"] == 1


def test_a_task_left_to_its_own_province_is_stranded() -> None:
    out = _case(t0_worker=1)
    assert out["redispatched"] == 1 and out["stranded"] == 1
    assert out["redispatch_minutes"] == pytest.approx(0.0)  # only t1, re-dispatched at the event
    assert out["all_redispatched"] == 0.0


def test_storm_is_placed_in_the_period_on_the_scenario_weekday(small_history) -> None:
    period = evaluation_period(small_history, days=4, seed=1)
    storm = place_storm(period)
    assert storm.province == "P02" and storm.hour == 12 and storm.duration_hours == 48
    assert period.arrivals.start_day < storm.day < period.arrivals.start_day + 4
    assert storm.day % 7 == 9 % 7  # the snowstorm scenario's day 9 is a Wednesday
    assert storm.end_minute - storm.start_minute == 48 * 60
    closes = storm.policy_changes()
    assert closes[0] == (storm.start_minute, {"provinces": {"P02": {"closed": True}}})
    assert closes[1][1] == {"provinces": {"P02": {"closed": False}}}


def test_snowstorm_local_fifo_strands_and_national_redispatches(small_history) -> None:
    report = evaluate_policies(
        small_history,
        scenario="snowstorm",
        days=4,
        seeds=(1,),
        policies=["legacy_fifo", "national_least_busy"],
    )
    s = report.snowstorm.summary().set_index("policy")
    assert s.loc["legacy_fifo", "pending_at_event"] > 0
    assert s.loc["legacy_fifo", "stranded"] == s.loc["legacy_fifo", "pending_at_event"]
    assert s.loc["national_least_busy", "all_redispatched_share"] == 1.0
    assert s.loc["national_least_busy", "stranded"] == 0
    assert 0 <= s.loc["national_least_busy", "redispatch_minutes"] < 24 * 60
    assert s.loc["legacy_fifo", "national_sla_delta"] <= 0
    runs = report.snowstorm.runs
    assert (runs["sla_delta"] == runs["sla_storm"] - runs["sla_base"]).all()
