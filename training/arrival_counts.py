"""Arrival counts per province x task type x 30-minute interval, aggregated inside the event store.

The store groups ``tasks`` by (province, type, interval) in SQL, so memory holds one row per non-empty
cell of the window read, never the task history. Counts are returned on a full grid (zeros included)
in the centre's local time (naive timestamps), the frame every forecast and backtest starts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events
from opsmatch.settings import Settings

SLOT_MINUTES = 30
SLOT_US = SLOT_MINUTES * 60 * 1_000_000
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
DEFAULT_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class History:
    """30-minute arrival counts (``province_id, task_type, ds, y``; ``ds`` naive in ``zone``) over whole
    local days ``[first_day, end_day)``."""

    counts: pd.DataFrame
    zone: str
    end_day: pd.Timestamp

    @property
    def provinces(self) -> list[str]:
        return sorted(self.counts["province_id"].unique())

    @property
    def types(self) -> list[str]:
        return sorted(self.counts["task_type"].unique())

    def before(self, day: pd.Timestamp) -> History:
        """The history cut at local midnight of ``day`` (a backtest origin)."""
        return History(self.counts[self.counts["ds"] < day].reset_index(drop=True), self.zone, day)


def centre_zone(where: Settings | str | Path) -> str:
    """The centre's time zone: the zone most provinces keep (the contract's ``provinces`` table)."""
    provinces = events.read_table(where, "provinces", columns=["province_id", "timezone"])
    if provinces.empty:
        return DEFAULT_ZONE
    return str(provinces["timezone"].mode().iloc[0])


def read_counts(
    where: Settings | str | Path,
    *,
    days: int = 56,
    zone: str | None = None,
    until: pd.Timestamp | None = None,
) -> History:
    """The last ``days`` whole local days of arrivals before the day of ``until`` (default: the newest
    task; that day is partial and left out), as a full zero-filled grid."""
    zone = zone or centre_zone(where)
    newest = events.newest_time(where, "tasks") if until is None else pd.Timestamp(until)
    if newest is None:
        raise ValueError("the event store has no tasks to forecast from")
    end_day = pd.Timestamp(newest).tz_convert(zone).tz_localize(None).floor("D")
    first_day = end_day - pd.Timedelta(days=days)
    since_us = int(first_day.tz_localize(zone).tz_convert("UTC").value // 1000)
    raw = _slot_counts(where, since_us)
    raw["ds"] = pd.to_datetime(raw["slot"].astype("int64"), unit="us", utc=True)
    raw["ds"] = raw["ds"].dt.tz_convert(zone).dt.tz_localize(None)
    raw = raw[(raw["ds"] >= first_day) & (raw["ds"] < end_day)]
    if raw.empty:
        raise ValueError(f"no arrivals in the {days} days before {end_day:%Y-%m-%d} to forecast from")
    first_day = max(first_day, raw["ds"].min().floor("D"))  # a shorter history: from its first day
    return History(full_grid(raw, first_day, end_day), zone, end_day)


def counts_since(where: Settings | str | Path, since: pd.Timestamp) -> pd.DataFrame:
    """Arrivals per 30 minutes since ``since`` (aware): ``start`` (UTC), ``province_id``, ``task_type``,
    ``actual``, non-empty cells only, aggregated in the store."""
    raw = _slot_counts(where, int(since.tz_convert("UTC").value // 1000))
    start = pd.to_datetime(raw["slot"].astype("int64"), unit="us", utc=True)
    return pd.DataFrame(
        {"start": start, "province_id": raw["province_id"], "task_type": raw["task_type"], "actual": raw["y"]}
    )


def _slot_counts(where: Settings | str | Path, since_us: int) -> pd.DataFrame:
    t = es.SQL_TABLES["tasks"]
    slot = (t.c.created_at - t.c.created_at % SLOT_US).label("slot")
    query = (
        sa.select(t.c.province_id, t.c.task_type, slot, sa.func.count().label("y"))
        .where(t.c.created_at >= since_us)
        .group_by(t.c.province_id, t.c.task_type, slot)
    )
    return es.store_for(events.store_url(where)).query_arrow(query).to_pandas()


def full_grid(raw: pd.DataFrame, first_day: pd.Timestamp, end_day: pd.Timestamp) -> pd.DataFrame:
    """Counts on every (province, type, interval) of ``[first_day, end_day)``, zeros where none came."""
    slots = pd.date_range(first_day, end_day, freq=f"{SLOT_MINUTES}min", inclusive="left")
    index = pd.MultiIndex.from_product(
        [sorted(raw["province_id"].unique()), sorted(raw["task_type"].unique()), slots],
        names=["province_id", "task_type", "ds"],
    )
    counts = raw.groupby(["province_id", "task_type", "ds"])["y"].sum().reindex(index, fill_value=0)
    return counts.astype("float64").reset_index()
