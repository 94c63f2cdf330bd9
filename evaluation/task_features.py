"""Task records for simulated tasks, built the way the service builds an inline task.

Task profile: ``features.entity_features.build_task_profile`` (what ``FeastTaskSource.enrich`` calls).
Customer: the contract's customer row given inline (``serving.runtime.components.CUSTOMER_FIELDS``), with
``cust_tasks_so_far`` counted in the period at the task's creation and ``cust_complaints_so_far`` = 0
(complaints of the period are drawn after the replay, so none is known while it runs), and
``cust_contacts_so_far`` = 0 (the twin's risk team works after the replay, ``simulator.risk_team``).
Province status: recomputed every simulated hour from the live state of the replay, with the definitions of
``features.province_features`` (backlog = arrived and not completed, unassigned = pending, staff on shift,
staff scheduled by shift pattern, arrivals per hour over the last 4 hours, business calendar).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from features.entity_features import build_task_profile
from features.province_features import backlog_per_staff, business_open, scheduled_on_shift
from features.spec import ARRIVAL_WINDOW_HOURS
from opsmatch.contract import TABLES
from serving.protocols import TaskRecord
from serving.runtime.components import CUSTOMER_FIELDS
from simulator.state import DONE, PENDING, SimView

CONTRACT_TASK_COLUMNS: tuple[str, ...] = tuple(TABLES["tasks"].column_names)


class ProvinceLive:
    """Province-status features of every province, refreshed when the simulated hour changes."""

    def __init__(self, view: SimView) -> None:
        self.view = view
        cfg, wf = view.config, view.workforce
        n_p = view.n_provinces
        self.origin = [cfg.local_origin(p) for p in range(n_p)]
        self.w_prov = np.asarray(wf.province)
        self.t_prov = np.asarray(view.task_province)
        self.t_created = np.asarray(view.task_created)
        provinces = wf.provinces.reset_index(drop=True)
        hours, days = np.tile(np.arange(24), 7), np.repeat(np.arange(7), 24)
        self.scheduled = np.zeros((n_p, 7, 24), dtype=np.int64)  # by local weekday and hour
        self.open = np.zeros((n_p, 7, 24), dtype=bool)
        for p in range(n_p):
            members = wf.workers[self.w_prov == p]
            if len(members):
                self.scheduled[p] = scheduled_on_shift(members, hours, days).sum(0).reshape(7, 24)
            row = provinces.iloc[p]
            self.open[p] = business_open(
                row["workday_start_hour"], row["workday_end_hour"], row["works_weekends"], hours, days
            ).reshape(7, 24)
        self.hour: int | None = None
        self.rows: list[dict[str, Any]] = []

    def features(self, province: int) -> dict[str, Any]:
        """The province's status row for the current simulated hour."""
        hour = int(self.view.now // 60)
        if hour != self.hour:
            self._refresh(hour)
        return self.rows[province]

    def _refresh(self, hour: int) -> None:
        v, n_p = self.view, self.view.n_provinces
        arrived = int(np.searchsorted(self.t_created, v.now, side="right"))
        state = np.asarray(v.task_state[:arrived])
        prov = self.t_prov[:arrived]
        backlog = np.bincount(prov[state != DONE], minlength=n_p)
        unassigned = np.bincount(prov[state == PENDING], minlength=n_p)
        recent = self.t_created[:arrived] >= v.now - ARRIVAL_WINDOW_HOURS * 60
        rate = np.bincount(prov[recent], minlength=n_p) / ARRIVAL_WINDOW_HOURS
        on = np.bincount(self.w_prov[np.asarray(v.worker_on_shift, dtype=bool)], minlength=n_p)
        rows = []
        for p in range(n_p):
            m0, wd0 = self.origin[p]
            local = int((m0 + v.now) // 60)
            hour_l, wd = local % 24, (wd0 + local // 24) % 7
            rows.append(
                {
                    "prov_backlog": int(backlog[p]),
                    "prov_unassigned": int(unassigned[p]),
                    "prov_staff_on_shift": int(on[p]),
                    "prov_staff_scheduled": int(self.scheduled[p, wd, hour_l]),
                    "prov_arrival_rate": float(rate[p]),
                    "prov_backlog_per_staff": float(backlog_per_staff(backlog[p], on[p])),
                    "prov_is_open": bool(self.open[p, wd, hour_l]),
                }
            )
        self.rows, self.hour = rows, hour


class TaskRecords:
    """``TaskRecord`` of any simulated task at the current simulated time (cached per hour)."""

    def __init__(self, view: SimView) -> None:
        tk = view.arrivals.tasks
        cu = view.arrivals.customers
        frame = tk[list(CONTRACT_TASK_COLUMNS)]
        profile = build_task_profile(frame, view.workforce.provinces)
        self.profile = profile.drop(columns=["task_id", "event_timestamp"]).to_dict("records")
        cust = cu.iloc[tk["cust"].to_numpy()].reset_index(drop=True)
        self.customer = pd.DataFrame({CUSTOMER_FIELDS[c]: cust[c].to_numpy() for c in CUSTOMER_FIELDS})
        self.customer["cust_tasks_so_far"] = tk.groupby("cust").cumcount().to_numpy() + 1
        self.customer["cust_complaints_so_far"] = 0
        self.customer["cust_contacts_so_far"] = 0  # the twin's risk team works after the replay
        self.customer_rows = self.customer.to_dict("records")
        self.created = pd.DatetimeIndex(pd.to_datetime(tk["created_at"], utc=True)).to_pydatetime()
        self.due = pd.DatetimeIndex(pd.to_datetime(tk["sla_due_at"], utc=True)).to_pydatetime()
        self.ids = tk["task_id"].astype(str).tolist()
        self.types = tk["task_type"].astype(str).tolist()
        self.provinces = tk["province_id"].astype(str).tolist()
        self.customers = tk["customer_id"].astype(str).tolist()
        self.channel = tk["channel"].astype(str).tolist()
        self.amount = tk["amount"].astype(float).tolist()
        self.complexity = tk["complexity"].astype(int).tolist()
        self.live = ProvinceLive(view)
        self.view = view
        self._cache: dict[int, tuple[int | None, TaskRecord]] = {}

    def record(self, task: int) -> TaskRecord:
        """The task with its profile, customer and current province features."""
        held = self._cache.get(task)
        self.live.features(0)  # refreshes the hour if needed
        if held is not None and held[0] == self.live.hour:
            return held[1]
        features = {
            **self.profile[task],
            **self.customer_rows[task],
            **self.live.features(self.view.task_province[task]),
        }
        rec = TaskRecord(
            task_id=self.ids[task],
            task_type=self.types[task],
            province_id=self.provinces[task],
            created_at=self.created[task],
            sla_due_at=self.due[task],
            complexity=self.complexity[task],
            customer_id=self.customers[task],
            channel=self.channel[task],
            amount=self.amount[task],
            features=features,
        )
        self._cache[task] = (self.live.hour, rec)
        return rec


def sim_datetime(view: SimView) -> dt.datetime:
    """The simulated ``now`` as a UTC datetime."""
    return view.config.start_utc + dt.timedelta(minutes=view.now)
