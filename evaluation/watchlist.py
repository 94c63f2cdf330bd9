"""Dispatch plus a risk team on the twin: the watchlist policies of the A/B and the frontier.

- ``watchlist_random`` (the control): province-local FIFO dispatch; the team contacts customers in a
  random order at the same capacity.
- ``ml_watchlist_text``: the same, the list's P(complaint) updated by what each customer said before it
  was scored (``evaluation.voice_scores``, issue 27), and each prevented complaint counted by how likely
  it is to escalate (``evaluation.prevention_severity``).
- ``ml_watchlist``: the service's /rank dispatch (``MLRankingPolicy``); the team's list is ranked by
  expected complaints prevented, the served complaint model's P(complaint) of each completed task with
  the worker who did it x the effect, scored once, within the hour after the task completes, with the
  task record the service would build at that hour (no hidden truth).

``WatchlistPolicy`` wraps the dispatch policy and only adds hourly scoring ticks (the dispatch is the
inner policy's, untouched); the team itself works after the replay (``simulator.risk_team``), so the
same arrivals replay with and without contacts differ only by the contacts. ``frontier`` replays the
team on one replay for each capacity x effect.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from evaluation.alert_quality import RiskLists
from evaluation.prevention import holdout_units, uplift_figures
from evaluation.prevention_severity import EscalationShares
from evaluation.replay import EvalPeriod
from evaluation.task_features import sim_datetime
from evaluation.twin_service import ServingModels, TwinService, twin_policy
from evaluation.voice_scores import VoiceModels, replay_voice_scores
from simulator.clock import to_timestamps
from simulator.engine import SimResult
from simulator.outcomes import task_outcomes
from simulator.policies import Policy
from simulator.risk_team import TeamWork, holdout_frame, interventions_frame, work_watchlist
from simulator.state import DONE, SimView

SCORE_EVERY_MINUTES = 60.0
FRONTIER_CAPACITY: tuple[float, ...] = (0.01, 0.03, 0.10)
FRONTIER_EFFECT: tuple[float, ...] = (0.3, 0.5, 0.8)


class WatchlistPolicy(Policy):
    """``inner``'s dispatch, plus (with ``models``) the served P(complaint) of each completed task."""

    def __init__(
        self,
        inner: Policy,
        models: ServingModels | None = None,
        name: str = "watchlist",
        voice: VoiceModels | Callable[[], VoiceModels] | None = None,
        severity: Callable[[], EscalationShares] | None = None,
    ) -> None:
        self.inner, self.models, self.name, self.voice = inner, models, name, voice
        self.severity = severity
        self.tick_minutes = inner.tick_minutes or (SCORE_EVERY_MINUTES if models is not None else None)
        self._scores: np.ndarray | None = None
        self.lists: RiskLists | None = None  # the daily high-risk lists (evaluation.alert_quality)

    @property
    def ranked(self) -> bool:
        return self.models is not None

    def start(self, view: SimView, rng: random.Random) -> None:
        super().start(view, rng)
        self.inner.start(view, rng)
        self.view = view
        if self.models is None:
            return
        svc = getattr(self.inner, "svc", None)
        self.svc = (
            svc if isinstance(svc, TwinService) else TwinService(self.models, view, twin_policy(view.config))
        )
        self._scores = np.full(len(view.task_state), np.nan)
        self._scored_at = np.full(len(view.task_state), np.nan)
        self._next = view.now + SCORE_EVERY_MINUTES
        self.lists = RiskLists()

    def on_task(self, view: SimView, task: int) -> None:
        self.inner.on_task(view, task)

    def on_worker_free(self, view: SimView, worker: int) -> None:
        self.inner.on_worker_free(view, worker)

    def on_tick(self, view: SimView) -> None:
        if self.inner.tick_minutes:
            self.inner.on_tick(view)
        if self._scores is not None and view.now >= self._next:
            self._next = view.now + SCORE_EVERY_MINUTES
            self.score_done(view)
        if self.lists is not None and self.lists.due(view):
            self.lists.take(view, self.svc)

    def score_done(self, view: SimView) -> None:
        """Score the tasks completed since the last call (the served P(complaint) with their worker)."""
        assert self._scores is not None
        done = (np.asarray(view.task_state) == DONE) & np.isnan(self._scores)
        tasks = np.flatnonzero(done).tolist()
        if not tasks:
            return
        workers = [int(view.task_worker[t]) for t in tasks]
        rows = self.svc.sync(sorted(set(workers)))
        del rows
        recs = [self.svc.tasks.record(t) for t in tasks]
        pool_rows = self.svc.row[np.asarray(workers, dtype=np.int64)]
        scores = self.svc.scorer.score_pairs(
            recs, self.svc.pool, np.arange(len(recs), dtype=np.int64), pool_rows, now=sim_datetime(view)
        )
        self._scores[tasks] = np.asarray(scores.p_complaint, dtype=float)
        self._scored_at[tasks] = view.now

    def scores(self) -> np.ndarray | None:
        """Per-task served P(complaint) (NaN for tasks never scored), or None for a random list."""
        return None if self._scores is None else self._scores.copy()

    def ranked_scores(
        self, result: SimResult, outcomes: pd.DataFrame, *, words: bool = True, severity: bool = True
    ) -> np.ndarray | None:
        """What the team ranks by: the served P(complaint), updated by the customers' words before each
        task was scored when the policy has the text models (``evaluation.voice_scores``), each counted
        by how likely its complaint is to escalate (``evaluation.prevention_severity``: the customer's
        VIP flag and the task's lateness, known at completion) when the policy weighs severity."""
        s = self.scores()
        if s is None:
            return s
        if words and self.voice is not None:
            models = self.voice() if callable(self.voice) else self.voice  # loaded once the replay is done
            s = replay_voice_scores(models, result, outcomes, s, self._scored_at)
        if severity and self.severity is not None:
            vip = result.arrivals.customers["vip"].to_numpy(dtype=bool)[outcomes["customer"].to_numpy(int)]
            s = s * self.severity().weights(vip, outcomes["hours_late"].to_numpy(dtype=float))
        return s


