"""What the watchlist says about its customers, read from the event store by index: the listed
customers' complaints and last contact (``customer_id`` indexes), and the contacts of a recent window
(the time index). Nothing here reads a whole history table, so a list costs the same after a year.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events

if TYPE_CHECKING:
    from pathlib import Path

    from opsmatch.settings import Settings

CHUNK = 500  # customers per IN list


def _us(ts: datetime | pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value // 1000)


def _stamp(us: Any) -> pd.Timestamp:
    return pd.Timestamp(int(us), unit="us", tz="UTC")


def _per_customer(
    where: Settings | str | Path, query: sa.Select, customers: Collection[str]
) -> list[dict[str, Any]]:
    store = es.store_for(events.store_url(where))
    ids = sorted({str(c) for c in customers})
    out: list[dict[str, Any]] = []
    for k in range(0, len(ids), CHUNK):
        col = query.selected_columns[0]
        out += store.query_arrow(query.where(col.in_(ids[k : k + CHUNK]))).to_pylist()
    return out


def complaints_filed(
    where: Settings | str | Path, customers: Collection[str], as_of: datetime
) -> dict[str, int]:
    """Complaints each customer filed by ``as_of`` (customers with none are absent)."""
    t = es.SQL_TABLES["complaints"]
    query = (
        sa.select(t.c.customer_id, sa.func.count().label("n"))
        .where(t.c.filed_at <= _us(as_of))
        .group_by(t.c.customer_id)
    )
    return {str(r["customer_id"]): int(r["n"] or 0) for r in _per_customer(where, query, customers)}


def last_contacts(
    where: Settings | str | Path, customers: Collection[str], as_of: datetime
) -> dict[str, pd.Timestamp]:
    """Each customer's latest contact by the risk team at or before ``as_of``."""
    t = es.SQL_TABLES["interventions"]
    query = (
        sa.select(t.c.customer_id, sa.func.max(t.c.at).label("at"))
        .where(t.c.at <= _us(as_of))
        .group_by(t.c.customer_id)
    )
    rows = _per_customer(where, query, customers)
    return {str(r["customer_id"]): _stamp(r["at"]) for r in rows if r["at"] is not None}


def contacts_between(where: Settings | str | Path, since: datetime, until: datetime) -> pd.DataFrame:
    """The risk team's contacts (``customer_id``, ``at``) after ``since`` and at or before ``until``."""
    t = es.SQL_TABLES["interventions"]
    query = sa.select(t.c.customer_id, t.c.at).where(t.c.at > _us(since), t.c.at <= _us(until))
    got = es.store_for(events.store_url(where)).query_arrow(query).to_pydict()
    return pd.DataFrame(
        {
            "customer_id": pd.Series(got["customer_id"], dtype=object).astype(str),
            "at": pd.to_datetime(pd.Series(got["at"], dtype="int64"), unit="us", utc=True),
        }
    )


def arrivals_by_province(where: Settings | str | Path, since: datetime, until: datetime) -> dict[str, int]:
    """Tasks created per province after ``since`` and at or before ``until`` (one aggregate over the time
    index; provinces with none are absent)."""
    t = es.SQL_TABLES["tasks"]
    query = (
        sa.select(t.c.province_id, sa.func.count().label("n"))
        .where(t.c.created_at > _us(since), t.c.created_at <= _us(until))
        .group_by(t.c.province_id)
    )
    rows = es.store_for(events.store_url(where)).query_arrow(query).to_pylist()
    return {str(r["province_id"]): int(r["n"] or 0) for r in rows}
