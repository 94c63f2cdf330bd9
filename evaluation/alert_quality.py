"""Alert quality in the twin: the high-risk list ranked by current risk against one ranked at intake.

Once a day (at ``LIST_MINUTE`` of the replay's UTC day) the open tasks are scored by the served
``complaint_pre`` champion twice: at their wait now (what the service's risk alerts and watchlist rank
on) and as they were at intake (age 0, the whole SLA ahead: the ranking of a risk frozen at arrival).
Each list holds the team's daily capacity of customers (``simulator.risk_team.daily_capacity``), ranked
by P(at least one complaint) over their open tasks. Precision at capacity: the share of listed customers
who filed a complaint within ``HORIZON_DAYS`` after the list. It is measured on the replay's own
outcomes, before the team's contacts are applied (``simulator.risk_team`` works after the replay): every
customer is held out from contact, so the figure says which list finds the customers about to complain.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from evaluation.task_features import sim_datetime
from evaluation.twin_service import TwinService
from simulator.risk_team import daily_capacity
from simulator.scenario import ScenarioConfig
from simulator.state import DONE, NOT_ARRIVED, SimView

LIST_MINUTE = 9 * 60  # the list is drawn at 09:00 UTC each simulated day
HORIZON_DAYS = 7.0
COLUMNS = ["day", "at", "task", "customer", "p_now", "p_intake"]


class RiskLists:
    """The open tasks' current and intake-time P(complaint), taken once a simulated day."""

    def __init__(self) -> None:
        self.rows: list[pd.DataFrame] = []
        self.next_minute = float(LIST_MINUTE)

    def due(self, view: SimView) -> bool:
        return view.now >= self.next_minute

    def take(self, view: SimView, svc: TwinService) -> None:
        """Score the open tasks now and at intake; the next list is due a day later."""
        day = int(self.next_minute // 1440)
        self.next_minute += 1440.0
        state = np.asarray(view.task_state)
        tasks = np.flatnonzero((state != DONE) & (state != NOT_ARRIVED)).tolist()
        if not tasks:
            return
        now = sim_datetime(view)
        records = [svc.tasks.record(t) for t in tasks]
        sla = [r.sla_due_at - r.created_at for r in records]
        at_intake = [
            replace(r, created_at=now, sla_due_at=now + d) for r, d in zip(records, sla, strict=True)
        ]
        p_now = svc.scorer.complaint_risk(records, now=now, contributions=False).prob
        p_intake = svc.scorer.complaint_risk(at_intake, now=now, contributions=False).prob
        customers = view.arrivals.tasks["cust"].to_numpy()[tasks]
        self.rows.append(
            pd.DataFrame(
                {
                    "day": day,
                    "at": float(view.now),
                    "task": tasks,
                    "customer": customers,
                    "p_now": np.asarray(p_now, dtype=float),
                    "p_intake": np.asarray(p_intake, dtype=float),
                }
            )  # fmt: skip
        )

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.rows, ignore_index=True) if self.rows else pd.DataFrame(columns=COLUMNS)


def _listed(day_rows: pd.DataFrame, column: str, capacity: int) -> np.ndarray:
    """The ``capacity`` customers of one day's open tasks with the highest P(at least one complaint)."""
    log_none = np.log1p(-np.clip(day_rows[column].to_numpy(dtype=float), 0.0, 1.0 - 1e-12))
    p_any = 1.0 - np.exp(pd.Series(log_none).groupby(day_rows["customer"].to_numpy()).sum())
    ranked = p_any.sort_values(ascending=False, kind="stable")  # ties: customer order (stable)
    return ranked.index.to_numpy()[:capacity]


def alert_precision(
    lists: pd.DataFrame,
    outcomes: pd.DataFrame,
    config: ScenarioConfig,
    horizon_days: float = HORIZON_DAYS,
    capacity_share: float | None = None,
) -> dict[str, float]:
    """Precision at capacity of the current-risk and the intake-risk lists over the replay's days
    (``outcomes``: ``simulator.outcomes.task_outcomes``, before contacts)."""
    out = {"alert_precision_now": float("nan"), "alert_precision_intake": float("nan"), "alerted": 0.0}
    if not len(lists):
        return out
    filed = outcomes[outcomes["complaint"].astype(bool)][["customer", "filed_at"]]
    hits = {"p_now": 0, "p_intake": 0}
    listed = 0
    for day, rows in lists.groupby("day", sort=True):
        capacity = daily_capacity(config, int(day), capacity_share)
        at = float(rows["at"].iloc[0])
        window = filed[(filed["filed_at"] > at) & (filed["filed_at"] <= at + horizon_days * 1440)]
        complained = set(window["customer"].astype(int))
        for column in hits:
            chosen = _listed(rows, column, capacity)
            hits[column] += sum(int(c) in complained for c in chosen)
        listed += min(capacity, rows["customer"].nunique())
    if listed:
        out.update(
            alert_precision_now=hits["p_now"] / listed,
            alert_precision_intake=hits["p_intake"] / listed,
            alerted=float(listed),
        )
    return out
