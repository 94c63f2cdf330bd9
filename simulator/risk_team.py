"""The risk team on the twin: each day it works a watchlist of customers, and a contact cuts the
complaint hazard of the contacted customer for the days after it.

A post-hoc, common-random-numbers transformation of a replay's outcomes (``outcomes.apply_contacts``):
the same arrivals, dispatch and per-task noise, with and without contacts, differ only by the
contacts. Every day at the team's start hour (scenario clock) the team lists the customers with a task
completed in the last ``lookback_days`` whose complaint is not filed yet and who were not listed in the
last ``effect_days``, ranks them by their score (the sum over those tasks of the given per-task scores,
e.g. the served model's P(complaint), x effect: the expected complaints prevented; random order
without scores) and walks the ranking: a held-out customer (a fixed random ``holdout_share`` of the
customers, marked) is logged at the time a contact would have been made and left alone; the others
are contacted, up to the day's capacity (``capacity_share`` x the day's expected national arrivals),
spread evenly over the team's working day. A contact at ``t`` cuts the hazard of every complaint of
the customer that would be filed in ``[t, t + effect_days)`` by ``effect``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsmatch.contract import INTERVENTION_OUTCOMES
from simulator.arrivals import Arrivals
from simulator.clock import MINUTES_PER_DAY, to_timestamps
from simulator.outcomes import apply_contacts
from simulator.scenario import ScenarioConfig

RISK_STREAM = 61
ACTOR = "twin-risk-team"


@dataclass(frozen=True)
class TeamWork:
    """What the team did: the walked watchlist rows and the outcomes with the contacts applied.

    ``log``: one row per listed customer walked (day, at, rank, customer, task = its top task, score,
    holdout); contacts are the rows with ``holdout`` False."""

    log: pd.DataFrame
    outcomes: pd.DataFrame
    capacity: dict[int, int]
    effect: float
    minutes_per_contact: float

    @property
    def contacts(self) -> pd.DataFrame:
        return self.log[~self.log["holdout"]]

    @property
    def team_minutes(self) -> float:
        return float(len(self.contacts) * self.minutes_per_contact)


def daily_capacity(config: ScenarioConfig, day: int, share: float | None = None) -> int:
    """Contacts the team makes on simulation ``day``: share x the day's expected national arrivals."""
    share = config.risk_team.capacity_share if share is None else share
    weekday = (config.start.weekday() + day) % 7
    expected = config.demand.tasks_per_day * config.demand.weekday_factor[weekday]
    return int(round(share * expected))


