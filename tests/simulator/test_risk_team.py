"""The twin's risk team: capacity, one listing per customer per window, common random numbers, holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsmatch.contract import TABLES
from opsmatch.validation import validate_table
from simulator.arrivals import Arrivals
from simulator.clock import MINUTES_PER_DAY
from simulator.engine import SimResult
from simulator.risk_team import (
    TeamWork,
    daily_capacity,
    holdout_frame,
    interventions_frame,
    work_watchlist,
)
from simulator.scenario import ScenarioConfig, load_scenario


def team(
    config: ScenarioConfig, result: SimResult, outcomes: pd.DataFrame, arrivals: Arrivals, **kw: object
) -> TeamWork:
    return work_watchlist(config, outcomes, result.noise, len(arrivals.customers), 5, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def busy(small: ScenarioConfig) -> ScenarioConfig:
    """A bigger team (10 %) so that a 14-day replay has enough contacts to test with."""
    return small.model_copy(update={"risk_team": small.risk_team.model_copy(update={"capacity_share": 0.1})})


def test_default_capacity_is_three_percent_of_the_days_expected_arrivals() -> None:
    default = load_scenario("default")
    assert default.risk_team.capacity_share == 0.03 and default.risk_team.effect == 0.5
    assert default.risk_team.effect_days == 7
    monday = daily_capacity(default, 0)
    assert monday == round(0.03 * 3850 * 1.2)  # 139 on a Monday, ~120 on an average weekday
    weekdays = [daily_capacity(default, d) for d in range(5)]
    assert 110 <= np.mean(weekdays) <= 130


def test_team_works_to_capacity_and_lists_a_customer_once_per_window(
    busy, small_result, small_outcomes, small_arrivals
) -> None:
    w = team(busy, small_result, small_outcomes, small_arrivals)
    contacts = w.contacts
    per_day = contacts.groupby("day").size()
    assert len(per_day) >= 10
    for day, n in per_day.items():
        assert n <= w.capacity[day]
    assert (per_day == pd.Series(w.capacity)[per_day.index]).mean() > 0.8  # enough eligible customers
    log = w.log.sort_values("at")
    gaps = log.groupby("customer")["at"].diff().dropna()
    assert (gaps >= busy.risk_team.effect_days * MINUTES_PER_DAY).all()
    assert w.team_minutes == len(contacts) * busy.risk_team.minutes_per_contact
    # contacts happen during the team's working day, after the task they are about completed
    local_h = (contacts["at"] % MINUTES_PER_DAY) / 60
    assert local_h.between(9, 17).all()
    finish = small_outcomes["finish"].to_numpy()[contacts["task"].to_numpy()]
    assert (finish <= contacts["at"].to_numpy()).all()


def test_contacts_change_only_complaints_of_contacted_customers_in_their_window(
    busy, small_result, small_outcomes, small_arrivals
) -> None:
    base = small_outcomes
    none = team(busy, small_result, base, small_arrivals, effect=0.0)
    pd.testing.assert_series_equal(none.outcomes["complaint"], base["complaint"])
    w = team(busy, small_result, base, small_arrivals, effect=0.5)
    o = w.outcomes
    before, after = base["complaint"].astype(bool), o["complaint"].astype(bool)
    assert not (after & ~before).any()  # common random numbers: a contact only removes complaints
    changed = before & ~after
    assert changed.sum() > 0 and o.loc[changed, "contacted"].all()
    same = ~o["contacted"]
    pd.testing.assert_series_equal(o.loc[same, "complaint"], base.loc[same, "complaint"])
    np.testing.assert_allclose(
        o.loc[o["contacted"], "p_complaint"], 0.5 * base.loc[o["contacted"], "p_complaint"]
    )
    # a covered task's filing falls inside a contact window of its own customer
    contacts = w.contacts
    window = busy.risk_team.effect_days * MINUTES_PER_DAY
    for task in np.flatnonzero(o["contacted"].to_numpy())[:200]:
        mine = contacts[contacts["customer"] == o.at[task, "customer"]]["at"].to_numpy()
        filed = o.at[task, "filed_at"]
        assert ((mine <= filed) & (filed < mine + window)).any()
    full = team(busy, small_result, base, small_arrivals, effect=1.0)
    assert not full.outcomes.loc[full.outcomes["contacted"], "complaint"].astype(bool).any()


def test_model_ranked_list_prevents_more_than_a_random_one(
    busy, small_result, small_outcomes, small_arrivals
) -> None:
    random_ = team(busy, small_result, small_outcomes, small_arrivals)
    ranked = team(
        busy, small_result, small_outcomes, small_arrivals, scores=small_outcomes["p_complaint"].to_numpy()
    )
    assert abs(len(ranked.contacts) - len(random_.contacts)) <= 0.03 * len(random_.contacts)
    prevented = {
        name: small_outcomes["p_complaint"].sum() - w.outcomes["p_complaint"].sum()
        for name, w in (("random", random_), ("ranked", ranked))
    }
    assert prevented["ranked"] > 2 * prevented["random"] > 0


def test_holdout_is_marked_never_contacted_and_held_within_sampling_error(
    busy, small_result, small_outcomes, small_arrivals
) -> None:
    w = team(busy, small_result, small_outcomes, small_arrivals)
    held = w.log.groupby("customer")["holdout"].agg(["min", "max"])
    assert (held["min"] == held["max"]).all()  # a customer is held out for good or never
    share, n = float(held["max"].mean()), len(held)
    assert abs(share - busy.risk_team.holdout_share) < 4 * np.sqrt(0.1 * 0.9 / n)
    contacted = set(w.contacts["customer"])
    assert contacted.isdisjoint(set(w.log.loc[w.log["holdout"], "customer"]))


def test_interventions_rows_pass_the_contract(busy, small_result, small_outcomes, small_arrivals) -> None:
    w = team(busy, small_result, small_outcomes, small_arrivals)
    rows = interventions_frame(busy, small_arrivals, w, 5)
    assert len(rows) == len(w.contacts)
    known = {
        "customers": set(small_arrivals.customers["customer_id"]),
        "tasks": set(small_arrivals.tasks["task_id"]),
    }
    res = validate_table(
        TABLES["interventions"],
        rows,
        source="twin",
        known_keys=known,
        now=pd.Timestamp("2100-01-01", tz="UTC"),
    )
    assert res.problems.empty and len(res.accepted) == len(rows)
    assert set(rows["outcome"]) <= {"resolved", "no_answer", "escalated"}
    held = holdout_frame(busy, small_arrivals, w)
    assert len(held) == int(w.log["holdout"].sum())
    assert set(held["customer_id"]).isdisjoint(set(rows["customer_id"]))
