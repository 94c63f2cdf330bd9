"""Silences (Prometheus Alertmanager's): an incident's scope is muted until an end, with a reason, and
audited; it holds over the incident's later episodes. A mixin of :class:`serving.alerts.store.AlertStore`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from serving.alerts.tables import _utc, incidents, silences


class Silences:
    """Silence methods; the store gives ``engine``, ``_retry(work)`` and ``_audit(conn, ...)``."""

    engine: sa.Engine

    def _retry(self, work: Any) -> Any:  # pragma: no cover - the store's
        raise NotImplementedError

    def _audit(self, conn: sa.Connection, action: str, actor: str, target: str, detail: Any, at: Any) -> None:
        raise NotImplementedError  # pragma: no cover - the store's

    def silence(
        self, alert_id: str, *, actor: str, reason: str, until: datetime, at: datetime
    ) -> dict[str, Any] | None:
        """Silence the incident's scope until ``until`` (audited); the silence, or None if unknown."""

        def work(conn: sa.Connection) -> dict[str, Any] | None:
            row = conn.execute(sa.select(incidents.c.scope).where(incidents.c.id == alert_id)).first()
            if row is None:
                return None
            sid = f"silence-{uuid.uuid4().hex[:16]}"
            values = {"id": sid, "scope": row.scope, "alert_id": alert_id, "reason": reason,
                      "starts_at": _utc(at), "ends_at": _utc(until), "created_by": actor}  # fmt: skip
            conn.execute(silences.insert().values(**values))
            self._audit(
                conn, "alert_silence", actor, alert_id, {"reason": reason, "until": until, "id": sid}, at
            )
            return _silence_row(values)

        return self._retry(work)  # type: ignore[no-any-return]

    def end_silences(self, alert_id: str, *, actor: str, at: datetime) -> int | None:
        """End the active silences of the incident's scope now (audited); how many, None if unknown."""
        stamp = _utc(at)

        def work(conn: sa.Connection) -> int | None:
            row = conn.execute(sa.select(incidents.c.scope).where(incidents.c.id == alert_id)).first()
            if row is None:
                return None
            live = (silences.c.scope == row.scope, silences.c.ended_at.is_(None), silences.c.ends_at > stamp)
            ids = list(conn.execute(sa.select(silences.c.id).where(*live)).scalars())
            if ids:
                conn.execute(
                    silences.update().where(silences.c.id.in_(ids)).values(ended_at=stamp, ended_by=actor)
                )
                self._audit(conn, "alert_unsilence", actor, alert_id, {"silences": ids}, at)
            return len(ids)

        return self._retry(work)  # type: ignore[no-any-return]

    def active_silences(self, at: datetime) -> dict[str, dict[str, Any]]:
        """scope -> the active silence that ends last."""
        stamp = _utc(at)
        query = sa.select(silences).where(
            silences.c.ended_at.is_(None), silences.c.ends_at > stamp, silences.c.starts_at <= stamp
        )
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query.order_by(silences.c.ends_at)).mappings():
                out[r["scope"]] = _silence_row(dict(r))
        return out


def _silence_row(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    for key in ("starts_at", "ends_at", "ended_at"):
        out[key] = _utc(out.get(key))
    return out
