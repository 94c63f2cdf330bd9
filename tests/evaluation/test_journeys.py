"""Proactive return visits in the twin (issue 27): the holdout is honoured, the capacity holds, the walk
ranks on what the service knows (never the twin's truth), and a visit can only resolve a journey and
take complaints away."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.journeys import apply_visits, journeys_arm, plan_visits, proactive_effect, unit_outcomes
from serving.config import default_policy, merge_policy
from serving.risk.journeys import held_out
from simulator.arrivals import generate_arrivals
from simulator.engine import simulate
from simulator.journeys import generate_journeys
from simulator.outcomes import task_outcomes
from simulator.policies import LegacyPolicy
from simulator.scenario import ScenarioConfig

CAPACITY, HOLDOUT = 12, 0.25


@pytest.fixture(scope="module")
def replay(small: ScenarioConfig):  # noqa: ANN201
    res = simulate(small, generate_arrivals(small, 21, 5), LegacyPolicy(explore=True), 5)
    out = task_outcomes(res)
    jr = generate_journeys(small, res.arrivals, 5)
    return res, out, jr, plan_visits(res, out, jr, capacity=CAPACITY, holdout_share=HOLDOUT)


def test_the_holdout_is_honoured_and_the_capacity_holds(replay) -> None:  # noqa: ANN001
    res, out, jr, plan = replay
    log = plan.log
    assert log["holdout"].any() and (~log["holdout"]).any()
    ids = [f"J{j}" for j in log["journey"]]
    assert [held_out(i, HOLDOUT) for i in ids] == log["holdout"].tolist()  # the service's hash decides
    assert np.isnan(plan.visits[log.loc[log["holdout"], "journey"]]).all()  # never visited
    visited = log.loc[~log["holdout"], "journey"].to_numpy()
    assert np.isfinite(plan.visits[visited]).all() and np.isfinite(plan.visits).sum() == len(visited)
    assert log[~log["holdout"]].groupby("day").size().max() == CAPACITY  # the day's visits, at most
    assert log["journey"].is_unique and jr.abandoned[log["journey"]].all()
    assert (log["day"] >= 7).all()  # after the warm-up that the stuck rates are estimated on


def test_visits_only_resolve_journeys_and_take_complaints_away(replay) -> None:  # noqa: ANN001
    res, out, jr, plan = replay
    treated = apply_visits(res, out, jr, plan.visits)
    before, after = out["complaint"].to_numpy(dtype=bool), treated["complaint"].to_numpy(dtype=bool)
    assert (after <= before).all() and after.sum() < before.sum()
    same = apply_visits(res, out, jr, np.full(len(jr), np.nan))  # no visit: the outcomes as they were
    assert np.array_equal(same["complaint"].to_numpy(dtype=bool), before)
    units = unit_outcomes(res, treated, jr, plan, 7.0)
    eff = proactive_effect(units, int(after.sum()), int(before.sum()))
    assert eff.visited.completed > eff.held_out.completed  # the visit completes journeys
    assert eff.completion_diff.low > 0 and eff.contact_ratio[0] < 1


def test_the_walk_ranks_on_served_scores_not_on_the_truth(replay) -> None:  # noqa: ANN001
    res, out, jr, plan = replay
    rng = np.random.default_rng(0)
    lied = out.copy()
    for col in ("p_complaint", "p_complaint_drawn"):  # another truth: the same walk
        lied[col] = rng.permutation(lied[col].to_numpy())
    again = plan_visits(res, lied, jr, capacity=CAPACITY, holdout_share=HOLDOUT)
    assert again.log.equals(plan.log) and np.array_equal(again.visits, plan.visits, equal_nan=True)
    served = np.where(out["customer"].to_numpy() % 2 == 0, 0.9, np.nan)  # a served score, half the tasks
    steered = plan_visits(res, out, jr, capacity=CAPACITY, holdout_share=HOLDOUT, scores=served)
    assert not steered.log.equals(plan.log)  # the served risk moves customers up the walk
    raised = steered.log[steered.log["benefit"] > 0.05]  # above P(stuck) x base_risk: a served score
    assert len(raised) and (jr.cust[raised["journey"].to_numpy()] % 2 == 0).all()
    assert (steered.log.groupby("day")["benefit"].diff().dropna() <= 0).all()  # walked by benefit


def test_the_ab_arm_walks_with_the_policy_and_only_takes_complaints_away(replay) -> None:  # noqa: ANN001
    res, out, _, _ = replay
    policy = merge_policy(
        default_policy(), {"proactive": {"daily_capacity": CAPACITY, "holdout_share": HOLDOUT}}
    )
    treated, plan = journeys_arm(res, out, policy=policy)
    assert plan.log[~plan.log["holdout"]].groupby("day").size().max() <= CAPACITY
    before, after = out["complaint"].to_numpy(dtype=bool), treated["complaint"].to_numpy(dtype=bool)
    assert (after <= before).all() and after.sum() < before.sum()
