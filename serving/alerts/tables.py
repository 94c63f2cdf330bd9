"""The tables of the alerts (incidents and silences) in the service's state store (SQLite or
PostgreSQL through SQLAlchemy: portable types only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()
Stamp = sa.DateTime(timezone=True)
incidents = sa.Table(
    "alert_incidents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("roles", sa.String(200), nullable=False),  # ",risk,ops_head," (a LIKE filter)
    sa.Column("province_id", sa.String(64), index=True),
    sa.Column("task_type", sa.String(64)),
    sa.Column("subject_id", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("examples", sa.Text, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("value_first", sa.Float, nullable=False),  # the value when it (re-)opened
    sa.Column("value_peak", sa.Float, nullable=False),  # the worst value of this episode
    sa.Column("trend", sa.String(16), nullable=False),
    sa.Column("trend_ref", sa.Float),
    sa.Column("trend_ref_at", Stamp),
    sa.Column("episode", sa.Integer, nullable=False),
    sa.Column("first_seen", Stamp, nullable=False),
    sa.Column("last_seen", Stamp, nullable=False, index=True),
    sa.Column("acked_by", sa.String(200)),
    sa.Column("acked_at", Stamp),
    sa.Column("ack_note", sa.Text),
    sa.Column("resolved_at", Stamp),
    sa.Column("resolved_by", sa.String(200)),
)
silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(300), nullable=False, index=True),
    sa.Column("alert_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("starts_at", Stamp, nullable=False),
    sa.Column("ends_at", Stamp, nullable=False, index=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("ended_at", Stamp),
    sa.Column("ended_by", sa.String(200)),
)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def decode_row(r: dict[str, Any], active: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An ``alert_incidents`` row as the API shows it (``active``: scope -> its active silence)."""
    out = dict(r)
    out["details"] = json.loads(out["details"] or "{}")
    out["examples"] = json.loads(out.pop("examples") or "[]")
    out["roles"] = [x for x in out["roles"].split(",") if x]
    for key in ("first_seen", "last_seen", "acked_at", "resolved_at"):
        out[key] = _utc(out[key])
    out["acked"] = out["acked_by"] is not None
    silence = active.get(out["scope"]) if out["state"] != "resolved" else None
    out["silenced"] = silence is not None
    out["silence"] = silence
    out.pop("trend_ref", None)
    out.pop("trend_ref_at", None)
    return out
