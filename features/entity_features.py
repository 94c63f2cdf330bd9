"""Event-driven feature tables: task profile, customer profile, and the batch side of the push views.

Each row's ``event_timestamp`` is the time its content became known, so a point-in-time join is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.request_time import last_qa_values
from features.spec import CUSTOMER_PROFILE, EVENT_TS, TASK_PROFILE, WORKER_LAST_QA, WORKER_STATUS
from features.windows import HOUR, from_us, to_us


def _ts(s: pd.Series) -> pd.Series:
    """UTC-aware microsecond timestamps with a fresh RangeIndex."""
    return pd.to_datetime(s, utc=True).astype("datetime64[us, UTC]").reset_index(drop=True)


def local_hour_weekday(at: pd.Series, tz: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Local hour and weekday (Monday=0) of UTC timestamps, each in its own IANA timezone."""
    at = pd.to_datetime(at, utc=True)
    hour = np.zeros(len(at), dtype=np.int64)
    weekday = np.zeros(len(at), dtype=np.int64)
    zones = tz.fillna("UTC").astype(str).to_numpy()
    for zone in np.unique(zones):
        sel = zones == zone
        local = at[sel].dt.tz_convert(zone)
        hour[sel] = local.dt.hour.to_numpy()
        weekday[sel] = local.dt.weekday.to_numpy()
    return hour, weekday


def build_task_profile(tasks: pd.DataFrame, provinces: pd.DataFrame) -> pd.DataFrame:
    """One row per task at its ``created_at``."""
    tz = (
        tasks["province_id"]
        .astype(str)
        .map(provinces.set_index(provinces["province_id"].astype(str))["timezone"].astype(str))
    )
    hour, weekday = local_hour_weekday(tasks["created_at"], tz)
    created = _ts(tasks["created_at"])
    due = _ts(tasks["sla_due_at"])
    out = pd.DataFrame(
        {
            "task_id": tasks["task_id"].astype(str).to_numpy(),
            EVENT_TS: created,
            "task_type_name": tasks["task_type"].astype(str).to_numpy(),
            "task_complexity": tasks["complexity"].astype(np.int64).to_numpy(),
            "task_channel": tasks["channel"].astype(str).to_numpy(),
            "task_log_amount": np.log1p(tasks["amount"].astype(float).clip(lower=0).to_numpy()),
            "task_province_id": tasks["province_id"].astype(str).to_numpy(),
            "task_sla_hours": ((to_us(due) - to_us(created)) / HOUR),
            "task_created_hour": hour,
            "task_created_weekday": weekday,
            "task_customer_id": tasks["customer_id"].astype(str).to_numpy(),
            # Whole seconds: Feast stores UnixTimestamp online at second precision; offline must match it.
            "task_created_at": created.dt.floor("s"),
            "task_sla_due_at": due.dt.floor("s"),
        }
    )
    return out[TASK_PROFILE.columns]


