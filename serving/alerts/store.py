"""Incidents and silences in the service's state store (one SQLAlchemy engine: SQLite or PostgreSQL).

One row per scope (:func:`serving.alerts.incidents.incident_id`): ``open -> acked -> resolved``. A writer that
observes the whole of a family of kinds (the monitor over every open task) *reconciles* it: what it saw
is refreshed, what it no longer sees resolves itself. A writer that sees a part (``/assign`` of some
tasks, ``/risk`` of a few) *merges*: examples join, the count never shrinks, nothing resolves. A resolved
incident re-opens (next episode) when its condition returns; an open or acked one is only refreshed.
Silences (Alertmanager's) match a scope until their end, with a reason, audited. Concurrent writers of
the same incident never fail: a lost race (unique key, SQLite's snapshot lock) retries the transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from opsmatch.sql_schema import create_or_upgrade
from serving.alerts.incidents import Incident, spec, trend, worst
from serving.alerts.inhibit import inhibited_by, inhibited_clause, inhibitors
from serving.alerts.silences import Silences
from serving.alerts.tables import _dumps, _utc, decode_row, incidents, metadata

TREND_MINUTES = 30.0  # the trend compares with a value up to this old (rolled to the last one seen)


@dataclass(frozen=True)
class Family:
    """What a reconciling writer observed in full: these kinds (in these provinces, None = all)."""

    kinds: frozenset[str]
    provinces: frozenset[str] | None = None


DERIVED = frozenset({incidents.name})  # raised again by the monitor: an old shape is moved aside


class AlertStore(Silences):
    """Incidents and silences; ``audit(conn, action, actor, target, detail, at)`` writes an audit row."""

    def __init__(self, engine: sa.Engine, audit_table: sa.Table, retries: int = 8) -> None:
        self.engine = engine
        self.audit_table = audit_table
        self.retries = retries
        create_or_upgrade(engine, metadata, derived=DERIVED)

    def _retry(self, work: Any) -> Any:
        """Run ``work(conn)`` in one transaction; a lost race with another writer runs it again."""
        for attempt in range(self.retries):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except (IntegrityError, OperationalError) as exc:
                if attempt == self.retries - 1 or not _race(exc):
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _audit(self, conn: sa.Connection, action: str, actor: str, target: str, detail: Any, at: Any) -> None:
        row = {"at": _utc(at), "actor": actor, "action": action, "target": target, "detail": _dumps(detail)}
        conn.execute(self.audit_table.insert().values(**row))

    # -- writing ----------------------------------------------------------------------------------
    def record(
        self,
        found: Sequence[Incident],
        at: datetime,
        *,
        family: Family | None = None,
        writer: str = "service",
    ) -> int:
        """Raise ``found`` (reconciling ``family`` when given, else merging); returns incidents opened
        or re-opened."""
        stamp = _utc(at)
        assert stamp is not None
        by_id = {i.id: i for i in found}

        def work(conn: sa.Connection) -> int:
            ids = sorted(by_id)  # one lock order for every writer (no deadlock on PostgreSQL)
            rows = {}
            for k in range(0, len(ids), 500):
                query = sa.select(incidents).where(incidents.c.id.in_(ids[k : k + 500])).with_for_update()
                rows.update({r["id"]: dict(r) for r in conn.execute(query).mappings()})
            opened = 0
            for iid, inc in by_id.items():
                old = rows.get(iid)
                full = family is not None and inc.kind in family.kinds
                if old is None:
                    conn.execute(incidents.insert().values(**_fresh(inc, stamp, episode=1)))
                    opened += 1
                elif old["state"] == "resolved":
                    conn.execute(
                        incidents.update()
                        .where(incidents.c.id == iid)
                        .values(**_fresh(inc, stamp, episode=int(old["episode"]) + 1, keep_id=True))
                    )
                    opened += 1
                else:
                    conn.execute(
                        incidents.update()
                        .where(incidents.c.id == iid)
                        .values(**_refresh(old, inc, stamp, full))
                    )
            if family is not None:
                _resolve_missing(conn, family, set(by_id), stamp, writer)
            return opened

        return int(self._retry(work))

    def expire(self, at: datetime, writer: str = "monitor") -> int:
        """Resolve open incidents not raised again within their kind's ``expire_minutes``."""
        stamp = _utc(at)
        assert stamp is not None

        def work(conn: sa.Connection) -> int:
            rows = conn.execute(
                sa.select(incidents.c.id, incidents.c.kind, incidents.c.last_seen).where(
                    incidents.c.state != "resolved"
                )
            ).all()
            stale = [
                r.id
                for r in rows
                if (m := spec(r.kind).expire_minutes) is not None
                and (_utc(r.last_seen) or stamp) < stamp - timedelta(minutes=m)
            ]
            if stale:
                conn.execute(
                    incidents.update()
                    .where(incidents.c.id.in_(stale))
                    .values(state="resolved", resolved_at=stamp, resolved_by=f"{writer} (not seen again)")
                )
            return len(stale)

        return int(self._retry(work))

    def ack(self, alert_id: str, *, actor: str, note: str | None, at: datetime) -> dict[str, Any] | None:
        """open -> acked (who, when, note; audited); idempotent; None if unknown."""

        def work(conn: sa.Connection) -> str | None:
            row = conn.execute(sa.select(incidents).where(incidents.c.id == alert_id)).mappings().first()
            if row is None:
                return None
            if row["state"] == "open":
                conn.execute(
                    incidents.update()
                    .where(incidents.c.id == alert_id, incidents.c.state == "open")
                    .values(state="acked", acked_by=actor, acked_at=_utc(at), ack_note=note)
                )
                self._audit(conn, "alert_ack", actor, alert_id, {"note": note, "kind": row["kind"]}, at)
            return alert_id

        return self.get(alert_id, at) if self._retry(work) else None

    # -- reading ----------------------------------------------------------------------------------
    def get(self, alert_id: str, at: datetime) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(incidents).where(incidents.c.id == alert_id)).mappings().first()
            muting = inhibitors(conn)
        if row is None:
            return None
        return {
            **decode_row(dict(row), self.active_silences(at)),
            "inhibited_by": inhibited_by(dict(row), muting),
        }

    def list(
        self,
        at: datetime,
        *,
        states: Collection[str] | None = None,
        silenced: bool | None = None,
        kind: str | None = None,
        province_id: str | None = None,
        role: str | None = None,
        acked: bool | None = None,
        inhibited: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total matching, one page): worst first (critical, then largest count), then newest.
        ``inhibited``: only those another incident mutes (``serving.alerts.inhibit``), or only the others."""
        active = self.active_silences(at)
        query = sa.select(incidents)
        if states:
            query = query.where(incidents.c.state.in_(list(states)))
        if kind is not None:
            query = query.where(incidents.c.kind == kind)
        if province_id is not None:
            query = query.where(incidents.c.province_id == province_id)
        if role is not None:
            query = query.where(incidents.c.roles.like(f"%,{role},%"))
        if acked is not None:
            query = query.where(
                incidents.c.acked_by.is_not(None) if acked else incidents.c.acked_by.is_(None)
            )
        if silenced is not None:
            scopes = list(active)
            match = incidents.c.scope.in_(scopes) if scopes else sa.false()
            query = query.where(match if silenced else sa.not_(match))
        rank = sa.case(
            (incidents.c.severity == "critical", 0), (incidents.c.severity == "warning", 1), else_=2
        )
        order = (rank, incidents.c.count.desc(), incidents.c.last_seen.desc(), incidents.c.id)
        with self.engine.connect() as conn:
            muting = inhibitors(conn)
            if inhibited is not None:
                muted = sa.and_(inhibited_clause(muting), incidents.c.state != "resolved")
                query = query.where(muted if inhibited else sa.not_(muted))
            total = int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar() or 0)
            rows = conn.execute(query.order_by(*order).limit(limit).offset(offset)).mappings().all()
        return total, [
            {**decode_row(dict(r), active), "inhibited_by": inhibited_by(dict(r), muting)} for r in rows
        ]


def _race(exc: Exception) -> bool:
    """A concurrent writer won: a unique key, a serialization failure or SQLite's lock."""
    if isinstance(exc, IntegrityError):
        return True
    text = str(exc).lower()
    return "locked" in text or "could not serialize" in text or "deadlock" in text


