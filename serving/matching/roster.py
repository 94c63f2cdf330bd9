"""Roster-aware availability, pure: shift patterns and province calendars, overridden by fresh live status.

The roster: a worker's shift starts at ``shift_start_hour`` local time on a day whose weekday is in
``work_days`` (Monday = 0) and on which the province is open (its business calendar: weekends only
when ``works_weekends``, no listed holiday), and lasts ``shift_hours`` (possibly past midnight; elapsed
hours, so a DST change does not stretch it). The calendar's opening hours do not clip a shift: they
describe the counter, not the back office (the twin's shifts run past them too).

Availability at ``t`` (:func:`resolve`): a live status (``POST /workers/status``) decides while it is
fresh (at most ``ttl_seconds`` old); when it is stale, the roster decides; a worker without a roster
row keeps its last status (``last_status``), or is assumed on shift when it has none (``assumed``).
Each worker's deciding source is reported. ``minutes_left`` is the time to the end of the rostered
shift in progress (NaN when the roster has no shift in progress: off shift, or on shift by live status
outside the roster, where the end is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

SOURCES: tuple[str, ...] = ("live", "roster", "last_status", "assumed")
FUTURE_SKEW_SECONDS = 60.0  # a status stamped this far ahead of the clock still counts (clock skew)


@dataclass(frozen=True)
class Calendar:
    """A province's business calendar (the contract's ``provinces`` columns, plus holidays)."""

    timezone: str
    workday_start_hour: int = 0
    workday_end_hour: int = 24
    works_weekends: bool = True
    holidays: frozenset[date] = frozenset()

    def is_open_day(self, day: date) -> bool:
        """Whether the province works on that local date."""
        return (self.works_weekends or day.weekday() < 5) and day not in self.holidays

    def is_open(self, t: datetime) -> bool:
        """Whether the province is within its opening hours at ``t``."""
        local = t.astimezone(ZoneInfo(self.timezone))
        hour = local.hour + local.minute / 60
        return self.is_open_day(local.date()) and self.workday_start_hour <= hour < self.workday_end_hour


def parse_work_days(digits: str) -> np.ndarray:
    """``"01234"`` -> bool[7], Monday first (the contract validates the digits)."""
    out = np.zeros(7, dtype=bool)
    for ch in str(digits):
        if ch.isdigit() and int(ch) < 7:
            out[int(ch)] = True
    return out


@dataclass(frozen=True)
class RosterShifts:
    """Per worker at one instant: rostered on shift, and when that shift ends (epoch seconds, NaN)."""

    on_shift: np.ndarray
    shift_end: np.ndarray


@dataclass(frozen=True)
class Roster:
    """Shift patterns aligned with a pool (one row per worker; ``known`` False: no roster row)."""

    province_ids: np.ndarray
    start_hour: np.ndarray
    shift_hours: np.ndarray
    work_days: np.ndarray  # (m, 7) bool, Monday first
    known: np.ndarray
    calendars: Mapping[str, Calendar] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.province_ids)

    @classmethod
    def from_frames(
        cls, worker_ids: Sequence[str] | np.ndarray, workers: pd.DataFrame, provinces: pd.DataFrame
    ) -> Roster:
        """The roster of ``worker_ids`` from the contract's ``workers`` and ``provinces`` frames; a worker
        without a row, or whose province has no calendar, is ``known=False``."""
        calendars = {
            str(r["province_id"]): Calendar(
                str(r["timezone"]),
                int(r["workday_start_hour"]),
                int(r["workday_end_hour"]),
                bool(r["works_weekends"]),
            )
            for r in provinces.to_dict("records")
        }
        rows = workers.drop_duplicates("worker_id", keep="last")
        rows = rows.set_index(rows["worker_id"].astype(str)).reindex([str(w) for w in worker_ids])
        prov = rows["province_id"].astype(object).to_numpy()
        known = rows["shift_start_hour"].notna().to_numpy() & np.isin(prov.astype(str), list(calendars))
        none = np.zeros(7, dtype=bool)
        pairs = zip(rows["work_days"], known, strict=True)
        days = np.array([parse_work_days(d) if k else none for d, k in pairs])
        return cls(
            province_ids=prov,
            start_hour=rows["shift_start_hour"].fillna(0).to_numpy(np.int64),
            shift_hours=rows["shift_hours"].fillna(0).to_numpy(np.int64),
            work_days=days.reshape(len(rows), 7),
            known=known,
            calendars=calendars,
        )

    def at(self, t: datetime) -> RosterShifts:
        """Who the roster puts on shift at ``t`` and when their shift ends. Shifts start and end on a
        local whole hour, and every time zone is a whole number of quarter hours from UTC: the answer
        is the same within a UTC quarter hour, so the last one is kept (every /rank asks)."""
        quarter = int(t.timestamp() // 900)
        held = self.__dict__.get("_last_at")
        if held is not None and held[0] == quarter:
            return held[1]  # type: ignore[no-any-return]
        got = self._at(t)
        object.__setattr__(self, "_last_at", (quarter, got))  # a cache on a frozen dataclass
        return got

    def _at(self, t: datetime) -> RosterShifts:
        m = len(self)
        on = np.zeros(m, dtype=bool)
        end = np.full(m, np.nan)
        now = t.timestamp()
        prov = self.province_ids.astype(str)
        for pid in np.unique(prov[self.known]):
            cal = self.calendars[pid]
            zone = ZoneInfo(cal.timezone)
            today = t.astimezone(zone).date()
            in_p = self.known & (prov == pid)
            for day in (today - timedelta(days=1), today):  # a shift in progress started today or yesterday
                if not cal.is_open_day(day):
                    continue
                works = in_p & self.work_days[:, day.weekday()]
                for hour in np.unique(self.start_hour[works]):
                    rows = works & (self.start_hour == hour)
                    start = datetime(day.year, day.month, day.day, int(hour), tzinfo=zone).timestamp()
                    stop = start + self.shift_hours[rows] * 3600.0
                    hit = (start <= now) & (now < stop)
                    idx = np.flatnonzero(rows)[hit]
                    on[idx] = True
                    end[idx] = stop[hit]
        return RosterShifts(on, end)


@dataclass(frozen=True)
class Availability:
    """Per worker: on shift, minutes left in the rostered shift (NaN: unknown), deciding source."""

    on_shift: np.ndarray
    minutes_left: np.ndarray
    source: np.ndarray  # int8 index into SOURCES

    def counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Workers by deciding source (every source present, zeros included), over ``mask`` if given."""
        src = self.source if mask is None else self.source[np.asarray(mask, dtype=bool)]
        bins = np.bincount(src, minlength=len(SOURCES))
        return {name: int(bins[i]) for i, name in enumerate(SOURCES)}

    def source_of(self, i: int) -> str:
        return SOURCES[int(self.source[i])]