def team_work(
    period: EvalPeriod,
    result: SimResult,
    policy: WatchlistPolicy,
    *,
    capacity_share: float | None = None,
    effect: float | None = None,
    outcomes: pd.DataFrame | None = None,
    scores: np.ndarray | None = None,
) -> TeamWork:
    """The risk team over one replay of a watchlist policy (the scenario's capacity and effect unless
    overridden; ``scores``: the ranking, else the policy's)."""
    o = task_outcomes(result) if outcomes is None else outcomes
    return work_watchlist(
        period.config,
        o,
        result.noise,
        len(period.arrivals.customers),
        period.seed,
        scores=policy.ranked_scores(result, o) if scores is None else scores,
        capacity_share=capacity_share,
        effect=effect,
    )


def voice_kpis(period: EvalPeriod, result: SimResult, policy: WatchlistPolicy) -> dict[str, float]:
    """The same replay's team with one ingredient of the list taken out, paired: without the words
    (``*_served_only``, with the text models) and without the severity weights (``*_unweighted``)."""
    if policy.scores() is None:
        return {}
    o = task_outcomes(result)
    out: dict[str, float] = {}
    taken_out = (("served_only", policy.voice, "words"), ("unweighted", policy.severity, "severity"))
    for suffix, present, drop in taken_out:
        if present is None:
            continue
        ranked = policy.ranked_scores(result, o, **{drop: False})
        done = team_work(period, result, policy, outcomes=o, scores=ranked).outcomes
        done = done[done["completed"].notna()]
        high = done["complaint"].astype(bool) & (done["severity"] == "high")
        out[f"complaint_rate_{suffix}"] = float(done["complaint"].astype(float).mean())
        out[f"escalated_rate_{suffix}"] = float(high.mean())
    return out


def team_kpis(work: TeamWork, window_days: float = 7.0) -> dict[str, float]:
    """The team's own figures: contacts per day, team minutes per day, share of listed rows held out, and
    the list's uplift on its holdout (``evaluation.prevention``: uplift@capacity, @30 %, Qini AUC)."""
    days = max(len([c for c in work.capacity.values() if c > 0]), 1)
    return {
        "risk_contacts_per_day": len(work.contacts) / days,
        "risk_team_minutes_per_day": work.team_minutes / days,
        "risk_holdout_share": float(work.log["holdout"].mean()) if len(work.log) else float("nan"),
        **uplift_figures(holdout_units(work.log, work.outcomes, window_days)),
    }


def frontier(
    period: EvalPeriod,
    result: SimResult,
    policy: WatchlistPolicy,
    capacities: Sequence[float] = FRONTIER_CAPACITY,
    effects: Sequence[float] = FRONTIER_EFFECT,
) -> list[dict[str, float]]:
    """Complaint and escalated-complaint rates (over completed tasks) for each capacity x effect."""
    o = task_outcomes(result)
    ranked = policy.ranked_scores(result, o)
    rows = []
    for cap in capacities:
        for eff in effects:
            w = team_work(period, result, policy, capacity_share=cap, effect=eff, outcomes=o, scores=ranked)
            done = w.outcomes[w.outcomes["completed"].notna()]
            rows.append(
                {
                    "capacity_share": cap,
                    "effect": eff,
                    "complaint_rate": float(done["complaint"].astype(float).mean()),
                    "escalated_rate": float(
                        (done["complaint"].astype(bool) & (done["severity"] == "high")).mean()
                    ),
                }
            )
    return rows


def field_log(period: EvalPeriod, work: TeamWork) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What the field would log of a replay with its risk team: ``interventions`` contract rows, the
    watchlist's held-out rows (customer_id, task_id, at) and the complaints (customer_id, filed_at)."""
    o = work.outcomes
    filed = o[o["complaint"].astype(bool) & o["started"].notna()]
    complaints = pd.DataFrame(
        {
            "customer_id": period.arrivals.customers["customer_id"].to_numpy()[
                filed["customer"].to_numpy(int)
            ],
            "filed_at": to_timestamps(period.config, filed["filed_at"].to_numpy(dtype=float)),
        }
    )
    return (
        interventions_frame(period.config, period.arrivals, work, period.seed),
        holdout_frame(period.config, period.arrivals, work),
        complaints,
    )
