"""What ``GET /forecast`` and ``GET /staffing`` read: the stored forecast, the roster, the backlog.

The forecast is made by the retrain loop (``training.forecast_run``) into ``<data_dir>/planning``; this
module reads it (cached by file time), filters it, sums its 30-minute rows into hours, sets the staff
needed against the roster's heads per province and hour, and words the sharing recommendations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from opsmatch import events
from opsmatch.settings import Settings
from serving.errors import ApiError
from serving.matching.roster import Roster
from serving.planning.needs import StaffingPolicy, hourly_needed, needed_and_gap
from serving.planning.sharing import recommendations
from training.arrival_counts import counts_since
from training.forecast import poisson_band

FORECAST_FILE, INPUTS_FILE = "forecast.parquet", "inputs.json"
KEY = ["start", "province_id", "task_type"]


@dataclass(frozen=True)
class Stored:
    forecast: pd.DataFrame
    inputs: dict[str, Any]


def _dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "planning"


@lru_cache(maxsize=4)
def _read(path: str, stamp: float) -> Stored:
    folder = Path(path)
    return Stored(pd.read_parquet(folder / FORECAST_FILE), json.loads((folder / INPUTS_FILE).read_text()))


def stored(settings: Settings) -> Stored:
    """The newest stored forecast; 404 ``forecast_unavailable`` before the first one is made."""
    folder = _dir(settings)
    try:
        stamp = (folder / FORECAST_FILE).stat().st_mtime + (folder / INPUTS_FILE).stat().st_mtime
    except FileNotFoundError:
        raise ApiError(
            404,
            "no forecast yet: run `opsmatch forecast make` (the retrain loop makes one daily)",
            kind="forecast_unavailable",
        ) from None
    return _read(str(folder), stamp)


def check_range(start: datetime | None, end: datetime | None) -> None:
    """``from`` must come before ``to`` (422 naming ``to``)."""
    if start is not None and end is not None and end <= start:
        raise ApiError(422, "`to` must be after `from`", loc=["query", "to"])


def forecast_rows(
    settings: Settings,
    province_id: str | None,
    task_type: str | None,
    start: datetime | None,
    end: datetime | None,
) -> pd.DataFrame:
    """30-minute forecast rows (``start, province_id, task_type, expected, low, high``), filtered."""
    check_range(start, end)
    fc = stored(settings).forecast
    mask = np.ones(len(fc), dtype=bool)
    if province_id is not None:
        mask &= (fc["province_id"] == province_id).to_numpy()
    if task_type is not None:
        mask &= (fc["task_type"] == task_type).to_numpy()
    if start is not None:
        mask &= (fc["start"] >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        mask &= (fc["start"] < pd.Timestamp(end)).to_numpy()
    rows = fc.loc[mask, [c for c in fc.columns if not c.endswith("_rate")]].reset_index(drop=True)
    return rows.merge(actuals(settings, pd.Timestamp(stored(settings).inputs["origin"])), on=KEY, how="left")


def window_band(
    settings: Settings, province_id: str, start: datetime, end: datetime
) -> tuple[float, float, float] | None:
    """A province's forecast arrivals in ``[start, end)`` as ``(expected, low, high)``, the interval at
    the forecast's level for the window as a whole (what the arrivals alert sets the count against);
    None before a forecast exists or outside its horizon."""
    try:
        s = stored(settings)
    except ApiError:
        return None
    fc = s.forecast
    rows = fc[
        (fc["province_id"] == province_id)
        & (fc["task_type"] == "all")
        & (fc["start"] >= pd.Timestamp(start))
        & (fc["start"] < pd.Timestamp(end))
    ]
    if rows.empty:
        return None
    expected = float(rows["expected"].sum())
    if "low_rate" not in rows:  # a forecast stored before the rates were: the bounds' sums (wider)
        return expected, float(rows["low"].sum()), float(rows["high"].sum())
    level = int(s.inputs["spec"].get("level", 80))
    low, high = poisson_band(expected, float(rows["low_rate"].sum()), float(rows["high_rate"].sum()), level)
    return expected, float(low), float(high)


def actuals(settings: Settings, origin: pd.Timestamp) -> pd.DataFrame:
    """Arrivals so far since the forecast's origin at every level (``start, province_id, task_type,
    actual``): what the forecast is set against."""
    bottom = counts_since(settings, origin)
    prov = bottom.groupby(["start", "province_id"], as_index=False)["actual"].sum().assign(task_type="all")
    nation = (
        bottom.groupby("start", as_index=False)["actual"].sum().assign(province_id="all", task_type="all")
    )
    out = pd.concat([bottom, prov, nation], ignore_index=True)
    return out.astype({"actual": "float64"})


@lru_cache(maxsize=2)
def _roster(events_url: str, version: int) -> tuple[Roster, dict[str, str]]:
    workers = events.read_table(events_url, "workers")
    workers = workers[workers["active"].fillna(True).astype(bool)].drop_duplicates("worker_id", keep="last")
    provinces = events.read_table(events_url, "provinces").drop_duplicates("province_id", keep="last")
    roster = Roster.from_frames(workers["worker_id"].to_numpy(), workers, provinces)
    return roster, dict(zip(provinces["province_id"], provinces["name"], strict=True))


def rostered(settings: Settings, hours: list[pd.Timestamp]) -> pd.DataFrame:
    """Heads on shift per province at each hour's middle (``start, province_id, rostered``)."""
    roster, _ = _roster(settings.resolved_events_url, events.current_version(settings))
    prov = roster.province_ids.astype(str)
    rows = []
    for hour in hours:
        on = roster.at((hour + pd.Timedelta(minutes=30)).to_pydatetime()).on_shift
        counts = pd.Series(on.astype(int)).groupby(prov).sum()
        rows += [{"start": hour, "province_id": p, "rostered": float(n)} for p, n in counts.items()]
    return pd.DataFrame(rows, columns=["start", "province_id", "rostered"])


