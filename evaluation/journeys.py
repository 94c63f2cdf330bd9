"""Proactive return visits in the twin (issue 27, seed 002), measured with a randomised holdout.

Every day at ``start_hour`` (scenario clock) the centre walks the open break points -- journeys
abandoned in the last ``lookback_hours`` at least ``grace_minutes`` ago whose self-resumption the
journeys table does not show yet -- by the service's own rule, with the service's own functions
(``serving.risk.journeys``): P(still stuck | flow, step) from the journeys table of the last 28 days
(censored at the walk) x ``customer_risk`` of what the service would know: the served P(complaint) of
the customer's open tasks (``scores``, e.g. the ``complaint_pre`` champion's at intake, when the replay
has one), else the policy's ``base_risk``. The twin's hidden truth (``p_complaint``, who resumes later)
is never read by the walk: only by the measurement. It holds out the hashed ``holdout_share`` and visits
the others up to the day's capacity, spread over an 8-hour day. A visit completes a journey not resumed
yet with the scenario's hidden ``visit_completion`` (its own uniform: common random numbers), which ends
the abandonment's weight on the customer's complaints and the call they would have made.

Measured per walked break point, visited against held out (both random halves of the same list):
completion of the journey within ``window_days``, the customer's calls about it and complaints filed
in the ``window_days`` after the walk. The replay itself is the same with and without visits (the
visits' ~10 handler minutes each are not queued in it: 120 a day is 3 % of `default`'s arrivals), so
the complaints of the whole window with and without the visits are also compared pairwise (the twin's
counterfactual, beside the field estimate). ``journeys_arm`` is the A/B's entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from evaluation.contact_effect import rate_ratio_interval
from evaluation.stats import Interval, welch_difference
from opsmatch.contract import JOURNEY_FLOWS
from serving.config import Policy, default_policy
from serving.risk import journeys as rule
from simulator.clock import MINUTES_PER_DAY, to_timestamps
from simulator.engine import SimResult
from simulator.journeys import Journeys, complaint_uplift, generate_journeys, journeys_table

VISIT_DAY_HOURS = 8.0


@dataclass(frozen=True)
class VisitPlan:
    """The walked break points (``log``: journey, day, at, benefit, holdout) and each journey's visit
    time (NaN: not visited)."""

    log: pd.DataFrame
    visits: np.ndarray


def _rates(result: SimResult, jr: Journeys, at: float) -> dict[tuple[str, int], float]:
    """The service's P(still stuck | flow, step) at ``at``: the journeys table as the service holds it
    then (censored at ``at``), the journeys started in its last ``HISTORY_DAYS``."""
    cfg = result.config
    now = to_timestamps(cfg, np.array([at]))[0]
    table = journeys_table(cfg, result.arrivals, jr, at)
    recent = table[table["started_at"] >= now - pd.Timedelta(days=rule.HISTORY_DAYS)]
    return rule.stuck_rates(recent, now.to_pydatetime())


def _resumption_recorded(jr: Journeys) -> np.ndarray:
    """When the journeys table shows an abandoned journey's self-resumption completed (whole seconds,
    as ``journeys_table`` writes it; inf: never): the service's ``candidates`` drop it from then on."""
    steps_per = (jr.end - jr.start) / np.maximum(jr.step, 1)
    done = np.floor((jr.resume_at + jr.steps * steps_per) * 60) / 60
    return np.where(jr.abandoned, np.nan_to_num(done, nan=np.inf), np.inf)


