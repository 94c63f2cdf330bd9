"""Proactive return visits, run by the service's monitor: the day's break points become ``return_visit``
tasks through the normal intake (queued, ranked, assigned, done like any task), within the policy's
daily capacity (``proactive`` in ``PUT /policy``), with a hashed holdout recorded in the audit.

Why the monitor and not a nightly job: an abandonment is worth most while the customer's intent is
fresh (seed 002 calls "before the customer contacts us"), the monitor already runs in exactly one
worker (the lease), and every step is idempotent -- the visit of journey J is task ``RV-J``, the day's
capacity is counted from the tasks stored since the day began (Beijing time) -- so a restart or a
second replica never visits a break point twice nor exceeds the capacity. From ``start_hour`` each
pass walks the open break points by predicted benefit (``serving.risk.journeys``) until the day's
capacity is used; later passes only find what broke off since. Off until the policy's
``proactive.enabled`` is set (``serving/defaults.yaml`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events
from serving.api import task_schemas as ls
from serving.risk import journeys as jr
from serving.tasks.lifecycle import HELD, WAITING

if TYPE_CHECKING:
    from serving.runtime.context import Context
    from serving.tasks.queue import TaskQueue

CENTRE_TZ = ZoneInfo("Asia/Shanghai")  # the national centre's calendar day
HISTORY_DAYS = jr.HISTORY_DAYS  # journeys the P(still stuck | flow, step) table is estimated on
ACTOR = "proactive"


@dataclass
class ProactiveRun:
    """What one pass did: return visits created (task ids), break points held out (journey ids)."""

    created: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)
    capacity_left: int = 0


def _read_journeys(ctx: Context, since: datetime) -> pd.DataFrame:
    """The journeys started since ``since`` (the time index: bounded by the window, not the history)."""
    t = es.SQL_TABLES["journeys"]
    cols = events.spec("journeys").columns
    us = int(pd.Timestamp(since).value // 1000)
    query = sa.select(*(t.c[c.name] for c in cols)).where(t.c.started_at >= us).order_by(t.c.seq)
    arrow = es.store_for(events.store_url(ctx.settings)).query_arrow(query)
    return events.typed_frame(list(cols), arrow)


def _count_visits(ctx: Context, since: datetime) -> int:
    t = es.SQL_TABLES["tasks"]
    us = int(pd.Timestamp(since).value // 1000)
    query = sa.select(sa.func.count()).select_from(t)
    query = query.where(t.c.created_at >= us, t.c.task_type == "return_visit", t.c.task_id.like("RV-%"))
    return int(es.store_for(events.store_url(ctx.settings)).scalar(query) or 0)


def _existing(ctx: Context, task_ids: list[str]) -> set[str]:
    t = es.SQL_TABLES["tasks"]
    store, out = es.store_for(events.store_url(ctx.settings)), set()
    for i in range(0, len(task_ids), 2000):
        query = sa.select(t.c.task_id).where(t.c.task_id.in_(task_ids[i : i + 2000]))
        out |= {str(r) for r in store.query_arrow(query).column(0).to_pylist()}
    return out


class ProactiveDesk:
    """The monitor's proactive pass (see the module docstring); ``rates`` cached per Beijing day."""

    def __init__(self, ctx: Context, queue: TaskQueue) -> None:
        self.ctx, self.queue = ctx, queue
        self._rates: tuple[object, dict[tuple[str, int], float]] | None = None

    def day_start(self, now: datetime) -> datetime:
        local = now.astimezone(CENTRE_TZ)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def rates(self, now: datetime) -> dict[tuple[str, int], float]:
        day = self.day_start(now).date()
        if self._rates is None or self._rates[0] != day:
            history = _read_journeys(self.ctx, now - timedelta(days=HISTORY_DAYS))
            self._rates = (day, jr.stuck_rates(history, now))
        return self._rates[1]

    def customer_risk(self) -> dict[str, float]:
        """Each customer's highest P(complaint) among their open scored tasks."""
        book = self.ctx.book
        scored = [st.task_id for st in book.states(WAITING | HELD) if st.task_id in book.risk]
        return jr.customer_risk(
            (book.light_record(t).customer_id for t in scored), (book.risk[t] for t in scored)
        )

    def held_before(self, since: datetime) -> frozenset[str]:
        rows = self.ctx.store.audit_entries("proactive", limit=500)
        return frozenset(j for r in rows if r["at"] >= since for j in r["detail"].get("held_out", []))

    def sweep(self) -> ProactiveRun:
        """One pass at the clock's now (nothing before ``start_hour`` or with the day's capacity used)."""
        ctx = self.ctx
        now = ctx.clock()
        rules = ctx.policy()[1].proactive
        day0 = self.day_start(now)
        if not rules.enabled or now.astimezone(CENTRE_TZ).hour < rules.start_hour:
            return ProactiveRun()
        left = rules.daily_capacity - _count_visits(ctx, day0)
        if left <= 0:
            return ProactiveRun(capacity_left=max(left, 0))
        window = _read_journeys(ctx, now - timedelta(hours=rules.lookback_hours + 24))
        cands = jr.candidates(window, now, rules.grace_minutes, rules.lookback_hours)
        if not len(cands):
            return ProactiveRun(capacity_left=left)
        ids = [f"{jr.TASK_PREFIX}{j}" for j in cands["journey_id"]]
        done = {t[len(jr.TASK_PREFIX) :] for t in _existing(ctx, ids)}
        held = self.held_before(now - timedelta(hours=rules.lookback_hours))
        picks = jr.walk(
            cands,
            self.rates(now),
            self.customer_risk(),
            base_risk=rules.base_risk,
            capacity=left,
            holdout_share=rules.holdout_share,
            skip=frozenset(done) | held,
        )
        visits = [p for p in picks if not p.holdout]
        run = ProactiveRun(held_out=[p.journey["journey_id"] for p in picks if p.holdout])
        if visits:
            rows = [jr.visit_task(p.journey, now, rules.sla_hours) for p in visits]
            notes = {
                r["task_id"]: jr.guidance(
                    p.journey["flow"], int(p.journey["step_reached"]), int(p.journey["steps"])
                )
                for r, p in zip(rows, visits, strict=True)
            }
            self.queue.intake(ls.TasksIn(tasks=[ls.TaskIn(**r) for r in rows]), actor=ACTOR, notes=notes)
            run.created = [r["task_id"] for r in rows]
        run.capacity_left = left - len(run.created)
        if run.created or run.held_out:
            detail = {
                "created": run.created,
                "held_out": run.held_out,
                "benefit": {p.journey["journey_id"]: round(p.benefit, 6) for p in picks},
                "capacity": rules.daily_capacity,
            }
            ctx.store.audit("proactive", ACTOR, None, detail, now)
        return run
