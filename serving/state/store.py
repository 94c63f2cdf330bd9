"""Durable service state behind one SQLAlchemy URL (``settings.resolved_state_db_url``).

Policy versions (each one an audit record: who, when, note, what changed), a general audit log,
alerts as incidents with acks and silences (:mod:`serving.alerts.store`), the API keys (salted
hashes; :mod:`serving.access.keys`) and the console's sign-in sessions (:mod:`serving.access.sessions`).
Ingestion is idempotent in the event store itself (a key is stored once; ``opsmatch.event_append``).
SQLite by default (WAL, busy timeout: several service workers share the file); only portable SQL is
used, so the same code runs on PostgreSQL by changing the URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from opsmatch.sql_schema import create_or_upgrade
from serving.alerts.incidents import group
from serving.alerts.rules import Alert
from serving.alerts.store import AlertStore, Family
from serving.config import Policy, default_policy

metadata = sa.MetaData()
Stamp = sa.DateTime(timezone=True)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("diff", sa.Text, nullable=False),
)
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Stamp, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("target", sa.String(200)),
    sa.Column("detail", sa.Text),
)
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("last_used_at", Stamp),
    sa.Column("revoked_at", Stamp),
)
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's token, never the token
    sa.Column("key_name", sa.String(64), nullable=False, index=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("expires_at", Stamp, nullable=False),
    sa.Column("ended_at", Stamp),
)


class ConflictError(Exception):
    """A write lost a race (e.g. the policy changed since the version the client read)."""


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


INTAKE_ACTIONS: tuple[str, ...] = ("tasks", "outcomes", "worker_status", "contacts")
"""Audit actions written by the core, QA and dispatch systems' intake calls (one per call), apart from
people's actions (policy, closes, acks, silences, overrides, keys, interventions, sign-ins)."""


class StateStore:
    """The service's durable state; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        create_or_upgrade(self.engine, metadata)
        self.alerts = AlertStore(self.engine, audit_log)

    def close(self) -> None:
        self.engine.dispose()

    # -- policy ---------------------------------------------------------------------------------
    def policy_version(self) -> int:
        """Version of the policy in force (0 = the defaults, never changed)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(policy_versions.c.version))).scalar() or 0)

    def current_policy(self) -> tuple[int, Policy]:
        """(version, policy) in force."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(policy_versions.c.version, policy_versions.c.policy)
                .order_by(policy_versions.c.version.desc())
                .limit(1)
            ).first()
        if row is None:
            return 0, default_policy()
        return int(row.version), Policy.model_validate_json(row.policy)

    def save_policy(
        self,
        policy: Policy,
        *,
        actor: str,
        note: str | None,
        diff: dict[str, Any],
        expected_version: int,
        at: datetime,
    ) -> int:
        """Store a new version on top of ``expected_version``; ConflictError if it is not the latest."""
        version = expected_version + 1
        try:
            with self.engine.begin() as conn:
                latest = conn.execute(sa.select(sa.func.max(policy_versions.c.version))).scalar() or 0
                if latest != expected_version:
                    raise ConflictError(f"policy is at version {latest}, not {expected_version}")
                conn.execute(
                    policy_versions.insert().values(
                        version=version,
                        created_at=_utc(at),
                        actor=actor,
                        note=note,
                        policy=policy.model_dump_json(),
                        diff=json.dumps(diff, sort_keys=True, default=str),
                    )
                )
                conn.execute(
                    audit_log.insert().values(
                        at=_utc(at),
                        actor=actor,
                        action="policy_update",
                        target=f"policy:{version}",
                        detail=json.dumps({"note": note, "changes": diff}, sort_keys=True, default=str),
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"policy version {version} was written concurrently") from exc
        return version

    def policy_history(self, limit: int = 50) -> list[dict[str, Any]]:
        """Latest policy versions first: version, when, who, note, what changed."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    policy_versions.c.version,
                    policy_versions.c.created_at,
                    policy_versions.c.actor,
                    policy_versions.c.note,
                    policy_versions.c.diff,
                )
                .order_by(policy_versions.c.version.desc())
                .limit(limit)
            ).all()
        return [
            {
                "version": r.version,
                "at": _utc(r.created_at),
                "actor": r.actor,
                "note": r.note,
                "changes": json.loads(r.diff),
            }
            for r in rows
        ]

    # -- audit ----------------------------------------------------------------------------------
    def audit(
        self, action: str, actor: str, target: str | None, detail: dict[str, Any], at: datetime
    ) -> None:
        """Append one audit record."""
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=_utc(at),
                    actor=actor,
                    action=action,
                    target=target,
                    detail=json.dumps(detail, sort_keys=True, default=str),
                )
            )

    def audit_entries(
        self, action: str | None = None, limit: int = 100, *, exclude: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Latest audit records first (``exclude``: actions left out, e.g. :data:`INTAKE_ACTIONS`)."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if action:
            query = query.where(audit_log.c.action == action)
        if exclude:
            query = query.where(audit_log.c.action.not_in(list(exclude)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**dict(r), "at": _utc(r["at"]), "detail": json.loads(r["detail"] or "{}")} for r in rows]

    # -- alerts (incidents: serving/alerts/store.py) ------------------------------------------------
    def upsert_alerts(
        self, alerts: Sequence[Alert], at: datetime, *, family: Family | None = None, writer: str = "service"
    ) -> int:
        """Raise the rules' observations as grouped incidents (``family``: reconcile those kinds, so
        what is no longer seen resolves itself); returns incidents opened or re-opened."""
        return self.alerts.record(group(alerts), at, family=family, writer=writer)

    def list_alerts(self, at: datetime | None = None, **filters: Any) -> list[dict[str, Any]]:
        """One page of incidents (see ``AlertStore.list``), worst first."""
        return self.alerts.list(at or datetime.now(UTC), **filters)[1]

    def ack_alert(
        self, alert_id: str, *, actor: str, note: str | None, at: datetime
    ) -> dict[str, Any] | None:
        """Acknowledge an open incident (idempotent; the first acknowledgement is kept); None if unknown."""
        return self.alerts.ack(alert_id, actor=actor, note=note, at=at)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
