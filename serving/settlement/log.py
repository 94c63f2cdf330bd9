"""What the settlement reads from the event store: indexed, filtered SQL, never the whole history.

- the completions of a range by ``completed_at`` (its index), joined to their task and worker;
- the QA checks of those tasks (``checked_at`` on or after the range's start: its index);
- the handling minutes of the standards' window;
- the tasks of a closed month touched after its close (rows stored after the close's store version:
  the ``version`` index), for the adjustments.
Every read may be capped at a store version (a month is closed "as of" one version).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events
from opsmatch.settings import Settings

FACTS = ("task_id", "owner", "task_type", "complexity", "sla_due_at", "completed_at", "worker_id")
CHUNK = 900  # ids per IN list (SQLite's default limit on parameters is far above; literals are rendered)


def _us(ts: datetime) -> int:
    return int(pd.Timestamp(ts).tz_convert("UTC").value // 1000)


class SettlementLog:
    """Reads for one event store (settings or URL)."""

    def __init__(self, where: Settings | str) -> None:
        self.url = events.store_url(where)

    @property
    def _store(self) -> es.Store:
        return es.store_for(self.url)

    def version(self) -> int:
        """The store's newest version (a close records it)."""
        return events.current_version(self.url)

    def provinces(self) -> list[str]:
        """Every province id of the contract table."""
        t = es.SQL_TABLES["provinces"]
        got = self._store.query_arrow(sa.select(t.c.province_id).distinct())
        return sorted(str(p) for p in got.column("province_id").to_pylist())

    def _frame(self, query: sa.Select) -> pd.DataFrame:
        return self._store.query_arrow(query).to_pandas()

    def _facts_query(self, cap: int | None) -> tuple[sa.Select, sa.Table]:
        c, t, w = (es.SQL_TABLES[n] for n in ("completions", "tasks", "workers"))
        query = (
            sa.select(
                c.c.task_id,
                t.c.province_id.label("owner"),
                t.c.task_type,
                t.c.complexity,
                t.c.sla_due_at,
                c.c.completed_at,
                c.c.worker_id,
                w.c.province_id.label("worker_province"),
            )
            .select_from(c)
            .join(t, t.c.task_id == c.c.task_id)
            .join(w, w.c.worker_id == c.c.worker_id)
        )
        if cap is not None:
            query = query.where(c.c.version <= cap)
        return query, c

    def _qa_query(self, cap: int | None) -> tuple[sa.Select, sa.Table]:
        q, w = es.SQL_TABLES["qa_results"], es.SQL_TABLES["workers"]
        query = sa.select(
            q.c.qa_id, q.c.task_id, q.c.worker_id, w.c.province_id.label("worker_province"),
            q.c.checked_at, q.c.passed,
        ).select_from(q).join(w, w.c.worker_id == q.c.worker_id)  # fmt: skip
        if cap is not None:
            query = query.where(q.c.version <= cap)
        return query, q

    def completed(
        self, start: datetime, end: datetime, cap: int | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(facts, QA checks) of the tasks completed in [start, end) as of store version ``cap``."""
        a, b = _us(start), _us(end)
        facts_q, c = self._facts_query(cap)
        facts = self._frame(facts_q.where(c.c.completed_at >= a, c.c.completed_at < b))
        qa_q, q = self._qa_query(cap)
        done = sa.select(c.c.task_id).where(c.c.completed_at >= a, c.c.completed_at < b)
        qa = self._frame(qa_q.where(q.c.checked_at >= a, q.c.task_id.in_(done)))
        return _typed(facts), _typed_qa(qa)

    def tasks(self, task_ids: Sequence[str], cap: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(facts, QA checks) of the given tasks (completed ones only)."""
        facts, qa = [], []
        for i in range(0, len(task_ids), CHUNK):
            ids = list(task_ids[i : i + CHUNK])
            facts_q, c = self._facts_query(cap)
            facts.append(self._frame(facts_q.where(c.c.task_id.in_(ids))))
            qa_q, q = self._qa_query(cap)
            qa.append(self._frame(qa_q.where(q.c.task_id.in_(ids))))
        if not facts:
            return _typed(pd.DataFrame(columns=[*FACTS, "worker_province"])), _typed_qa(pd.DataFrame())
        return _typed(pd.concat(facts, ignore_index=True)), _typed_qa(pd.concat(qa, ignore_index=True))

    def touched_after(self, start: datetime, end: datetime, since: int, cap: int | None = None) -> list[str]:
        """Tasks completed in [start, end) with a completion or QA row stored after version ``since``."""
        c, q = es.SQL_TABLES["completions"], es.SQL_TABLES["qa_results"]
        a, b = _us(start), _us(end)
        late_c = sa.select(c.c.task_id).where(c.c.version > since)
        late_q = sa.select(q.c.task_id).where(q.c.version > since)
        if cap is not None:
            late_c, late_q = late_c.where(c.c.version <= cap), late_q.where(q.c.version <= cap)
        touched = sa.union(late_c, late_q).subquery()
        query = (
            sa.select(c.c.task_id)
            .where(c.c.task_id.in_(sa.select(touched.c.task_id)))
            .where(c.c.completed_at >= a, c.c.completed_at < b)
            .order_by(c.c.task_id)
        )
        return [str(x) for x in self._store.query_arrow(query).column("task_id").to_pylist()]

    def handling(self, start: datetime, end: datetime, cap: int | None = None) -> pd.DataFrame:
        """task_type, complexity and handling_minutes of the completions in [start, end)."""
        c, t = es.SQL_TABLES["completions"], es.SQL_TABLES["tasks"]
        query = (
            sa.select(t.c.task_type, t.c.complexity, c.c.handling_minutes)
            .select_from(c)
            .join(t, t.c.task_id == c.c.task_id)
            .where(c.c.completed_at >= _us(start), c.c.completed_at < _us(end))
        )
        if cap is not None:
            query = query.where(c.c.version <= cap)
        return self._frame(query)


def _typed(facts: pd.DataFrame) -> pd.DataFrame:
    if not len(facts):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in [*FACTS, "worker_province"]})
    out = facts.copy()
    for col in ("complexity", "sla_due_at", "completed_at"):
        out[col] = out[col].astype("int64")
    return out


def _typed_qa(qa: pd.DataFrame) -> pd.DataFrame:
    cols = ["qa_id", "task_id", "worker_id", "worker_province", "checked_at", "passed"]
    if not len(qa):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    out = qa.copy()
    out["checked_at"] = out["checked_at"].astype("int64")
    out["passed"] = out["passed"].astype(bool)
    return out
