"""The operating indicators' inputs per province, read from the event store as SQL aggregates over
bounded recent windows (an index range on each table's time column): memory is one row per province,
whatever the history holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events

if TYPE_CHECKING:
    from opsmatch.settings import Settings

# (province, start, end) -> (expected arrivals, interval low, interval high), or None: the forecast's
# hook (issue 25); without it the expected level is the same hour a week earlier.
Expectation = Callable[[str, datetime, datetime], tuple[float, float, float] | None]


@dataclass
class Readings:
    """Counts per province over each indicator's window."""

    arrivals: dict[str, int] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)
    expected_band: dict[str, tuple[float, float]] = field(default_factory=dict)
    arrivals_day: dict[str, int] = field(default_factory=dict)
    surrenders: dict[str, int] = field(default_factory=dict)
    renewals: dict[str, int] = field(default_factory=dict)
    completed: dict[str, int] = field(default_factory=dict)
    within_sla: dict[str, int] = field(default_factory=dict)
    qa_checked: dict[str, int] = field(default_factory=dict)
    qa_passed: dict[str, int] = field(default_factory=dict)
    complaints: dict[str, int] = field(default_factory=dict)
    completed_long: dict[str, int] = field(default_factory=dict)


def _us(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


def _by_province(store: es.Store, query: sa.Select) -> dict[str, list[int]]:
    rows = store.query_arrow(query).to_pylist()
    return {str(r["province_id"]): [int(v or 0) for k, v in r.items() if k != "province_id"] for r in rows}


def read(
    settings: Settings,
    now: datetime,
    *,
    arrival_hours: float,
    mix_hours: float,
    outcome_hours: float,
    complaint_hours: float,
    expectation: Expectation | None = None,
) -> Readings:
    """The indicators' counts per province over their windows ending at ``now``."""
    store = es.store_for(events.store_url(settings))
    t, c = es.SQL_TABLES["tasks"], es.SQL_TABLES["completions"]
    q, k = es.SQL_TABLES["qa_results"], es.SQL_TABLES["complaints"]
    out = Readings()

    def window(hours: float, back: timedelta = timedelta(0)) -> tuple[int, int]:
        return _us(now - back - timedelta(hours=hours)), _us(now - back)

    lo, hi = window(arrival_hours)
    got = _by_province(store, _count(t, t.c.created_at, lo, hi))
    out.arrivals = {p: v[0] for p, v in got.items()}
    lo, hi = window(arrival_hours, timedelta(days=7))
    week = {p: float(v[0]) for p, v in _by_province(store, _count(t, t.c.created_at, lo, hi)).items()}
    for p in set(week) | set(out.arrivals):
        band = expectation(p, now - timedelta(hours=arrival_hours), now) if expectation else None
        if band is None:
            out.expected[p] = week.get(p, 0.0)
        else:
            out.expected[p], out.expected_band[p] = band[0], (band[1], band[2])
    lo, hi = window(mix_hours)
    mix = sa.select(
        t.c.province_id,
        sa.func.count().label("n"),
        sa.func.sum(sa.case((t.c.task_type == "surrender", 1), else_=0)).label("surrender"),
        sa.func.sum(sa.case((t.c.task_type == "renewal", 1), else_=0)).label("renewal"),
    ).where(t.c.created_at >= lo, t.c.created_at < hi)
    for p, (n, sur, ren) in _by_province(store, mix.group_by(t.c.province_id)).items():
        out.arrivals_day[p], out.surrenders[p], out.renewals[p] = n, sur, ren
    lo, hi = window(outcome_hours)
    done = (
        sa.select(
            t.c.province_id,
            sa.func.count().label("n"),
            sa.func.sum(sa.case((c.c.completed_at <= t.c.sla_due_at, 1), else_=0)).label("ok"),
        )
        .select_from(c.join(t, t.c.task_id == c.c.task_id))
        .where(c.c.completed_at >= lo, c.c.completed_at < hi)
        .group_by(t.c.province_id)
    )
    for p, (n, ok) in _by_province(store, done).items():
        out.completed[p], out.within_sla[p] = n, ok
    qa = (
        sa.select(
            t.c.province_id,
            sa.func.count().label("n"),
            sa.func.sum(sa.case((q.c.passed == sa.true(), 1), else_=0)).label("ok"),
        )
        .select_from(q.join(t, t.c.task_id == q.c.task_id))
        .where(q.c.checked_at >= lo, q.c.checked_at < hi)
        .group_by(t.c.province_id)
    )
    for p, (n, ok) in _by_province(store, qa).items():
        out.qa_checked[p], out.qa_passed[p] = n, ok
    lo, hi = window(complaint_hours)
    filed = (
        sa.select(t.c.province_id, sa.func.count().label("n"))
        .select_from(k.join(t, t.c.task_id == k.c.task_id))
        .where(k.c.filed_at >= lo, k.c.filed_at < hi)
        .group_by(t.c.province_id)
    )
    out.complaints = {p: v[0] for p, v in _by_province(store, filed).items()}
    long_done = (
        sa.select(t.c.province_id, sa.func.count().label("n"))
        .select_from(c.join(t, t.c.task_id == c.c.task_id))
        .where(c.c.completed_at >= lo, c.c.completed_at < hi)
        .group_by(t.c.province_id)
    )
    out.completed_long = {p: v[0] for p, v in _by_province(store, long_done).items()}
    return out


def _count(t: sa.Table, col: sa.Column, lo: int, hi: int) -> sa.Select:
    return (
        sa.select(t.c.province_id, sa.func.count().label("n"))
        .where(col >= lo, col < hi)
        .group_by(t.c.province_id)
    )
