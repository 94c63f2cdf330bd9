"""Emergency scenario: one province's staff become unavailable mid-day (the ``snowstorm`` scenario).

The storm of ``simulator/scenarios/snowstorm.yaml`` (province, local hour, duration) is moved into the
evaluation period, on the first day after its start with the scenario's weekday, and the same arrivals
are replayed with and without it. ML policies put the province into emergency close at the event (the
PUT /policy change) and reopen it when the staff return.

Re-dispatch: the province's tasks pending at the event (created, not started: waiting or queued at its
staff) are re-dispatched when assigned, after the event, to a worker of another province. The
re-dispatch time is the time from the event until the last of them was; tasks that waited for the
province's own staff instead are *stranded*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.ml_policies import PolicyChange
from evaluation.replay import EvalPeriod, with_disruption
from evaluation.twin_service import ACTOR
from serving.api.schemas import PolicyUpdate
from simulator.engine import SimResult
from simulator.scenario import ScenarioConfig, load_scenario

STORM_SCENARIO = "snowstorm"


@dataclass(frozen=True)
class Storm:
    """A disruption placed in the evaluation period (times in simulation minutes)."""

    province: str  # province id
    index: int
    day: int
    hour: float
    duration_hours: float
    start_minute: float
    end_minute: float

    def config(self, base: ScenarioConfig) -> ScenarioConfig:
        """``base`` with this storm as its only disruption."""
        return with_disruption(base, self.province, self.day, self.hour, self.duration_hours)

    def policy_changes(self) -> list[PolicyChange]:
        """Emergency close at the event and reopen when the staff return, as PUT /policy bodies."""
        close = PolicyUpdate.model_validate(
            {"actor": ACTOR, "note": "snowstorm", "provinces": {self.province: {"closed": True}}}
        )
        reopen = PolicyUpdate.model_validate(
            {"actor": ACTOR, "note": "storm over", "provinces": {self.province: {"closed": False}}}
        )
        return [(self.start_minute, close.changes()), (self.end_minute, reopen.changes())]


def place_storm(period: EvalPeriod, scenario: str = STORM_SCENARIO) -> Storm:
    """The scenario's (first) disruption moved into ``period``: same weekday, hour and duration."""
    storm_cfg = load_scenario(scenario)
    if not storm_cfg.disruptions:
        raise ValueError(f"scenario {scenario!r} has no disruption")
    d = storm_cfg.disruptions[0]
    cfg = period.config
    p = cfg.province_index(d.province)
    first = period.arrivals.start_day + 1
    day = first + (d.day - first) % 7
    if day >= period.arrivals.start_day + period.arrivals.days:
        day = first
    m0 = cfg.local_origin(p)[0]
    start = day * 1440.0 + d.hour * 60.0 - m0
    return Storm(cfg.province_id(p), p, day, d.hour, d.duration_hours, start, start + d.duration_hours * 60.0)


def redispatch(
    assign_task: np.ndarray,
    assign_worker: np.ndarray,
    assign_at: np.ndarray,
    task_province: np.ndarray,
    task_created: np.ndarray,
    task_started: np.ndarray,
    worker_province: np.ndarray,
    province: int,
    event: float,
) -> dict[str, float]:
    """Re-dispatch figures of ``province``'s tasks pending at ``event`` (see the module docstring).

    Arrays: the assignment log (task, worker, time), per-task province, creation and start (NaN if never
    started), per-worker province. Returns pending_at_event, redispatched, stranded, redispatch_minutes
    (0 when nothing was pending, NaN when tasks were pending and none was re-dispatched) and
    all_redispatched (1.0/0.0).
    """
    started = np.asarray(task_started, dtype=float)
    pending = (
        (np.asarray(task_province) == province)
        & (np.asarray(task_created, dtype=float) <= event)
        & ~(started < event)
    )
    tasks = np.flatnonzero(pending)
    a_task = np.asarray(assign_task, dtype=int)
    a_at = np.asarray(assign_at, dtype=float)
    after = np.isin(a_task, tasks) & (a_at >= event)
    log = pd.DataFrame(
        {
            "task": a_task[after],
            "at": a_at[after],
            "elsewhere": np.asarray(worker_province)[np.asarray(assign_worker, dtype=int)[after]] != province,
        }
    )
    first = log.sort_values("at", kind="stable").drop_duplicates("task")
    moved = first[first["elsewhere"]]
    n, k = len(tasks), len(moved)
    return {
        "pending_at_event": float(n),
        "redispatched": float(k),
        "stranded": float(n - k),
        "redispatch_minutes": float(moved["at"].max() - event) if k else (0.0 if n == 0 else float("nan")),
        "all_redispatched": float(k == n),
    }


def storm_figures(result: SimResult, storm: Storm) -> dict[str, float]:
    """Re-dispatch figures of a replay plus the province's SLA attainment on tasks created in the storm."""
    tk = result.arrivals.tasks
    a = result.assignments
    out = redispatch(
        np.asarray(a["task"]),
        np.asarray(a["worker"]),
        np.asarray(a["at"]),
        tk["p"].to_numpy(),
        tk["t"].to_numpy(),
        result.started,
        result.workforce.province,
        storm.index,
        storm.start_minute,
    )
    in_storm = (
        (tk["p"].to_numpy() == storm.index)
        & (tk["t"].to_numpy() >= storm.start_minute)
        & (tk["t"].to_numpy() < storm.end_minute)
    )
    sla_hours = np.array([t.sla_hours for t in result.config.task_types])
    sla = tk["t"].to_numpy() + sla_hours[tk["k"].to_numpy()] * 60
    done = result.completed
    ok = in_storm & ~np.isnan(done)
    out["storm_tasks"] = float(in_storm.sum())
    out["storm_province_sla"] = float((done[ok] <= sla[ok]).mean()) if ok.any() else float("nan")
    waits = result.started[in_storm] - tk["t"].to_numpy()[in_storm]
    any_wait = in_storm.any() and np.isfinite(waits).any()
    out["storm_province_wait_h"] = float(np.nanmean(waits) / 60.0) if any_wait else float("nan")
    out["storm_province_p90_wait_h"] = float(np.nanpercentile(waits, 90) / 60.0) if any_wait else float("nan")
    return out
