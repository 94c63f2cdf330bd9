"""KPIs of one replay, computed from the uncensored per-task outcomes (``simulator.outcomes``).

True cost (minute-equivalents per task, the same definition for every policy, from the hidden truth):

    E[handling minutes] + 60 · P(QA fail) + 600 · P(complaint) + 30 · hours completed after the SLA

with the true expectations of the task's actual conditions (worker, tasks done in the shift, experience,
realised lateness): the oracle's ``CostWeights`` plus an explicit lateness charge (30 per hour late, the
oracle batch's age weight), so waiting past the SLA costs even where no complaint follows.

Utilisation of a worker: minutes in service over the shift minutes scheduled within the arrival window
(both clipped to the window; overtime can push it above 1). Spread = standard deviation and coefficient
of variation across provinces (pooled minutes) and across workers. Peak backlog: the most tasks waiting
(created, not started) at any instant. Escalated complaints (seed 001's KPI): complaints of high
severity, as a rate over completed tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.engine import SimResult
from simulator.oracle import CostWeights
from simulator.outcomes import task_outcomes

LATE_WEIGHT = 30.0  # minute-equivalents per hour completed after the SLA
KPI_NAMES: tuple[str, ...] = (
    "mean_turnaround_h",
    "p90_turnaround_h",
    "mean_wait_min",
    "sla_attainment",
    "qa_pass_rate",
    "complaint_rate",
    "escalated_rate",
    "mean_p_complaint",
    "mean_p_pass",
    "mean_handling_min",
    "util_province_std",
    "util_province_cv",
    "util_worker_cv",
    "peak_backlog",
    "true_cost_per_task",
    "true_cost_total",
    "cost_minutes",
    "cost_qa",
    "cost_complaint",
    "cost_late",
)
COST_PARTS: tuple[str, ...] = ("cost_minutes", "cost_qa", "cost_complaint", "cost_late")
LOWER_IS_BETTER = {
    "mean_turnaround_h",
    "p90_turnaround_h",
    "mean_wait_min",
    "complaint_rate",
    "escalated_rate",
    "mean_p_complaint",
    "mean_handling_min",
    "util_province_std",
    "util_province_cv",
    "util_worker_cv",
    "peak_backlog",
    "true_cost_per_task",
    "true_cost_total",
    *COST_PARTS,
}


@dataclass(frozen=True)
class RunKPIs:
    """Headline KPIs of one replay plus utilisation per province (for the charts)."""

    values: dict[str, float]
    province_utilisation: dict[str, float]


def cost_parts(
    outcomes: pd.DataFrame, weights: CostWeights = CostWeights(), late_weight: float = LATE_WEIGHT
) -> dict[str, np.ndarray]:
    """The four weighted parts of the per-task true cost (NaN for tasks never started)."""
    return {
        "cost_minutes": weights.minutes * outcomes["expected_minutes"].to_numpy(dtype=float),
        "cost_qa": weights.qa_fail * (1.0 - outcomes["p_pass"].to_numpy(dtype=float)),
        "cost_complaint": weights.complaint * outcomes["p_complaint"].to_numpy(dtype=float),
        "cost_late": late_weight * outcomes["hours_late"].to_numpy(dtype=float),
    }


def true_cost(
    outcomes: pd.DataFrame, weights: CostWeights = CostWeights(), late_weight: float = LATE_WEIGHT
) -> np.ndarray:
    """Per-task true cost (see the module docstring); NaN for tasks never started."""
    return sum(cost_parts(outcomes, weights, late_weight).values())  # type: ignore[return-value]


def peak_backlog(created: np.ndarray, started: np.ndarray) -> int:
    """Most tasks waiting at once: +1 at creation, -1 at start (a start at the same instant first)."""
    created = np.asarray(created, dtype=float)
    started = np.asarray(started, dtype=float)
    s = started[~np.isnan(started)]
    times = np.concatenate([s, created])
    delta = np.concatenate([-np.ones(len(s)), np.ones(len(created))])
    order = np.lexsort((delta, times))  # at equal times the -1 comes first
    return int(np.max(np.cumsum(delta[order]), initial=0))


def shift_minutes(result: SimResult, t0: float, t1: float) -> np.ndarray:
    """Scheduled shift minutes of each worker inside [t0, t1] (the engine's calendar, no disruptions)."""
    cfg, wf = result.config, result.workforce
    n = len(wf.province)
    if cfg.workforce.always_on:
        return np.full(n, t1 - t0)
    origin = np.array([cfg.local_origin(p) for p in range(len(cfg.provinces))])
    m0, wd0 = origin[wf.province, 0], origin[wf.province, 1]
    first = int((t0 + m0.min()) // 1440) - 1
    last = int((t1 + m0.max()) // 1440) + 1
    days = np.arange(first, last + 1)
    start = days[None, :] * 1440.0 + wf.shift_start[:, None] * 60.0 - m0[:, None]
    end = start + wf.shift_hours[:, None] * 60.0
    works = wf.work_days[np.arange(n)[:, None], (wd0[:, None] + days[None, :]) % 7]
    overlap = np.clip(np.minimum(end, t1) - np.maximum(start, t0), 0.0, None)
    return (overlap * works).sum(axis=1)


def busy_minutes(outcomes: pd.DataFrame, n_workers: int, t0: float, t1: float) -> np.ndarray:
    """Minutes each worker spent in service inside [t0, t1]."""
    o = outcomes[outcomes["started"].notna()]
    lo = np.maximum(o["started"].to_numpy(), t0)
    hi = np.minimum(o["finish"].to_numpy(), t1)
    return np.bincount(
        o["worker"].to_numpy(dtype=int), weights=np.clip(hi - lo, 0.0, None), minlength=n_workers
    )


def _cv(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.std(x) / np.mean(x)) if len(x) and np.mean(x) > 0 else float("nan")


def utilisation(result: SimResult, outcomes: pd.DataFrame) -> tuple[dict[str, float], np.ndarray]:
    """(utilisation per province id, utilisation per worker with NaN for workers without shifts)."""
    t0, t1 = result.arrivals.start_day * 1440.0, result.arrivals.horizon
    wf = result.workforce
    shift = shift_minutes(result, t0, t1)
    busy = busy_minutes(outcomes, len(shift), t0, t1)
    per_worker = np.where(shift > 0, busy / np.where(shift > 0, shift, 1.0), np.nan)
    n_p = len(result.config.provinces)
    s_p = np.bincount(wf.province, weights=shift, minlength=n_p)
    b_p = np.bincount(wf.province, weights=busy, minlength=n_p)
    prov = {
        result.config.province_id(p): float(b_p[p] / s_p[p]) if s_p[p] > 0 else float("nan")
        for p in range(n_p)
    }
    return prov, per_worker


def compute_kpis(result: SimResult, outcomes: pd.DataFrame | None = None) -> RunKPIs:
    """Every KPI of ``KPI_NAMES`` for a replay (rates over completed tasks, true uncensored outcomes)."""
    o = task_outcomes(result) if outcomes is None else outcomes
    done = o[o["completed"].notna()]
    turnaround = (done["completed"] - done["created"]).to_numpy() / 60.0
    started = o[o["started"].notna()]
    parts = cost_parts(started)
    cost = np.zeros(len(started))
    for part in parts.values():  # the order of the builtin sum, so figures stay bit-identical
        cost = cost + part
    prov, per_worker = utilisation(result, o)
    p_util = np.array(list(prov.values()))
    values = {
        "tasks": float(len(o)),
        "completed_share": float(len(done) / len(o)) if len(o) else float("nan"),
        "mean_turnaround_h": float(np.mean(turnaround)) if len(done) else float("nan"),
        "p90_turnaround_h": float(np.percentile(turnaround, 90)) if len(done) else float("nan"),
        "mean_wait_min": float((started["started"] - started["created"]).mean()),
        "sla_attainment": float((done["completed"] <= done["sla_due"]).mean()),
        "qa_pass_rate": float(done["passed"].astype(float).mean()),
        "complaint_rate": float(done["complaint"].astype(float).mean()),
        "escalated_rate": float((done["complaint"].astype(bool) & (done["severity"] == "high")).mean()),
        "mean_p_complaint": float(done["p_complaint"].mean()),
        "mean_p_pass": float(done["p_pass"].mean()),
        "mean_handling_min": float(started["minutes"].mean()),
        "util_province_std": float(np.nanstd(p_util)),
        "util_province_cv": _cv(p_util),
        "util_worker_cv": _cv(per_worker),
        "peak_backlog": float(peak_backlog(o["created"].to_numpy(), o["started"].to_numpy())),
        "true_cost_per_task": float(np.nanmean(cost)) if len(cost) else float("nan"),
        "true_cost_total": float(np.nansum(cost)),
        **{k: float(np.nanmean(v)) if len(v) else float("nan") for k, v in parts.items()},
    }
    return RunKPIs(values, prov)
