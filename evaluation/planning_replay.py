"""Proof in the twin: a week replayed with the base roster, then again with the sharing the planning
recommended for that week, at equal staff hours (the roster is the same; only who may take whose work
changes inside the recommended windows).

1. A twin history (``opsmatch simulate``) -> the 7-day forecast -> staffing gaps against the
   roster -> sharing recommendations (the service's own planning code, ``serving.planning.reads``).
2. The following week's arrivals replayed under province-local FIFO (the base), and under the same
   FIFO where, inside each recommended window, the lenders' free workers take the short province's
   oldest tasks and its new tasks go to a lender's idle worker when none of its own is idle.
   A control arm shares as much (the same windows' lengths and lender counts) at random hours between
   random provinces: what the recommendations' targeting adds over sharing as such.
3. Each run is drained (replayed until the week's last task is done), so every task counts: SLA
   attainment, mean and p90 turnaround, overtime (minutes worked past a shift's end), and the share
   done within the week. The workforce (so the roster and its staff hours) is the one the staffing was
   planned against in every arm; further seeds redraw the week's arrivals and handling noise only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.arrival_truth import twin_of
from opsmatch.settings import Settings
from serving.planning import reads as planning
from simulator.arrivals import generate_arrivals
from simulator.clock import MINUTES_PER_DAY
from simulator.engine import SimResult, simulate
from simulator.outcomes import summarize, task_outcomes
from simulator.policies import LegacyPolicy, oldest_for_worker
from simulator.scenario import ScenarioConfig
from simulator.state import SimView
from simulator.workforce import build_workforce
from training.forecast import ForecastSpec
from training.forecast_run import make_and_store


@dataclass(frozen=True)
class Window:
    """Sharing in force from ``t0`` to ``t1`` (simulation minutes): ``short`` lends from ``lenders``."""

    t0: float
    t1: float
    short: int
    lenders: frozenset[int]


class PlannedSharingPolicy(LegacyPolicy):
    """Province-local FIFO, plus the recommended sharing windows."""

    def __init__(self, windows: list[Window]) -> None:
        super().__init__(explore=False)
        self.name = "legacy_fifo_planned_sharing"
        self.windows = windows

    def _active(self, now: float) -> list[Window]:
        return [w for w in self.windows if w.t0 <= now < w.t1]

    def on_task(self, view: SimView, task: int) -> None:
        province, kind = view.task_province[task], view.task_type[task]
        if view.idle_workers(kind, province):
            super().on_task(view, task)
            return
        for w in self._active(view.now):
            if w.short != province:
                continue
            idle = [x for lender in sorted(w.lenders) for x in view.idle_workers(kind, lender)]
            if idle:
                since = view.worker_idle_since
                view.assign(task, min(idle, key=lambda x: (since[x], x)))
                return

    def on_worker_free(self, view: SimView, worker: int) -> None:
        own = view.worker_province[worker]
        t = oldest_for_worker(view, worker, own)
        if t < 0:
            for w in self._active(view.now):
                if own in w.lenders:
                    t = oldest_for_worker(view, worker, w.short)
                    if t >= 0:
                        break
        if t >= 0:
            view.assign(t, worker)


def windows_from(recs: list[dict[str, Any]], config: ScenarioConfig) -> list[Window]:
    """The recommendations as simulation-time windows."""
    origin = pd.Timestamp(config.start_utc)
    out = []
    for r in recs:
        t0 = (pd.Timestamp(r["start"]) - origin).total_seconds() / 60
        t1 = (pd.Timestamp(r["end"]) - origin).total_seconds() / 60
        lenders = frozenset(config.province_index(p) for p in r["lenders"])
        out.append(Window(t0, t1, config.province_index(r["province_id"]), lenders))
    return out


def control_windows(
    windows: list[Window], n_provinces: int, week: tuple[float, float], seed: int
) -> list[Window]:
    """As much sharing as ``windows`` (each one's length and lender count) at random whole hours of the
    week between random provinces."""
    rng = np.random.default_rng([seed, 25])
    hours = int((week[1] - week[0]) // 60)
    out = []
    for w in windows:
        length = max(1, round((w.t1 - w.t0) / 60))
        t0 = week[0] + 60.0 * int(rng.integers(0, max(1, hours - length + 1)))
        short = int(rng.integers(0, n_provinces))
        others = np.setdiff1d(np.arange(n_provinces), [short])
        lenders = rng.choice(others, size=min(len(w.lenders), len(others)), replace=False)
        out.append(Window(t0, t0 + 60.0 * length, short, frozenset(int(x) for x in lenders)))
    return out


def overtime_minutes(result: SimResult) -> float:
    """Minutes worked past shift ends: the task in service when a worker went off shift, to its end."""
    status = pd.DataFrame(result.status)
    if status.empty:
        return 0.0
    off = status[~status["on_shift"].astype(bool)][["worker", "at"]]
    tasks = pd.DataFrame({"worker": result.worker, "started": result.started, "completed": result.completed})
    tasks = tasks[(tasks["worker"] >= 0) & tasks["completed"].notna()]
    m = off.merge(tasks, on="worker")
    m = m[(m["started"] < m["at"]) & (m["completed"] > m["at"])]
    return float((m["completed"] - m["at"]).sum())


def figures(result: SimResult, week_end: float) -> dict[str, float]:
    """SLA attainment, mean and p90 turnaround (hours), overtime (hours), completed share, the share
    done by ``week_end`` (simulation minutes) and the roster's staff hours a week."""
    o = task_outcomes(result)
    s = summarize(result, o)
    done = o["completed"].notna()
    turnaround = (o.loc[done, "completed"] - o.loc[done, "created"]) / 60
    return {
        "tasks": s["tasks"],
        "completed_share": s["completed_share"],
        "done_in_week_share": float((o["completed"] <= week_end).mean()) if len(o) else 0.0,
        "sla_met_share": s["sla_met_share"],
        "mean_turnaround_hours": s["mean_turnaround_hours"],
        "p90_turnaround_hours": float(np.percentile(turnaround, 90)) if done.any() else float("nan"),
        "overtime_hours": overtime_minutes(result) / 60,
        "staff_hours": float((result.workforce.shift_hours * result.workforce.work_days.sum(axis=1)).sum()),
    }


def replay(settings: Settings, *, days: int = 7, seeds: int = 1) -> dict[str, Any]:
    """On a twin history in ``settings.data_dir``: the next ``days`` replayed without sharing, with the
    sharing recommended for them and with as much sharing at random (``seeds`` draws of the week);
    figures of each run and the windows used."""
    twin = twin_of(Path(settings.truth_dir))
    if twin is None:
        raise ValueError(f"no twin history under {settings.data_dir}")
    config, meta = twin
    seed = int(meta["seed"])
    made = make_and_store(settings, replace(ForecastSpec(), horizon_days=days))
    _, recs = planning.staffing(settings, None, None, None, limit=10_000)
    workforce = build_workforce(config, seed)  # the roster the staffing was planned against
    origin = pd.Timestamp(made.inputs["origin"])
    origin_day = int((origin - pd.Timestamp(config.start)).total_seconds() // 86400)
    week = (origin_day * MINUTES_PER_DAY, (origin_day + days) * MINUTES_PER_DAY)
    windows = [w for w in windows_from(recs, config) if w.t1 > week[0] and w.t0 < week[1]]
    control = control_windows(windows, len(config.provinces), week, seed)
    arms = {
        "base": lambda: LegacyPolicy(explore=False),
        "shared": lambda: PlannedSharingPolicy(windows),
        "control": lambda: PlannedSharingPolicy(control),
    }
    runs = []
    for s in range(seed, seed + seeds):
        arrivals = generate_arrivals(config, days, s, start_day=origin_day)
        run: dict[str, Any] = {"seed": s}
        for arm, policy in arms.items():
            result = simulate(config, arrivals, policy(), s, workforce=workforce, drain=True)
            run[arm] = figures(result, week[1])
        runs.append(run)
    return {
        "scenario": config.name,
        "from": origin.isoformat(),
        "days": days,
        "windows": len(windows),
        "window_hours": float(sum(w.t1 - w.t0 for w in windows) / 60),
        "runs": runs,
    }
