"""Closed months: frozen statements in the service's state store (SQLAlchemy, the state store's URL).

A close writes, in one transaction, the month's statement (summary, matrix, standards, rates and the
store version it was computed at, as canonical JSON), every line in order, and an audit record under
the closer's name. Nothing is ever updated: a closed month is read back as it was written, so the same
request gives the same bytes. A second close of a month is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from opsmatch.sql_schema import create_or_upgrade
from serving.settlement.lines import LINE_FIELDS
from serving.state.store import ConflictError, StateStore, audit_log

metadata = sa.MetaData()
months = sa.Table(
    "settlement_months",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_by", sa.String(200), nullable=False),
    sa.Column("event_version", sa.BigInteger, nullable=False),
    sa.Column("statement", sa.Text, nullable=False),  # canonical JSON, without the lines
    sa.Column("lines_sha256", sa.String(64), nullable=False),
)
lines_table = sa.Table(
    "settlement_lines",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("task_id", sa.String(200), nullable=False, index=True),
    sa.Column("ref_month", sa.String(7)),
    sa.Column("credit_province", sa.String(64), nullable=False),
    sa.Column("debit_province", sa.String(64), nullable=False),
    sa.Column("worker_id", sa.String(200), nullable=False),
    sa.Column("completed_at", sa.String(40), nullable=False),
    sa.Column("task_type", sa.String(64), nullable=False),
    sa.Column("complexity", sa.Integer, nullable=False),
    sa.Column("qa", sa.String(16), nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("standard_minutes", sa.String(32), nullable=False),
    sa.Column("rate", sa.String(32), nullable=False),
    sa.Column("factor", sa.String(32), nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
)
sa.Index("ix_settlement_lines_credit", lines_table.c.month, lines_table.c.credit_province)
sa.Index("ix_settlement_lines_debit", lines_table.c.month, lines_table.c.debit_province)


def canonical(data: Any) -> str:
    """The one JSON text of ``data`` (sorted keys, no spaces): what is stored and hashed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def lines_digest(lines: Sequence[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical([[x[f] for f in LINE_FIELDS] for x in lines]).encode()).hexdigest()


class SettlementBook:
    """The closed months of one state store."""

    def __init__(self, state: StateStore) -> None:
        self.engine = state.engine
        create_or_upgrade(self.engine, metadata)

    def closed(self) -> dict[str, int]:
        """``{month: store version it was closed at}``."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(months.c.month, months.c.event_version)).all()
        return {str(m): int(v) for m, v in rows}

    def close(
        self,
        month: str,
        statement: dict[str, Any],
        lines: Sequence[dict[str, Any]],
        *,
        actor: str,
        note: str | None,
        at: datetime,
    ) -> None:
        """Freeze ``month`` (ConflictError when it is already closed)."""
        stamp = at.astimezone(UTC)
        digest = lines_digest(lines)
        rows = [{"month": month, "seq": i, **{f: x[f] for f in LINE_FIELDS}} for i, x in enumerate(lines)]
        detail = {"note": note, "lines": len(lines), "lines_sha256": digest,
                  "event_version": statement["event_version"], "national": statement["national"]}  # fmt: skip
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    months.insert().values(
                        month=month,
                        closed_at=stamp,
                        closed_by=actor,
                        event_version=int(statement["event_version"]),
                        statement=canonical(statement),
                        lines_sha256=digest,
                    )
                )
                for i in range(0, len(rows), 5000):
                    conn.execute(lines_table.insert(), rows[i : i + 5000])
                conn.execute(
                    audit_log.insert().values(
                        at=stamp,
                        actor=actor,
                        action="settlement_close",
                        target=f"settlement:{month}",
                        detail=canonical(detail),
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"month {month} is already closed") from exc

    def statement(self, month: str) -> dict[str, Any] | None:
        """The frozen statement of ``month`` (without lines), None when the month is open."""
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(months.c.statement).where(months.c.month == month)).scalar()
        return None if text is None else json.loads(text)

    def lines(
        self,
        month: str,
        province_id: str | None = None,
        counterparty: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(count, lines in order) of a closed month, optionally those of a province (and between it and
        ``counterparty``), paged."""
        t = lines_table
        where = [t.c.month == month]
        for who in (province_id, counterparty):
            if who is not None:
                where.append(sa.or_(t.c.credit_province == who, t.c.debit_province == who))
        cols = [t.c[f] for f in LINE_FIELDS]
        query = sa.select(*cols).where(*where).order_by(t.c.seq).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar() or 0)
            rows = conn.execute(query).mappings().all()
        return total, [_line(r) for r in rows]

    def settled(self, task_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every closed line (work and adjustments, any month) of the given tasks."""
        out: list[dict[str, Any]] = []
        t = lines_table
        with self.engine.connect() as conn:
            for i in range(0, len(task_ids), 500):
                chunk = list(task_ids[i : i + 500])
                query = sa.select(*(t.c[f] for f in LINE_FIELDS)).where(t.c.task_id.in_(chunk))
                out += [_line(r) for r in conn.execute(query.order_by(t.c.month, t.c.seq)).mappings()]
        return out


def _line(row: Any) -> dict[str, Any]:
    out = {f: row[f] for f in LINE_FIELDS}
    out["late"] = bool(out["late"])
    out["complexity"] = int(out["complexity"])
    out["amount_cents"] = int(out["amount_cents"])
    return out
