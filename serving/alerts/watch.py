"""What the monitor raises each sweep, with no client asking: grouped SLA / backlog incidents
(reconciled: what cleared resolves), high-risk incidents from the *current* complaint risk of the open
tasks (re-scored incrementally: a task whose age crossed a step of ``alerts.risk_step_hours`` or whose
state changed; the scoring itself is the service's, wait-aware through ``now``), the operating
indicators (every ``indicator_minutes`` of operation time, a service setting) and the expiry of
incidents no writer raises any more.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from serving.alerts import indicator_feed, indicators, rules
from serving.alerts.rules import Alert
from serving.alerts.store import Family
from serving.config import Policy
from serving.planning import reads as planning
from serving.protocols import TaskRecord
from serving.risk.reasons import tiers, top_reasons
from serving.tasks.lifecycle import TaskState

if TYPE_CHECKING:
    from opsmatch.settings import Settings
    from serving.runtime.context import Context

log = logging.getLogger(__name__)
MONITOR_KINDS = frozenset({"sla_overdue", "sla_near", "province_backlog", "redispatch_limit"})
RISK_BATCH = 5000  # tasks re-scored per sweep at most (the rest wait for the next one)


@dataclass(frozen=True)
class Scored:
    key: tuple[object, ...]  # what the score depends on: the age step and the task's state
    prob: float
    reasons: tuple[str, ...]


class AlertWatch:
    """The monitor's alert raising (one per engine; its caches are bounded by the open tasks)."""

    def __init__(self, engine: Context) -> None:
        self.engine = engine
        self.scored: dict[str, Scored] = {}
        self.rescored = 0  # tasks re-scored by the last sweep
        self.expectation: indicator_feed.Expectation = forecast_expectation(engine.settings)  # issue 25
        self._indicators_at: datetime | None = None
        self._lock = threading.Lock()

    def sweep(
        self,
        found: Sequence[Alert],
        states: Sequence[TaskState],
        tasks: Mapping[str, TaskRecord],
        now: datetime,
        policy: Policy,
    ) -> None:
        """Raise this sweep's incidents (``found``: the monitor's SLA / backlog / escalation alerts over
        every open task)."""
        store = self.engine.store
        typed = [
            replace(a, task_type=tasks[a.subject_id].task_type) if a.subject_id in tasks else a for a in found
        ]
        with self._lock:
            store.upsert_alerts(typed, now, family=Family(MONITOR_KINDS), writer="monitor")
            self._risk(states, tasks, now, policy)
            self._indicators(now, policy)
            store.alerts.expire(now)

    # -- current complaint risk -------------------------------------------------------------------
    def _risk(
        self, states: Sequence[TaskState], tasks: Mapping[str, TaskRecord], now: datetime, policy: Policy
    ) -> None:
        eng = self.engine
        if "complaint_pre" not in eng.runtime.scorer.versions():
            return  # no model yet: high-risk incidents stay as they are
        step = policy.alerts.risk_step_hours
        keys = {}
        for st in states:
            t = tasks[st.task_id]
            age = (now - t.created_at).total_seconds() / 3600.0
            keys[st.task_id] = (math.floor(age / step), st.status, st.since, st.assignments)
        self.scored = {i: v for i, v in self.scored.items() if i in keys}  # bounded by the open tasks
        todo = sorted((i for i, k in keys.items() if i not in self.scored or self.scored[i].key != k),
                      key=lambda i: (tasks[i].sla_due_at, i))[:RISK_BATCH]  # fmt: skip
        self.rescored = len(todo)
        if todo:
            try:
                records = eng.task_records(todo, [])
                scores = eng.runtime.scorer.complaint_risk(records, now=now)
            except Exception:  # noqa: BLE001 - the feature store or model failed: try again next sweep
                log.exception("monitor risk scoring failed")
                return
            why = top_reasons(scores.contributions, scores.feature_names) or [[] for _ in records]
            for r, p, reasons in zip(records, np.asarray(scores.prob, dtype=float), why, strict=True):
                self.scored[r.task_id] = Scored(keys[r.task_id], float(p), tuple(x.code for x in reasons))
        ids = sorted(self.scored)
        prob = np.array([self.scored[i].prob for i in ids], dtype=float)
        found = rules.high_risk_alerts(
            ids,
            [tasks[i].province_id for i in ids],
            prob,
            tiers(prob, policy.risk_tiers),
            [self.scored[i].reasons for i in ids],
            policy.alerts,
        )
        eng.store.upsert_alerts(found, now, family=Family(frozenset({"high_risk"})), writer="monitor")

    # -- operating indicators ---------------------------------------------------------------------
    def _indicators(self, now: datetime, policy: Policy) -> None:
        last, every = self._indicators_at, timedelta(minutes=self.engine.config.indicator_minutes)
        if last is not None and last <= now < last + every:
            return
        self._indicators_at = now
        rules_ = policy.alerts.indicators
        readings = indicator_feed.read(
            self.engine.settings,
            now,
            arrival_hours=rules_.arrivals.window_hours,
            mix_hours=rules_.surrender_share.window_hours,
            outcome_hours=rules_.sla_attainment.window_hours,
            complaint_hours=rules_.complaint_rate.window_hours,
            expectation=self.expectation,
        )
        kinds = frozenset(rules.INDICATORS)
        _, rows = self.engine.store.alerts.list(now, states=["open", "acked"], limit=100_000)
        active = {(r["kind"], r["province_id"]) for r in rows if r["kind"] in kinds}
        found = indicators.evaluate(readings, rules_, active)
        self.engine.store.upsert_alerts(found, now, family=Family(kinds), writer="monitor")


def forecast_expectation(settings: Settings) -> indicator_feed.Expectation:
    """The stored arrivals forecast's (expected, low, high) for a province and window, the interval of
    the window as a whole (``serving.planning.reads.window_band``); None before a forecast exists or outside
    its horizon (then the expected level is the same hour a week earlier)."""

    def expect(province: str, start: datetime, end: datetime) -> tuple[float, float, float] | None:
        return planning.window_band(settings, province, start, end)

    return expect
