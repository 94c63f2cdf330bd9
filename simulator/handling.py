"""The handling-time model's fixed parts: per-task noise (common random numbers), each task's base
minutes, and the fatigue x learning multiplier the engine applies when a task starts."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from simulator.arrivals import Arrivals
from simulator.scenario import ScenarioConfig

NOISE_STREAM = 31
N_NOISE = 12  # uniforms per task: 0 handling time, 1.. outcomes (see outcomes.py)


def task_noise(seed: int, n_tasks: int) -> np.ndarray:
    """Uniform noise [n_tasks, N_NOISE] fixed by (seed, task index): common random numbers."""
    return np.random.default_rng([seed, NOISE_STREAM]).random((n_tasks, N_NOISE))


def learning_and_fatigue(done: int, experience: int, thr: int, fat: float, amp: float, tau: float) -> float:
    """Scalar fatigue x learning multiplier (same formula as ``truth.fatigue_factor/learning_factor``)."""
    return (1.0 + fat * max(0, done - thr)) * (1.0 + amp * math.exp(-experience / tau))


def base_minutes(config: ScenarioConfig, arrivals: Arrivals, noise: np.ndarray) -> list[float]:
    """Each task's handling minutes before the worker's speed, fatigue and learning multipliers."""
    tasks = arrivals.tasks
    k = tasks["k"].to_numpy()
    sigma = np.array([t.sigma for t in config.task_types])[k]
    exponential = np.array([t.distribution == "exponential" for t in config.task_types])[k]
    draw = np.where(exponential, -np.log1p(-noise[:, 0]), np.exp(sigma * ndtri(noise[:, 0])))
    complexity = np.asarray(config.behaviour.complexity_minutes)[tasks["complexity"].to_numpy() - 1]
    median = np.array([t.median_minutes for t in config.task_types])[k]
    minutes: list[float] = (median * complexity * draw).tolist()
    return minutes
