"""P(complaint) scored when a task arrives, kept in the state store so that every worker says the same.

The first worker to score a task stores the number (``task_risk``); a worker that meets the task later
(another replica, a restart) reads it instead of scoring it again at its own "now", which would give
another number once the risk moves with the wait. A race between two first scorers is decided by the
primary key: the row stored first wins, and both report it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from serving.state.store import StateStore, metadata

task_risk = sa.Table(
    "task_risk",
    metadata,
    sa.Column("task_id", sa.String(200), primary_key=True),
    sa.Column("p_complaint", sa.Float(precision=53), nullable=False),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
)


class ArrivalRisk:
    """Read and record arrival scores in the state store."""

    def __init__(self, store: StateStore) -> None:
        self.engine = store.engine
        task_risk.create(self.engine, checkfirst=True)

    def lookup(self, task_ids: Sequence[str]) -> dict[str, float]:
        """task id -> stored P(complaint), for the ids that have one."""
        out: dict[str, float] = {}
        ids = list(dict.fromkeys(task_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(task_risk.c.task_id, task_risk.c.p_complaint).where(
                    task_risk.c.task_id.in_(ids[i : i + 500])
                )
                out.update({str(t): float(p) for t, p in conn.execute(q)})
        return out

    def record(self, scores: Mapping[str, float], at: datetime) -> dict[str, float]:
        """Store the scores of tasks that have none yet; returns what is stored for them (a concurrent
        first scorer's number where it won)."""
        if not scores:
            return {}
        stamp = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
        rows = [{"task_id": t, "p_complaint": p, "scored_at": stamp} for t, p in scores.items()]
        try:
            with self.engine.begin() as conn:
                conn.execute(task_risk.insert(), rows)
        except IntegrityError:  # some were stored meanwhile: one by one, the first stored wins
            for row in rows:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(task_risk.insert(), [row])
                except IntegrityError:
                    pass
            return self.lookup(list(scores))
        return dict(scores)