def plan_visits(
    result: SimResult,
    outcomes: pd.DataFrame,
    jr: Journeys,
    *,
    capacity: int,
    holdout_share: float,
    scores: np.ndarray | None = None,
    warmup_days: int = 7,
    start_hour: float = 9.0,
    grace_minutes: float = 60.0,
    lookback_hours: float = 48.0,
    base_risk: float = 0.05,
) -> VisitPlan:
    """The centre's daily walk from day ``warmup_days`` on (see the module docstring). ``scores``: per
    task, the served P(complaint) the service holds for it from its intake on (NaN: not scored); None:
    no served model, every customer at ``base_risk``. From ``outcomes`` only the tasks' observable
    creation and finish times are read (which tasks are open at the walk)."""
    cust_ids = result.arrivals.customers["customer_id"].to_numpy()
    created = outcomes["created"].to_numpy(dtype=float)
    finish = np.nan_to_num(outcomes["finish"].to_numpy(dtype=float), nan=np.inf)
    served = np.full(len(outcomes), np.nan) if scores is None else np.asarray(scores, dtype=float)
    t_cust = outcomes["customer"].to_numpy(dtype=int)
    seen_resumed = _resumption_recorded(jr)
    visits = np.full(len(jr), np.nan)
    walked = np.zeros(len(jr), dtype=bool)
    rows = []
    last = int(np.ceil(result.end / MINUTES_PER_DAY))
    for day in range(warmup_days, last):
        at0 = day * MINUTES_PER_DAY + start_hour * 60
        if at0 >= result.end:
            break
        open_ = (
            jr.abandoned & ~walked & (jr.end <= at0 - grace_minutes) & (jr.end >= at0 - lookback_hours * 60)
        )
        idx = np.flatnonzero(open_ & (seen_resumed > at0))
        if not len(idx):
            continue
        live = (created <= at0) & (finish > at0) & np.isfinite(served)
        risk = rule.customer_risk(cust_ids[t_cust[live]], served[live])
        cands = pd.DataFrame(
            {
                "journey_id": [f"J{i}" for i in idx],
                "customer_id": cust_ids[jr.cust[idx]],
                "flow": np.asarray(JOURNEY_FLOWS)[jr.flow[idx]],
                "step_reached": jr.step[idx],
            }
        )
        picks = rule.walk(
            cands,
            _rates(result, jr, at0),
            risk,
            base_risk=base_risk,
            capacity=capacity,
            holdout_share=holdout_share,
        )
        n_visit = sum(not p.holdout for p in picks)
        k = 0
        for p in picks:
            j = int(p.journey["journey_id"][1:])
            walked[j] = True
            at = at0 + VISIT_DAY_HOURS * 60 * k / max(n_visit, 1)
            if not p.holdout:
                visits[j] = at
                k += 1
            rows.append((j, day, at, p.benefit, p.holdout))
    log = pd.DataFrame(rows, columns=["journey", "day", "at", "benefit", "holdout"])
    return VisitPlan(log, visits)


def apply_visits(result: SimResult, outcomes: pd.DataFrame, jr: Journeys, visits: np.ndarray) -> pd.DataFrame:
    """The outcomes with the visits' completions: the abandonments they resolved stop raising the
    complaint hazard from then on (same uniforms; only complaints of uplifted tasks can disappear)."""
    cfg = result.config
    bump = cfg.journeys.complaint_uplift
    resolved = jr.resolved_at(visits, cfg.journeys.visit_completion)
    filed = outcomes["filed_at"].to_numpy(dtype=float)
    up = complaint_uplift(cfg, jr, outcomes["customer"].to_numpy(dtype=int), filed, resolved)
    before = outcomes["journey_uplift"].to_numpy(dtype=bool)
    out = outcomes.copy()
    started = out["started"].notna().to_numpy()
    for col in ("p_complaint", "p_complaint_drawn"):
        p = np.clip(out[col].to_numpy(dtype=float), 1e-12, 1 - 1e-12)
        out[col] = np.where(started, expit(logit(p) - bump * before + bump * up), np.nan)
    drawn = result.noise[:, 2] < out["p_complaint_drawn"].to_numpy(dtype=float)
    out["complaint"] = np.where(started, drawn, False)
    out["journey_uplift"] = up
    return out


@dataclass(frozen=True)
class ArmFigures:
    units: int
    completed: float
    contacts: int
    complaints: int


@dataclass(frozen=True)
class ProactiveEffect:
    """Visited vs held out, and the window's complaints with vs without visits (paired, the twin)."""

    visited: ArmFigures
    held_out: ArmFigures
    completion_diff: Interval
    contact_ratio: tuple[float, float, float]
    complaint_ratio: tuple[float, float, float]
    complaints_with: int
    complaints_without: int


def _arm(units: pd.DataFrame, done: np.ndarray, calls: np.ndarray, complaints: np.ndarray) -> ArmFigures:
    return ArmFigures(
        len(units), float(done.mean()) if len(done) else float("nan"), int(calls.sum()), int(complaints.sum())
    )


