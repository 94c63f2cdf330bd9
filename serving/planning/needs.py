"""Staff needed per province and hour from forecast arrivals, and the gap against the roster. Pure.

- **Short-SLA work** (SLA at most ``short_sla_hours``): Erlang C by ``pyworkforce`` (a maintained
  workforce library; the twin's own ``simulator.erlang`` is below serving's floor and only checks the
  twin), target answer time and service level from the policy, occupancy capped.
- **Back-office work** (longer SLAs): the flow model, work per hour = inflow + backlog / hours to its
  SLA, in staff-hours, divided by the occupancy cap.
- Both are then grossed up for shrinkage: ``scheduled = raw / (1 - shrinkage)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StaffingPolicy:
    """Planning assumptions (the textbook defaults)."""

    shrinkage: float = 0.30
    max_occupancy: float = 0.85
    service_level: float = 0.80
    target_seconds: float = 20.0
    short_sla_hours: float = 1.0


def erlang_c_positions(
    arrivals: float, aht_minutes: float, interval_minutes: float, policy: StaffingPolicy
) -> tuple[int, int]:
    """(raw, scheduled) positions for ``arrivals`` in one interval: Erlang C meeting the service level
    within the target answer time under the occupancy cap, then shrinkage."""
    from pyworkforce.queuing import ErlangC

    if arrivals <= 0:
        return 0, 0
    erlang = ErlangC(
        transactions=arrivals,
        aht=aht_minutes,
        asa=policy.target_seconds / 60.0,
        interval=interval_minutes,
        shrinkage=policy.shrinkage,
    )
    found = erlang.required_positions(service_level=policy.service_level, max_occupancy=policy.max_occupancy)
    return int(found["raw_positions"]), int(found["positions"])


def flow_staff(
    backlog_minutes: float, days_to_sla: float, inflow_minutes_per_day: float, hours_per_day: float
) -> float:
    """People needed per day by the back-office flow model: (backlog / days to SLA + daily inflow) of
    work, over the productive hours one person gives a day."""
    if days_to_sla <= 0 or hours_per_day <= 0:
        raise ValueError("days_to_sla and hours_per_day must be positive")
    return (backlog_minutes / days_to_sla + inflow_minutes_per_day) / 60.0 / hours_per_day


def hourly_needed(
    arrivals: pd.DataFrame,
    aht: pd.DataFrame,
    sla_hours: dict[str, float],
    backlog: pd.DataFrame,
    policy: StaffingPolicy,
) -> pd.DataFrame:
    """Raw staff per province and hour before shrinkage (``start, province_id, flow, erlang``).

    ``arrivals``: ``start`` (hour), ``province_id``, ``task_type``, ``expected`` (tasks in the hour);
    ``aht``: ``province_id, task_type, aht_minutes``; ``backlog``: open tasks now per province and type
    (``province_id, task_type, open``), drained evenly over the hours to their SLA."""
    rows = arrivals.merge(aht, on=["province_id", "task_type"], how="left")
    rows["aht_minutes"] = rows["aht_minutes"].fillna(rows["aht_minutes"].mean()).fillna(30.0)
    rows["sla_hours"] = rows["task_type"].map(sla_hours).fillna(24.0)
    short = rows["sla_hours"] <= policy.short_sla_hours
    long_rows = rows[~short]
    work = (
        (long_rows["expected"] * long_rows["aht_minutes"] / 60.0)
        .groupby([long_rows["start"], long_rows["province_id"]])
        .sum()
    )
    raw = work / policy.max_occupancy
    hours = pd.Series(sorted(rows["start"].unique()))
    if not backlog.empty and len(hours):
        b = backlog.merge(aht, on=["province_id", "task_type"], how="left")
        b["aht_minutes"] = b["aht_minutes"].fillna(30.0)
        b["sla_hours"] = b["task_type"].map(sla_hours).fillna(24.0)
        b = b[b["sla_hours"] > policy.short_sla_hours]
        for r in b.itertuples():
            span = max(1, math.ceil(r.sla_hours))
            per_hour = r.open * r.aht_minutes / 60.0 / span / policy.max_occupancy
            for start in hours[:span]:
                raw.loc[(start, r.province_id)] = raw.get((start, r.province_id), 0.0) + per_hour
    short_raw = pd.Series(0.0, index=raw.index)
    for r in rows[short].itertuples():
        positions, _ = erlang_c_positions(r.expected, r.aht_minutes, 60.0, policy)
        key = (r.start, r.province_id)
        short_raw.loc[key] = short_raw.get(key, 0.0) + positions
    out = pd.concat([raw.rename("flow"), short_raw.rename("erlang")], axis=1).fillna(0.0).reset_index()
    out.columns = ["start", "province_id", "flow", "erlang"]
    return out.sort_values(["start", "province_id"]).reset_index(drop=True)


def into_shifts(raw: pd.DataFrame, rostered: pd.DataFrame, zone: str) -> pd.DataFrame:
    """Back-office work waits for the shift: each province's day of flow work (staff-hours) is spread
    over the hours its roster works that local day, in proportion to the arrivals within them (evenly
    when none arrive then); a day the roster does not work keeps the work where it arrives."""
    out = raw.merge(rostered, on=["start", "province_id"], how="left").fillna({"rostered": 0.0})
    day = pd.to_datetime(out["start"], utc=True).dt.tz_convert(zone).dt.floor("D")
    keys = [out["province_id"], day]
    working = out["rostered"] > 0
    total = out["flow"].groupby(keys).transform("sum")
    inside = out["flow"].where(working, 0.0).groupby(keys).transform("sum")
    hours = working.astype(float).groupby(keys).transform("sum")
    weight = np.where(
        inside > 0,
        out["flow"].where(working, 0.0) / inside.where(inside > 0, 1.0),
        working / hours.where(hours > 0, 1.0),
    )
    out["flow"] = np.where(hours > 0, total * weight, out["flow"])
    return out


def needed_and_gap(
    raw: pd.DataFrame, rostered: pd.DataFrame, zone: str, policy: StaffingPolicy
) -> pd.DataFrame:
    """``start, province_id, needed, rostered, gap``: people (shrinkage included, rounded up) against the
    roster's heads, ``gap = rostered - needed`` (< 0: short)."""
    out = into_shifts(raw, rostered, zone)
    out["needed"] = np.maximum(np.ceil((out["flow"] + out["erlang"]) / (1.0 - policy.shrinkage) - 1e-9), 0.0)
    out["gap"] = out["rostered"] - out["needed"]
    cols = ["start", "province_id", "needed", "rostered", "gap"]
    return out[cols].sort_values(["start", "province_id"]).reset_index(drop=True)