def build_customer_profile(
    customers: pd.DataFrame,
    tasks: pd.DataFrame,
    complaints: pd.DataFrame,
    start_us: int,
    interventions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Customer rows at the history start and at every task creation / complaint filing / risk-team
    contact for them.

    ``cust_tasks_so_far``, ``cust_complaints_so_far`` and ``cust_contacts_so_far`` count the events at
    or before the row's time.
    Static traits are taken as known from the history start (the contract does not version them).
    """
    ids = customers["customer_id"].astype(str).to_numpy()
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    cust = customers.iloc[order].reset_index(drop=True)
    t_idx = pd.Categorical(tasks["customer_id"].astype(str), categories=ids).codes.astype(np.int64)
    c_idx = pd.Categorical(complaints["customer_id"].astype(str), categories=ids).codes.astype(np.int64)
    contacts = interventions if interventions is not None else pd.DataFrame({"customer_id": [], "at": []})
    v_idx = pd.Categorical(contacts["customer_id"].astype(str), categories=ids).codes.astype(np.int64)
    t_ok, c_ok, v_ok = t_idx >= 0, c_idx >= 0, v_idx >= 0
    key = np.concatenate([np.arange(len(ids)), t_idx[t_ok], c_idx[c_ok], v_idx[v_ok]])
    t = np.concatenate(
        [
            np.full(len(ids), start_us, dtype=np.int64),
            to_us(tasks["created_at"])[t_ok],
            to_us(complaints["filed_at"])[c_ok],
            to_us(pd.to_datetime(contacts["at"], utc=True))[v_ok] if v_ok.any() else np.zeros(0, np.int64),
        ]
    )
    n0, nt, nc, nv = len(ids), int(t_ok.sum()), int(c_ok.sum()), int(v_ok.sum())
    d_task = np.concatenate([np.zeros(n0), np.ones(nt), np.zeros(nc + nv)])
    d_comp = np.concatenate([np.zeros(n0 + nt), np.ones(nc), np.zeros(nv)])
    d_cont = np.concatenate([np.zeros(n0 + nt + nc), np.ones(nv)])
    o = np.lexsort((t, key))
    key, t, d_task, d_comp, d_cont = key[o], t[o], d_task[o], d_comp[o], d_cont[o]
    # Cumulative counts within each customer: global cumsum minus the cumsum before the group start.
    first = np.r_[True, key[1:] != key[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
    n_task = _group_cumsum(d_task, group_start)
    n_comp = _group_cumsum(d_comp, group_start)
    n_cont = _group_cumsum(d_cont, group_start)
    # Several events at one instant: keep the row after all of them.
    last = np.r_[(key[1:] != key[:-1]) | (t[1:] != t[:-1]), True]
    key, t, n_task, n_comp, n_cont = key[last], t[last], n_task[last], n_comp[last], n_cont[last]
    out = pd.DataFrame(
        {
            "customer_id": ids[key],
            EVENT_TS: from_us(t),
            "cust_age_band": cust["age_band"].astype(str).to_numpy()[key],
            "cust_channel": cust["channel"].astype(str).to_numpy()[key],
            "cust_tenure_years": cust["tenure_years"].astype(float).to_numpy()[key],
            "cust_value_band": cust["policy_value_band"].astype(str).to_numpy()[key],
            "cust_vip": cust["vip"].astype(bool).to_numpy()[key],
            "cust_prior_complaints": cust["prior_complaints"].astype(np.int64).to_numpy()[key],
            "cust_complaints_so_far": n_comp.round().astype(np.int64),
            "cust_tasks_so_far": n_task.round().astype(np.int64),
            "cust_contacts_so_far": n_cont.round().astype(np.int64),
        }
    )
    return out[CUSTOMER_PROFILE.columns]


def _group_cumsum(d: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    cs = np.cumsum(d)
    before = np.r_[0.0, cs][group_start]
    return cs - before


def build_worker_status(status: pd.DataFrame) -> pd.DataFrame:
    """Batch rows of the live-status push view: the worker_status log, one row per (worker, at)."""
    out = pd.DataFrame(
        {
            "worker_id": status["worker_id"].astype(str).to_numpy(),
            EVENT_TS: _ts(status["at"]),
            "on_shift": status["on_shift"].astype(bool).to_numpy(),
            "open_tasks": status["open_tasks"].astype(np.int64).to_numpy(),
        }
    )
    return out[WORKER_STATUS.columns]


def build_worker_last_qa(qa: pd.DataFrame) -> pd.DataFrame:
    """Batch rows of the QA-outcome push view: one row per QA result at its ``checked_at``."""
    out = pd.DataFrame(
        {
            "worker_id": qa["worker_id"].astype(str).to_numpy(),
            EVENT_TS: _ts(qa["checked_at"]),
            **{
                feature: values.astype(bool) if WORKER_LAST_QA.dtype(feature) == "bool" else values
                for feature, values in last_qa_values(qa).items()
            },
        }
    )
    return out[WORKER_LAST_QA.columns]
