"""Inhibition (Prometheus Alertmanager's ``inhibit_rules``): an active incident that explains others
mutes them. A province's backlog incident (too many waiting tasks for the staff on shift) explains its
overdue and near-SLA incidents: the dispatcher sees the cause, not its symptoms as well. The muted
incidents stay (counted, refreshed, resolved as usual) and name what inhibits them; ``GET /alerts``
leaves them out of ``state=open`` and lists them under ``state=inhibited``. A source inhibits while it
is open or acked, silenced or not (a silenced backlog still explains its overdue tasks), in the same
province only; an incident never inhibits itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from serving.alerts.tables import incidents


@dataclass(frozen=True)
class InhibitRule:
    """Active incidents of ``source`` mute those of ``targets`` with the same province."""

    source: str
    targets: frozenset[str]
    why: str


RULES: tuple[InhibitRule, ...] = (
    InhibitRule(
        "province_backlog",
        frozenset({"sla_overdue", "sla_near"}),
        "the province's backlog for its staff on shift explains its late tasks",
    ),
)

Inhibitors = Mapping[tuple[str, str], str]  # (target kind, province) -> the inhibiting incident's id


def inhibitors(conn: sa.Connection, rules: tuple[InhibitRule, ...] = RULES) -> dict[tuple[str, str], str]:
    """(target kind, province) -> id of an active source incident that mutes it (one small query: the
    sources are at most one per province and rule)."""
    kinds = sorted({r.source for r in rules})
    query = (
        sa.select(incidents.c.id, incidents.c.kind, incidents.c.province_id)
        .where(
            incidents.c.state != "resolved", incidents.c.kind.in_(kinds), incidents.c.province_id.is_not(None)
        )
        .order_by(incidents.c.id)
    )
    out: dict[tuple[str, str], str] = {}
    for row in conn.execute(query):
        for rule in rules:
            if rule.source == row.kind:
                for target in rule.targets:
                    out.setdefault((target, str(row.province_id)), str(row.id))
    return out


def inhibited_clause(active: Inhibitors) -> Any:
    """SQL condition: the incident is muted by one of ``active``."""
    by_kind: dict[str, set[str]] = {}
    for kind, province in active:
        by_kind.setdefault(kind, set()).add(province)
    parts = [
        sa.and_(incidents.c.kind == kind, incidents.c.province_id.in_(sorted(provinces)))
        for kind, provinces in sorted(by_kind.items())
    ]
    return sa.or_(*parts) if parts else sa.false()


def inhibited_by(row: Mapping[str, Any], active: Inhibitors) -> str | None:
    """The id of the incident that mutes ``row`` (an unresolved incident), else None."""
    if row["state"] == "resolved" or row["province_id"] is None:
        return None
    source = active.get((str(row["kind"]), str(row["province_id"])))
    return None if source == row["id"] else source