def _fresh(inc: Incident, at: datetime, *, episode: int, keep_id: bool = False) -> dict[str, Any]:
    values = {
        "scope": inc.scope,
        "kind": inc.kind,
        "state": "open",
        "severity": inc.severity,
        "roles": "," + ",".join(inc.roles) + ",",
        "province_id": inc.province_id,
        "task_type": inc.task_type,
        "subject_id": inc.subject_id,
        "message": inc.message,
        "details": _dumps(inc.details),
        "value_first": inc.value,
        "value_peak": inc.value,
        "examples": _dumps(list(inc.examples)),
        "count": inc.count,
        "value": inc.value,
        "trend": "new",
        "trend_ref": inc.value,
        "trend_ref_at": at,
        "episode": episode,
        "first_seen": at,
        "last_seen": at,
        "acked_by": None,
        "acked_at": None,
        "ack_note": None,
        "resolved_at": None,
        "resolved_by": None,
    }
    return values if keep_id else {"id": inc.id, **values}


def _refresh(old: dict[str, Any], inc: Incident, at: datetime, full: bool) -> dict[str, Any]:
    """The update of an open/acked incident: replaced by a full observation, merged with a partial one."""
    examples = list(inc.examples)
    count, value, message = inc.count, inc.value, inc.message
    if not full and not spec(inc.kind).per_subject:
        examples = list(worst([*json.loads(old["examples"] or "[]"), *inc.examples]))
        if int(old["count"]) > count:
            count, value, message = int(old["count"]), float(old["value"]), old["message"]
    ref, ref_at = old["trend_ref"], _utc(old["trend_ref_at"])
    values: dict[str, Any] = {
        "severity": inc.severity,
        "message": message,
        "details": _dumps(inc.details),
        "value_peak": max(float(old["value_peak"]), value),
        "examples": _dumps(examples),
        "count": count,
        "value": value,
        "trend": trend(ref, value),
        "last_seen": at,
    }
    if ref_at is None or at - ref_at >= timedelta(minutes=TREND_MINUTES):
        values.update(trend_ref=old["value"], trend_ref_at=at)
    return values


def _resolve_missing(conn: sa.Connection, family: Family, seen: set[str], at: datetime, writer: str) -> None:
    query = sa.select(incidents.c.id).where(
        incidents.c.state != "resolved", incidents.c.kind.in_(sorted(family.kinds))
    )
    if family.provinces is not None:
        query = query.where(incidents.c.province_id.in_(sorted(family.provinces)))
    gone = [i for i in conn.execute(query).scalars() if i not in seen]
    for k in range(0, len(gone), 500):
        conn.execute(
            incidents.update()
            .where(incidents.c.id.in_(gone[k : k + 500]))
            .values(state="resolved", resolved_at=at, resolved_by=writer)
        )
