"""One task's hidden truth when a twin worker does it live: handling minutes, QA and complaint.

The same outcome model as the replays (``simulator.truth``, ``simulator.outcomes``), for one task at a
time as the live twin works it. The task's uniforms are fixed by (seed, task id) (common random
numbers: whoever does the task, the same draws), so any task the service assigns, the twin's own or
the history's, has one reproducible truth.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy.special import ndtri

from opsmatch.contract import COMPLAINT_REASONS, SEVERITIES
from simulator.handling import N_NOISE, learning_and_fatigue
from simulator.outcomes import _reasons, _severity
from simulator.truth import Truth, complaint_logit, p_pass_arr, sigmoid, task_complaint_logit

LIVE_STREAM = 61


@dataclass(frozen=True)
class TaskFacts:
    """What the twin knows of a task (from its own arrivals or from ``GET /tasks/{id}``)."""

    task_id: str
    task_type: str
    province_id: str
    customer_id: str
    created_at: datetime
    sla_due_at: datetime
    complexity: int
    channel: str
    amount: float
    age_band: str = "30-44"
    policy_value_band: str = "mid"
    vip: bool = False
    prior_complaints: int = 0


@dataclass(frozen=True)
class Done:
    """What happens when the work is finished: the completion, and QA / complaint if any (with times)."""

    minutes: float
    passed: bool
    qa_at: datetime | None
    score: float
    satisfaction: int | None
    complaint_at: datetime | None
    severity: str
    reason: str


def task_uniforms(seed: int, task_id: str) -> np.ndarray:
    """The task's uniforms (column meanings as in ``simulator.outcomes``)."""
    return np.random.default_rng([seed, LIVE_STREAM, zlib.crc32(task_id.encode())]).random(N_NOISE)


def handling_minutes(
    truth: Truth, task: TaskFacts, worker: int, u: np.ndarray, shift_done: int, experience: float
) -> float:
    """Minutes of hands-on work: type base x complexity x noise x speed x fatigue x learning."""
    cfg = truth.config
    k = truth.task_types.index(task.task_type)
    tt = cfg.task_types[k]
    draw = -np.log1p(-u[0]) if tt.distribution == "exponential" else np.exp(tt.sigma * ndtri(u[0]))
    b = cfg.behaviour
    multiplier = learning_and_fatigue(
        shift_done,
        int(experience),
        b.fatigue_threshold,
        b.fatigue_minutes,
        b.learning_amplitude,
        b.learning_tau,
    )
    base = tt.median_minutes * b.complexity_minutes[task.complexity - 1] * float(draw)
    return float(base * truth.speed[worker, k] * multiplier)


def finish(
    truth: Truth,
    task: TaskFacts,
    worker: int,
    u: np.ndarray,
    minutes: float,
    started: datetime,
    shift_done: int,
) -> Done:
    """QA and complaint of the task finished ``minutes`` after ``started`` by ``worker``."""
    cfg, b = truth.config, truth.config.behaviour
    k = truth.task_types.index(task.task_type)
    one = np.array
    done_at = started + timedelta(minutes=minutes)
    late = max(0.0, (done_at - task.sla_due_at).total_seconds() / 3600.0)
    pp = float(p_pass_arr(truth, one([k]), one([task.complexity]), one([worker]), one([shift_done]))[0])
    passed = bool(u[1] < pp)
    base = task_complaint_logit(
        cfg,
        one([k]),
        one([task.complexity]),
        one([task.channel]),
        one([task.age_band]),
        one([task.policy_value_band]),
        one([float(task.vip)]),
        one([float(task.prior_complaints)]),
    )
    drawn = float(
        sigmoid(complaint_logit(truth, base, one([k]), one([worker]), one([late]), float(not passed)))[0]
    )
    lo, hi = b.qa_delay_hours
    qa_at = done_at + timedelta(hours=lo + (hi - lo) * u[4]) if u[3] < b.qa_sample else None
    score = 60 + 40 * u[5] ** 0.6 if passed else 59.9 * u[5] ** 0.5
    care = truth.care[worker, k]
    latent = 3.9 + 0.8 * care - 1.5 * (not passed) - 0.04 * min(late, 48) + 0.9 * float(ndtri(u[7]))
    surveyed = qa_at is not None and u[6] < b.survey_share
    delay_days = float(np.clip(b.complaint_delay_days_median * np.exp(0.6 * ndtri(u[8])), 0.2, 30))
    reason = _reasons(one([u[9]]), one([late]), one([not passed]), one([care]), one([task.amount]))[0]
    severity = _severity(one([u[10]]), one([task.vip]), one([late]), one([not passed]))[0]
    return Done(
        minutes=minutes,
        passed=passed,
        qa_at=qa_at,
        score=round(float(score), 1),
        satisfaction=int(np.clip(round(latent), 1, 5)) if surveyed else None,
        complaint_at=done_at + timedelta(days=delay_days) if u[2] < drawn else None,
        severity=SEVERITIES[int(severity)],
        reason=COMPLAINT_REASONS[int(reason)],
    )