def live_only(on_shift: np.ndarray) -> Availability:
    """Availability decided by the given live flags alone (no roster, no shift end)."""
    on = np.asarray(on_shift, dtype=bool)
    return Availability(on, np.full(len(on), np.nan), np.zeros(len(on), dtype=np.int8))


def resolve(
    t: datetime,
    status_on: np.ndarray,
    status_at: np.ndarray | None,
    roster: Roster | None,
    ttl_seconds: float,
) -> Availability:
    """Availability at ``t`` (see the module docstring). ``status_at``: epoch seconds of each worker's
    last status (NaN: none); ``None`` means every status is fresh (a caller that pushes them itself)."""
    status_on = np.asarray(status_on, dtype=bool)
    m = len(status_on)
    if status_at is None:
        fresh = np.ones(m, dtype=bool)
        has_status = fresh
    else:
        at = np.asarray(status_at, dtype=float)
        age = t.astimezone(UTC).timestamp() - at
        has_status = ~np.isnan(at)
        fresh = has_status & (age <= ttl_seconds) & (age >= -FUTURE_SKEW_SECONDS)
    if roster is None:
        shifts = RosterShifts(np.zeros(m, dtype=bool), np.full(m, np.nan))
        known = np.zeros(m, dtype=bool)
    else:
        if len(roster) != m:
            raise ValueError(f"roster has {len(roster)} rows for {m} workers")
        shifts, known = roster.at(t), roster.known
    source = np.select(
        [fresh, known, has_status],
        [SOURCES.index("live"), SOURCES.index("roster"), SOURCES.index("last_status")],
        SOURCES.index("assumed"),
    ).astype(np.int8)
    on = np.where(fresh, status_on, np.where(known, shifts.on_shift, np.where(has_status, status_on, True)))
    left = (shifts.shift_end - t.timestamp()) / 60.0
    left = np.where(on & shifts.on_shift, left, np.nan)
    return Availability(on.astype(bool), left, source)