def work_watchlist(
    config: ScenarioConfig,
    outcomes: pd.DataFrame,
    noise: np.ndarray,
    n_customers: int,
    seed: int,
    *,
    scores: np.ndarray | None = None,
    capacity_share: float | None = None,
    effect: float | None = None,
) -> TeamWork:
    """Run the team over every day from the first completion to the last would-be filing (see the
    module docstring). ``scores`` per task (NaN: unknown, filled with the median) rank the list; without
    them the order is random (the control). ``capacity_share``/``effect`` override the scenario's."""
    rt = config.risk_team
    effect = rt.effect if effect is None else float(effect)
    rng = np.random.default_rng([seed, RISK_STREAM])
    holdout = rng.random(n_customers) < rt.holdout_share
    started = outcomes["started"].notna().to_numpy()
    finish = np.where(started, outcomes["finish"].to_numpy(dtype=float), np.inf)
    filed = np.where(started, outcomes["filed_at"].to_numpy(dtype=float), np.inf)
    cust = outcomes["customer"].to_numpy(dtype=int)
    p = np.nan_to_num(outcomes["p_complaint_drawn"].to_numpy(dtype=float))
    u = noise[:, 2]
    if scores is None:
        s = None
    else:
        s = np.asarray(scores, dtype=float)
        fill = np.nanmedian(s) if np.isfinite(s).any() else 0.0
        s = np.where(np.isfinite(s), s, fill) * effect
    scale = np.ones(len(outcomes))
    listed_until = np.full(n_customers, -np.inf)
    window, lookback = rt.effect_days * MINUTES_PER_DAY, rt.lookback_days * MINUTES_PER_DAY
    by_cust = pd.Series(np.arange(len(cust))).groupby(cust).indices
    rows: list[tuple] = []
    capacity: dict[int, int] = {}
    if not started.any():
        return TeamWork(
            _log(rows),
            apply_contacts(outcomes, noise, np.zeros(len(cust), bool), effect),
            {},
            effect,
            rt.minutes_per_contact,
        )
    first = int(np.min(finish[started]) // MINUTES_PER_DAY)
    last = int(np.max(finish[started]) // MINUTES_PER_DAY) + int(np.ceil(rt.lookback_days)) + 1
    for day in range(first, last + 1):
        at0 = day * MINUTES_PER_DAY + rt.workday_start_hour * 60
        cap = daily_capacity(config, day, capacity_share)
        capacity[day] = cap
        if cap <= 0:
            continue
        complained = (u < p * scale) & (filed < at0)
        elig = (finish <= at0) & (finish > at0 - lookback) & ~complained
        elig &= listed_until[cust] <= at0
        idx = np.flatnonzero(elig)
        if not len(idx):
            continue
        who = np.unique(cust[idx])
        if s is None:
            score = rng.random(len(who))
        else:
            score = np.bincount(cust[idx], weights=s[idx], minlength=n_customers)[who]
        order = who[np.lexsort((rng.random(len(who)), -score))]
        score_of = dict(zip(who.tolist(), score.tolist(), strict=True))
        held = holdout[order]
        n_walk = int(np.searchsorted(np.cumsum(~held), cap) + 1) if (~held).sum() >= cap else len(order)
        walked = order[:n_walk]
        times = at0 + rt.workday_hours * 60 * np.arange(n_walk) / max(n_walk, 1)
        for rank, (c, t) in enumerate(zip(walked.tolist(), times.tolist(), strict=True)):
            own = idx[cust[idx] == c]
            top = int(own[np.argmax(s[own])]) if s is not None else int(own[0])
            rows.append((day, t, rank + 1, c, top, score_of[c], bool(holdout[c])))
            listed_until[c] = t + window
            if not holdout[c]:
                mine = by_cust[c]
                hit = mine[(filed[mine] >= t) & (filed[mine] < t + window)]
                scale[hit] = 1.0 - effect
    covered = scale < 1.0
    return TeamWork(
        _log(rows), apply_contacts(outcomes, noise, covered, effect), capacity, effect, rt.minutes_per_contact
    )


def _log(rows: list[tuple]) -> pd.DataFrame:
    cols = ["day", "at", "rank", "customer", "task", "score", "holdout"]
    return pd.DataFrame(rows, columns=cols).astype({"holdout": bool})


def interventions_frame(
    config: ScenarioConfig, arrivals: Arrivals, work: TeamWork, seed: int
) -> pd.DataFrame:
    """The contacts as ``interventions`` contract rows (proactive; outcome labels drawn from the
    scenario's descriptive shares: they carry no effect of their own)."""
    c = work.contacts
    rng = np.random.default_rng([seed, RISK_STREAM, 1])
    shares = np.asarray(config.risk_team.outcome_shares, dtype=float)
    outcome = rng.choice(len(INTERVENTION_OUTCOMES), size=len(c), p=shares / shares.sum())
    return pd.DataFrame(
        {
            "intervention_id": [f"I{seed:03d}-{i + 1:06d}" for i in range(len(c))],
            "customer_id": arrivals.customers["customer_id"].to_numpy()[c["customer"].to_numpy(dtype=int)],
            "task_id": arrivals.tasks["task_id"].to_numpy()[c["task"].to_numpy(dtype=int)],
            "at": to_timestamps(config, c["at"].to_numpy(dtype=float)),
            "kind": "proactive",
            "outcome": np.asarray(INTERVENTION_OUTCOMES)[outcome],
            "note": [f"watchlist rank {r}" for r in c["rank"]],
            "actor": ACTOR,
        }
    )


def holdout_frame(config: ScenarioConfig, arrivals: Arrivals, work: TeamWork) -> pd.DataFrame:
    """The held-out customers the team passed over: customer_id, task_id, at (when it would have called)."""
    h = work.log[work.log["holdout"]]
    return pd.DataFrame(
        {
            "customer_id": arrivals.customers["customer_id"].to_numpy()[h["customer"].to_numpy(dtype=int)],
            "task_id": arrivals.tasks["task_id"].to_numpy()[h["task"].to_numpy(dtype=int)],
            "at": to_timestamps(config, h["at"].to_numpy(dtype=float)),
        }
    )
