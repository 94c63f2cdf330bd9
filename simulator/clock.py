"""Simulation time: float minutes since the scenario start (UTC), and conversion to timestamps."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from simulator.scenario import ScenarioConfig

MINUTES_PER_DAY = 1440.0


def to_timestamps(config: ScenarioConfig, minutes: np.ndarray) -> pd.DatetimeIndex:
    """UTC-aware timestamps (microsecond resolution) for simulation minutes; NaN gives NaT."""
    m = np.asarray(minutes, dtype=float)
    start_us = pd.Timestamp(config.start_utc).value // 1000
    us = np.where(np.isnan(m), 0, np.round(m * 60e6)).astype(np.int64) + start_us
    out = pd.to_datetime(us, unit="us", utc=True)
    return pd.DatetimeIndex(out.where(~np.isnan(m)))  # NaT where masked (the index's missing value)


def to_minutes(config: ScenarioConfig, timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Simulation minutes for UTC-aware timestamps."""
    ts = pd.to_datetime(timestamps, utc=True)
    delta = ts - pd.Timestamp(config.start_utc)
    return np.asarray(delta / pd.Timedelta(minutes=1), dtype=float)


def end_of(config: ScenarioConfig, days: float, start_day: float = 0.0) -> pd.Timestamp:
    """Timestamp of the end of a simulated period."""
    return pd.Timestamp(config.start_utc) + pd.Timedelta(days=start_day + days)


def anchored(config: ScenarioConfig, days: float, end: dt.datetime) -> tuple[ScenarioConfig, int, float]:
    """The scenario moved so that a history of at least ``days`` ends at ``end`` (e.g. now).

    Returns ``(config, whole_days, end_minute)``: the start becomes the Monday local midnight (in the
    scenario's own zone) on or before ``end - days``; arrivals are drawn for ``whole_days`` and cut at
    ``end_minute``, so the history's last day is ``end``'s and its open tasks are open at ``end``.
    """
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    zone = config.start.tzinfo
    first = (end - dt.timedelta(days=days)).astimezone(zone).date()
    monday = first - dt.timedelta(days=first.weekday())
    start = dt.datetime.combine(monday, dt.time(0, 0), tzinfo=zone)
    moved = config.model_copy(update={"start": start})
    end_minute = (end - start).total_seconds() / 60.0
    return moved, math.ceil(end_minute / MINUTES_PER_DAY), end_minute