def backlog(task_book: Any) -> pd.DataFrame:
    """Open tasks per province and type now (``province_id, task_type, open``) from the task book."""
    rows = [(t.province_id, t.task_type) for _, t in task_book.open_tasks()]
    frame = pd.DataFrame(rows, columns=["province_id", "task_type"])
    return frame.groupby(["province_id", "task_type"]).size().rename("open").reset_index()


def _day_end(at: pd.Timestamp, zone: str) -> pd.Timestamp:
    """The next local midnight after ``at`` in ``zone`` (``at`` itself when it is one)."""
    local = at.tz_convert(zone)
    return local if local == local.normalize() else local.normalize() + pd.DateOffset(days=1)


def staffing(
    settings: Settings,
    province_id: str | None,
    start: datetime | None,
    end: datetime | None,
    policy: StaffingPolicy = StaffingPolicy(),
    open_tasks: pd.DataFrame | None = None,
    limit: int = 50,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Hourly ``start, province_id, needed, rostered, gap`` and the sharing recommendations."""
    check_range(start, end)
    s = stored(settings)
    fc = s.forecast
    bottom = fc[(fc["province_id"] != "all") & (fc["task_type"] != "all")]
    hourly = bottom.assign(start=bottom["start"].dt.floor("h"))
    hourly = hourly.groupby(["start", "province_id", "task_type"], as_index=False)["expected"].sum()
    if start is not None:
        hourly = hourly[hourly["start"] >= pd.Timestamp(start) - timedelta(minutes=59)]
    if end is not None:  # to the end of its local day: the day's work waits for the day's shifts
        hourly = hourly[hourly["start"] < _day_end(pd.Timestamp(end), s.inputs["zone"])]
    if hourly.empty:  # a window outside the forecast
        return pd.DataFrame(columns=["start", "province_id", "needed", "rostered", "gap"]), []
    aht = pd.DataFrame(s.inputs["aht"], columns=["province_id", "task_type", "aht_minutes"])
    needed = hourly_needed(
        hourly,
        aht,
        s.inputs["sla_hours"],
        open_tasks if open_tasks is not None else pd.DataFrame(columns=["province_id", "task_type", "open"]),
        policy,
    )
    hours = sorted(needed["start"].unique())
    gaps = needed_and_gap(
        needed, rostered(settings, [pd.Timestamp(h) for h in hours]), s.inputs["zone"], policy
    )
    if end is not None:
        gaps = gaps[gaps["start"] < pd.Timestamp(end)]
    _, names = _roster(settings.resolved_events_url, events.current_version(settings))
    recs = recommendations(gaps, names, zone=s.inputs["zone"], limit=limit)
    if province_id is not None:
        gaps = gaps[gaps["province_id"] == province_id]
        recs = [r for r in recs if r["province_id"] == province_id or province_id in r["lenders"]]
    return gaps.reset_index(drop=True), recs
