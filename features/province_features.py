"""Hourly province status snapshots (backlog, staffing, arrivals, business calendar), pure and vectorised.

A snapshot at ``s`` uses events strictly before ``s``. Staff on shift comes from the latest worker_status
row of each worker before ``s`` when the log has any status rows; otherwise from the shift pattern.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.spec import ARRIVAL_WINDOW_HOURS, EVENT_TS, PROVINCE_STATUS
from features.windows import HOUR, from_us, ratio, to_us, window_sums


def _codes(values: pd.Series, categories: np.ndarray) -> np.ndarray:
    return pd.Categorical(values.astype(str), categories=categories).codes.astype(np.int64)


def _local(snaps: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray]:
    local = from_us(snaps).tz_convert(zone)
    return local.hour.to_numpy(), local.weekday.to_numpy()


def business_open(start_hour: int, end_hour: int, works_weekends: bool, hour: Any, weekday: Any) -> Any:
    """The business calendar: open from ``start_hour`` to ``end_hour`` local time, Monday to Friday
    (every day when it works weekends)."""
    return (start_hour <= hour) & (hour < end_hour) & (bool(works_weekends) | (weekday < 5))


def backlog_per_staff(backlog: Any, staff_on_shift: Any) -> np.ndarray:
    """Backlog over the staff on shift, counting at least one."""
    return ratio(backlog, np.maximum(np.asarray(staff_on_shift, dtype=float), 1.0))


def scheduled_on_shift(workers: pd.DataFrame, hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """``(n_workers, n_times)`` bool: does the shift pattern put the worker on shift at that local time.

    A shift starts at ``shift_start_hour`` on a day in ``work_days`` and lasts ``shift_hours``, possibly
    past midnight.
    """
    start = workers["shift_start_hour"].to_numpy(np.int64)[:, None]
    end = start + workers["shift_hours"].to_numpy(np.int64)[:, None]
    days = np.zeros((len(workers), 7), dtype=bool)
    for i, digits in enumerate(workers["work_days"].astype(str)):
        for ch in digits:
            if ch.isdigit() and int(ch) < 7:
                days[i, int(ch)] = True
    today = days[:, weekday] & (start <= hour[None, :]) & (hour[None, :] < end)
    overnight = days[:, (weekday - 1) % 7] & (hour[None, :] + 24 < end)
    return today | overnight


def build_province_status(events: dict[str, pd.DataFrame], snaps: np.ndarray) -> pd.DataFrame:
    """Province status at each snapshot time (int64 µs)."""
    provinces = events["provinces"].sort_values("province_id", kind="stable").reset_index(drop=True)
    pids = provinces["province_id"].astype(str).to_numpy()
    n_p, n_s = len(pids), len(snaps)
    tasks = events["tasks"]
    t_prov = pd.Series(_codes(tasks["province_id"], pids), index=tasks["task_id"].astype(str))

    created = window_sums(t_prov.to_numpy(), to_us(tasks["created_at"]), None, n_p, snaps, None)
    arrivals = window_sums(
        t_prov.to_numpy(), to_us(tasks["created_at"]), None, n_p, snaps, ARRIVAL_WINDOW_HOURS * HOUR
    )
    comp = events["completions"]
    c_prov = t_prov.reindex(comp["task_id"].astype(str)).fillna(-1).to_numpy(np.int64)
    c_ok = c_prov >= 0
    completed = window_sums(c_prov[c_ok], to_us(comp["completed_at"])[c_ok], None, n_p, snaps, None)
    asg = events["assignments"]
    first = asg.assign(_t=to_us(asg["assigned_at"])).groupby(asg["task_id"].astype(str))["_t"].min()
    a_prov = t_prov.reindex(first.index).fillna(-1).to_numpy(np.int64)
    a_ok = a_prov >= 0
    assigned = window_sums(a_prov[a_ok], first.to_numpy()[a_ok], None, n_p, snaps, None)

    workers = events["workers"].reset_index(drop=True)
    w_prov = _codes(workers["province_id"], pids)
    hired = to_us(workers["hired_at"])
    eligible = workers["active"].astype(bool).to_numpy()[:, None] & (hired[:, None] <= snaps[None, :])
    scheduled = np.zeros((n_p, n_s))
    is_open = np.zeros((n_p, n_s), dtype=bool)
    for p in range(n_p):
        row = provinces.iloc[p]
        hour, weekday = _local(snaps, str(row["timezone"]))
        is_open[p] = business_open(
            row["workday_start_hour"], row["workday_end_hour"], row["works_weekends"], hour, weekday
        )
        sel = w_prov == p
        if sel.any():
            on = scheduled_on_shift(workers[sel], hour, weekday) & eligible[sel]
            scheduled[p] = on.sum(0)

    on_shift = _status_on_shift(events["worker_status"], workers, w_prov, n_p, snaps)
    if on_shift is None:
        on_shift = scheduled
    backlog = created - completed
    si = np.repeat(np.arange(n_s), n_p)  # snapshot-major rows
    pi = np.tile(np.arange(n_p), n_s)
    out = pd.DataFrame(
        {
            "province_id": pids[pi],
            EVENT_TS: from_us(snaps[si]),
            "prov_backlog": backlog[pi, si].round().astype(np.int64),
            "prov_unassigned": (created - assigned)[pi, si].round().astype(np.int64).clip(min=0),
            "prov_staff_on_shift": on_shift[pi, si].round().astype(np.int64),
            "prov_staff_scheduled": scheduled[pi, si].round().astype(np.int64),
            "prov_arrival_rate": arrivals[pi, si] / ARRIVAL_WINDOW_HOURS,
            "prov_backlog_per_staff": backlog_per_staff(backlog[pi, si], on_shift[pi, si]),
            "prov_is_open": is_open[pi, si],
        }
    )
    return out[PROVINCE_STATUS.columns]


def _status_on_shift(
    status: pd.DataFrame, workers: pd.DataFrame, w_prov: np.ndarray, n_p: int, snaps: np.ndarray
) -> np.ndarray | None:
    """Workers on shift per province from the status log (state changes as +1/-1 deltas), or None."""
    if status is None or not len(status):
        return None
    w_idx = pd.Categorical(
        status["worker_id"].astype(str), categories=workers["worker_id"].astype(str).to_numpy()
    ).codes.astype(np.int64)
    ok = w_idx >= 0
    w_idx, t = w_idx[ok], to_us(status["at"])[ok]
    on = status["on_shift"].astype(bool).to_numpy()[ok].astype(float)
    o = np.lexsort((t, w_idx))
    w_idx, t, on = w_idx[o], t[o], on[o]
    prev = np.r_[0.0, on[:-1]]
    prev[np.r_[True, w_idx[1:] != w_idx[:-1]]] = 0.0
    delta = on - prev
    prov = w_prov[w_idx]
    keep = prov >= 0
    return window_sums(prov[keep], t[keep], delta[keep], n_p, snaps, None)
