"""What the monitor raises each sweep, with no client asking: grouped SLA / backlog incidents
(reconciled: what cleared resolves), high-risk incidents from the *current* complaint risk of the open
tasks (re-scored incrementally, ``serving.risk.cache``: a task whose wait crossed a step of
``alerts.risk_step_hours`` of age or past its SLA, or whose record changed; reasons for the alerted
tasks only; the scoring itself is the service's, wait-aware through ``now``), the operating
indicators (every ``indicator_minutes`` of operation time, a service setting) and the expiry of
incidents no writer raises any more.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from serving.alerts import indicator_feed, indicators, rules
from serving.alerts.rules import Alert
from serving.alerts.store import Family
from serving.config import Policy
from serving.matching.eligibility import pool_availability
from serving.planning import reads as planning
from serving.protocols import TaskRecord
from serving.risk.open_tasks import open_records
from serving.risk.reasons import tiers
from serving.tasks.lifecycle import WAITING, TaskState

if TYPE_CHECKING:
    from opsmatch.settings import Settings
    from serving.runtime.context import Context

log = logging.getLogger(__name__)
MONITOR_KINDS = frozenset({"sla_overdue", "sla_near", "province_backlog", "redispatch_limit"})


class AlertWatch:
    """The monitor's alert raising (one per engine; its caches are bounded by the open tasks)."""

    def __init__(self, engine: Context) -> None:
        self.engine = engine
        self.cache = engine.risk_cache  # the open tasks' current risk, shared with the watchlist
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
            typed += self._held_backlogs(typed, states, tasks, now, policy)
            store.upsert_alerts(typed, now, family=Family(MONITOR_KINDS), writer="monitor")
            self._risk(states, tasks, now, policy)
            self._indicators(now, policy)
            store.alerts.expire(now)

    # -- backlog hysteresis -----------------------------------------------------------------------
    def _held_backlogs(
        self,
        found: Sequence[Alert],
        states: Sequence[TaskState],
        tasks: Mapping[str, TaskRecord],
        now: datetime,
        policy: Policy,
    ) -> list[Alert]:
        """The open backlog incidents of provinces below the raise level this sweep and not yet below the
        clear band, raised again (``rules.backlog_alerts`` with ``active``); the others resolve."""
        raised = {a.province_id for a in found if a.kind == "province_backlog"}
        _, rows = self.engine.store.alerts.list(
            now, states=["open", "acked"], kind="province_backlog", limit=100_000
        )
        held = {str(r["province_id"]) for r in rows if r["province_id"]} - raised
        if not held:
            return []
        waiting = (
            tasks[st.task_id].province_id for st in states if st.status in WAITING and st.task_id in tasks
        )
        pending = Counter(p for p in waiting if p in held)
        eng = self.engine
        pool = eng.runtime.profiles.snapshot()
        on = pool_availability(pool, now, eng.config.status_ttl_seconds).on_shift & pool.active
        staff = Counter(pool.province_ids[on].astype(str).tolist())
        return rules.backlog_alerts(pending, staff, policy.alerts, active=held)

    # -- current complaint risk -------------------------------------------------------------------
    def _risk(
        self, states: Sequence[TaskState], tasks: Mapping[str, TaskRecord], now: datetime, policy: Policy
    ) -> None:
        eng = self.engine
        scorer = eng.runtime.scorer
        if "complaint_pre" not in scorer.versions() or not self.cache.settled.is_set():
            return  # no model yet, or the start-up warm-up scores them now: the incidents stay as they are
        step = policy.alerts.risk_step_hours
        ids = sorted(st.task_id for st in states if st.task_id in tasks)
        try:
            records = open_records(eng, ids)
            prob = self.cache.scores(scorer, records, now, step, complete=True)
            self.rescored = self.cache.rescored
            tier = tiers(prob, policy.risk_tiers)
            wanted = {"high"} if policy.alerts.high_risk_tier == "high" else {"high", "medium"}
            alerted = [i for i, t in enumerate(tier) if t in wanted]
            why = self.cache.reasons(scorer, [records[i] for i in alerted], now, step, reword=False)
        except Exception:  # noqa: BLE001 - the feature store or model failed: try again next sweep
            log.exception("monitor risk scoring failed")
            return
        codes: list[tuple[str, ...]] = [() for _ in records]
        for i, reasons in zip(alerted, why, strict=True):
            codes[i] = tuple(x.code for x in reasons)
        found = rules.high_risk_alerts(
            [r.task_id for r in records], [r.province_id for r in records], prob, tier, codes, policy.alerts
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