def unit_outcomes(
    result: SimResult, outcomes: pd.DataFrame, jr: Journeys, plan: VisitPlan, window_days: float
) -> pd.DataFrame:
    """Per walked break point: holdout, completed within the window, the customer's calls about it and
    complaints filed in the window after the walk (units whose window ends after the replay: dropped)."""
    cfg = result.config
    w = window_days * MINUTES_PER_DAY
    log = plan.log[plan.log["at"] + w <= result.end]
    j = log["journey"].to_numpy(dtype=int)
    at = log["at"].to_numpy(dtype=float)
    resolved = jr.resolved_at(plan.visits, cfg.journeys.visit_completion)[j]
    calls = (jr.contact_at[j] >= at) & (jr.contact_at[j] < np.minimum(at + w, resolved))
    o = outcomes[outcomes["complaint"].to_numpy(dtype=bool)]
    filed = pd.DataFrame(
        {"cust": o["customer"].to_numpy(dtype=int), "f": o["filed_at"].to_numpy(dtype=float)}
    )
    units = pd.DataFrame({"unit": np.arange(len(j)), "cust": jr.cust[j], "at": at})
    pairs = units.merge(filed, on="cust")
    hit = pairs[(pairs["f"] >= pairs["at"]) & (pairs["f"] < pairs["at"] + w)]
    complaints = np.bincount(hit["unit"].to_numpy(dtype=int), minlength=len(j))
    return pd.DataFrame(
        {
            "holdout": log["holdout"].to_numpy(dtype=bool),
            "completed": resolved <= at + w,
            "calls": calls.astype(int),
            "complaints": complaints,
        }
    )


def proactive_effect(units: pd.DataFrame, complaints_with: int, complaints_without: int) -> ProactiveEffect:
    """The figures over ``units`` (e.g. pooled over seeds): differences and rate ratios with intervals."""
    t, c = units[~units["holdout"]], units[units["holdout"]]
    arms = [
        _arm(x, x["completed"].to_numpy(), x["calls"].to_numpy(), x["complaints"].to_numpy()) for x in (t, c)
    ]

    def ratio(col: str) -> tuple[float, float, float]:
        kt, kc = int(t[col].sum()), int(c[col].sum())
        est = (kt / max(len(t), 1)) / (kc / len(c)) if kc and len(c) else float("nan")
        lo, hi = rate_ratio_interval(kt, len(t), kc, len(c))
        return est, lo, hi

    return ProactiveEffect(
        visited=arms[0],
        held_out=arms[1],
        completion_diff=welch_difference(t["completed"].astype(float), c["completed"].astype(float)),
        contact_ratio=ratio("calls"),
        complaint_ratio=ratio("complaints"),
        complaints_with=complaints_with,
        complaints_without=complaints_without,
    )


def run_seed(
    result: SimResult,
    outcomes: pd.DataFrame,
    *,
    capacity: int,
    holdout_share: float,
    window_days: float = 7.0,
    scores: np.ndarray | None = None,
):
    """One replay: (units, complaints started in the measured days with visits, without visits)."""
    jr = generate_journeys(result.config, result.arrivals, result.seed)
    plan = plan_visits(result, outcomes, jr, capacity=capacity, holdout_share=holdout_share, scores=scores)
    treated = apply_visits(result, outcomes, jr, plan.visits)
    units = unit_outcomes(result, treated, jr, plan, window_days)
    started = outcomes["started"].notna().to_numpy()
    return (
        units,
        int(treated["complaint"].to_numpy(dtype=bool)[started].sum()),
        int(outcomes["complaint"].to_numpy(dtype=bool)[started].sum()),
    )


def journeys_arm(
    result: SimResult,
    outcomes: pd.DataFrame,
    *,
    scores: np.ndarray | None = None,
    policy: Policy | None = None,
) -> tuple[pd.DataFrame, VisitPlan]:
    """The proactive journeys of an A/B arm ("ML + watchlist + text + journeys"): ``(outcomes with the
    visits applied, the plan)``.

    ``result``/``outcomes``: the arm's replay and its ``task_outcomes``, before the watchlist's team
    works them (give the returned outcomes to the team, e.g. ``team_work(..., outcomes=...)``: both are
    common-random-number transformations, and the team lists customers by complaints not filed yet).
    ``scores``: per task, the served P(complaint) the service would hold from intake (NaN: unscored;
    None: every customer at the policy's ``base_risk``), never the twin's truth. ``policy``: its
    ``proactive`` block (daily capacity, holdout share, grace, lookback, base risk; default:
    ``serving/defaults.yaml``), applied whether or not it is ``enabled``. The plan's ``log`` holds the
    walked break points with their holdout flag, for ``unit_outcomes``/``proactive_effect``."""
    rules = (policy or default_policy()).proactive
    jr = generate_journeys(result.config, result.arrivals, result.seed)
    plan = plan_visits(
        result,
        outcomes,
        jr,
        capacity=rules.daily_capacity,
        holdout_share=rules.holdout_share,
        scores=scores,
        grace_minutes=rules.grace_minutes,
        lookback_hours=rules.lookback_hours,
        base_risk=rules.base_risk,
    )
    return apply_visits(result, outcomes, jr, plan.visits), plan
