"""The world a scenario describes: provinces, workers (skills, shifts) and their hidden traits.

Everything here is a pure function of (config, seed), so every replay of a scenario sees the same staff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.scenario import ScenarioConfig
from simulator.truth import Truth

WORKFORCE_STREAM = 11
WEEKEND_PATTERNS = ("12345", "23456", "01256", "01456")


@dataclass(frozen=True)
class Workforce:
    """Provinces and workers as contract frames plus the arrays the engine needs."""

    provinces: pd.DataFrame
    workers: pd.DataFrame
    province: np.ndarray  # [W] province index
    shift_start: np.ndarray  # [W] local hour
    shift_hours: np.ndarray  # [W]
    work_days: np.ndarray  # [W, 7] bool, Monday first
    capacity: np.ndarray  # [W] tasks per shift at most
    truth: Truth

    @property
    def eligible(self) -> np.ndarray:
        return self.truth.eligible


def _allocate(total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    """Largest-remainder allocation of ``total`` with a floor of ``minimum`` each."""
    n = len(weights)
    rest = max(total - minimum * n, 0)
    raw = rest * weights / weights.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: rest - out.sum()]] += 1
    return out + minimum


def provinces_frame(config: ScenarioConfig) -> pd.DataFrame:
    """The contract ``provinces`` table."""
    ps = config.provinces
    return pd.DataFrame(
        {
            "province_id": [config.province_id(i) for i in range(len(ps))],
            "name": [p.name for p in ps],
            "timezone": [p.timezone for p in ps],
            "workday_start_hour": [p.workday_start_hour for p in ps],
            "workday_end_hour": [p.workday_end_hour for p in ps],
            "works_weekends": [p.works_weekends for p in ps],
        }
    )


def _skills(config: ScenarioConfig, rng: np.random.Generator, province: np.ndarray) -> np.ndarray:
    """Declared skill levels [W, K] (0 = no skill), with every type covered in every province."""
    wf, types = config.workforce, config.task_types
    n_w, n_k = len(province), len(types)
    if wf.all_skills_level is not None:
        return np.full((n_w, n_k), wf.all_skills_level, dtype=int)
    level_p = np.asarray(wf.skill_level_probs) / sum(wf.skill_level_probs)
    need = np.array([t.min_skill for t in types])
    p_elig = np.array([level_p[m - 1 :].sum() for m in need])
    workload = np.array([t.share * t.median_minutes for t in types])
    weight = workload / p_elig
    weight = weight / weight.sum()
    lo, hi = wf.skills_per_worker
    levels = np.zeros((n_w, n_k), dtype=int)
    for w in range(n_w):
        m = int(rng.integers(lo, min(hi, n_k) + 1)) if n_k > 1 else 1
        chosen = rng.choice(n_k, size=min(m, n_k), replace=False, p=weight)
        levels[w, chosen] = rng.choice(5, size=len(chosen), p=level_p) + 1
    for p in np.unique(province):
        members = np.flatnonzero(province == p)
        for k in range(n_k):
            target = min(wf.min_eligible, len(members))
            short = target - int((levels[members, k] >= need[k]).sum())
            if short > 0:
                cand = members[levels[members, k] < need[k]]
                pick = rng.choice(cand, size=short, replace=False)
                levels[pick, k] = rng.integers(need[k], 6, size=short)
    return levels


def _traits(config: ScenarioConfig, rng: np.random.Generator, levels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hidden speed multiplier, QA-logit quality and complaint care per worker x type."""
    wf = config.workforce
    n_w, n_k = int(levels.shape[0]), int(levels.shape[1])
    g = np.sqrt(wf.general_share)
    s = np.sqrt(1 - wf.general_share)
    rho = wf.speed_quality_corr
    z_s = rng.standard_normal(n_w)
    z_q = rho * z_s + np.sqrt(1 - rho**2) * rng.standard_normal(n_w)
    z_c = rng.standard_normal(n_w)
    e = rng.standard_normal((3, n_w, n_k))
    lvl = np.where(levels > 0, levels, 1) - 3
    log_speed = wf.speed_sigma * (g * z_s[:, None] + s * e[0]) - wf.skill_speed * lvl
    quality = wf.quality_sigma * (g * z_q[:, None] + s * e[1]) + wf.skill_quality * lvl
    care = wf.care_sigma * (g * z_c[:, None] + s * e[2])
    return np.exp(log_speed), quality, care


def build_workforce(config: ScenarioConfig, seed: int) -> Workforce:
    """Provinces, workers and the hidden truth for a scenario and seed."""
    rng = np.random.default_rng([seed, WORKFORCE_STREAM])
    wf, ps = config.workforce, config.provinces
    weights = np.array([p.demand * p.staff for p in ps])
    counts = _allocate(wf.workers, weights, minimum=min(3, wf.workers // len(ps)) or 1)
    province = np.repeat(np.arange(len(ps)), counts)
    n_w = len(province)
    levels = _skills(config, rng, province)
    speed, quality, care = _traits(config, rng, levels)

    starts = np.empty(n_w, dtype=int)
    for p in range(len(ps)):
        choices = ps[p].shift_starts or wf.shift_starts
        idx = np.flatnonzero(province == p)
        starts[idx] = rng.choice(np.asarray(choices), size=len(idx))
    hours = rng.choice(np.asarray(wf.shift_hours), size=n_w)
    weekend = np.array([ps[p].works_weekends for p in province]) & (rng.random(n_w) < wf.weekend_share)
    patterns = np.where(weekend, rng.choice(np.asarray(WEEKEND_PATTERNS), size=n_w), "01234")
    if wf.always_on:
        starts[:], hours[:], patterns[:] = 0, 24, "0123456"
    work_days = np.array([[str(d) in pat for d in range(7)] for pat in patterns], dtype=bool)
    capacity = rng.integers(wf.daily_capacity[0], wf.daily_capacity[1] + 1, size=n_w)

    new = rng.random(n_w) < wf.new_hire_share
    tenure = np.where(
        new,
        rng.uniform(0.02, 0.3, n_w),
        np.clip(wf.tenure_years_median * np.exp(0.8 * rng.standard_normal(n_w)), 0.3, 35),
    )
    experience0 = np.where(levels > 0, np.round(tenure[:, None] * wf.tasks_per_year * levels / 3 / 2), 0)
    hired_at = pd.Timestamp(config.start_utc) - pd.to_timedelta(np.round(tenure * 365.25), unit="D")

    type_names = [t.name for t in config.task_types]
    worker_ids = [f"W{i + 1:04d}" for i in range(n_w)]
    skills_json = [
        json.dumps({type_names[k]: int(levels[w, k]) for k in np.flatnonzero(levels[w])}) for w in range(n_w)
    ]
    workers = pd.DataFrame(
        {
            "worker_id": worker_ids,
            "province_id": [config.province_id(p) for p in province.tolist()],
            "hired_at": hired_at.floor("D"),
            "skills": skills_json,
            "daily_capacity": capacity,
            "shift_start_hour": starts,
            "shift_hours": hours,
            "work_days": patterns,
            "active": True,
        }
    )
    truth = Truth(config, tuple(worker_ids), speed, quality, care, experience0.astype(float), levels)
    return Workforce(provinces_frame(config), workers, province, starts, hours, work_days, capacity, truth)
