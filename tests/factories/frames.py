"""Synthetic training frames whose labels depend on the features in a known way (test and bench factory).

The frame looks like ``features.training_frame.build_training_frame``: entity and timestamp columns,
feature columns (strings for categories), labels ``handling_minutes``, ``qa_passed`` (NaN when not
checked) and ``complaint_30d``; plus the true expectations (``true_minutes``, ``true_p_pass``,
``true_p_complaint``) that the twin's hidden truth would give, for oracle figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TASK_BASE_MINUTES = {
    "policy_change": 20.0,
    "underwriting": 45.0,
    "claims_review": 60.0,
    "renewal": 10.0,
    "return_visit": 8.0,
    "complaint_case": 35.0,
    "surrender": 25.0,
    "beneficiary_change": 15.0,
}
CHANNELS = ("branch", "agent", "online", "phone")
AGE_BANDS = ("18-29", "30-44", "45-59", "60+")
SIGMA = 0.35  # lognormal sd of handling time

PRE_FEATURES = [
    "task_type",
    "channel",
    "age_band",
    "complexity",
    "amount",
    "hours_to_sla",
    "customer_prior_complaints",
    "customer_vip",
    "customer_tenure_years",
]
WORKER_FEATURES = [
    "worker_skill_level",
    "worker_tenure_days",
    "worker_qa_rate",
    "worker_speed_ratio",
    "worker_complaint_rate",
    "worker_load_ratio",
]
TRUTH = {
    "handling_time": "true_minutes",
    "qa_pass": "true_p_pass",
    "complaint": "true_p_complaint",
    "complaint_pre": "true_p_complaint",
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class SynthFrame:
    frame: pd.DataFrame
    n_noise: int

    def features(self, model: str) -> list[str]:
        noise = [f"noise_{i}" for i in range(self.n_noise)]
        if model == "complaint_pre":  # an open task's snapshot: its wait so far too (params name it)
            return PRE_FEATURES + ["task_age_hours"] + noise
        return PRE_FEATURES + WORKER_FEATURES + noise

    def truth(self, model: str) -> np.ndarray:
        return self.frame[TRUTH[model]].to_numpy()


def make_frame(
    n_rows: int = 6000,
    days: int = 90,
    seed: int = 0,
    n_noise: int = 0,
    start: str = "2025-01-01",
    qa_share: float = 0.5,
) -> SynthFrame:
    """``n_rows`` assignments spread over ``days`` with known truth."""
    rng = np.random.default_rng(seed)
    n = n_rows
    t0 = pd.Timestamp(start, tz="UTC")
    offsets = np.sort(rng.uniform(0, days * 86400, n))
    ts = (t0 + pd.to_timedelta(offsets, unit="s")).astype("datetime64[us, UTC]")
    types = np.array(list(TASK_BASE_MINUTES))
    task_type = rng.choice(types, n, p=[0.2, 0.1, 0.15, 0.2, 0.1, 0.05, 0.1, 0.1])
    channel = rng.choice(CHANNELS, n)
    age_band = rng.choice(AGE_BANDS, n, p=[0.2, 0.35, 0.3, 0.15])
    complexity = rng.integers(1, 6, n)
    amount = np.round(rng.lognormal(8, 1.2, n), 2)
    hours_to_sla = rng.uniform(0.5, 48, n)
    prior = rng.poisson(0.4, n)
    vip = rng.random(n) < 0.1
    tenure = rng.uniform(0, 30, n)
    skill = rng.integers(1, 6, n)
    w_tenure = rng.uniform(10, 3000, n)
    qa_rate = rng.uniform(0.6, 0.99, n)
    speed = rng.lognormal(0, 0.2, n)
    w_complaint = rng.uniform(0.0, 0.08, n)
    load = rng.uniform(0, 1.5, n)

    base = np.array([TASK_BASE_MINUTES[t] for t in task_type])
    mu = np.log(base) + 0.12 * (complexity - 3) + np.log(speed) - 0.05 * (skill - 3) + 0.1 * load
    minutes = np.exp(mu + SIGMA * rng.standard_normal(n))
    true_minutes = np.exp(mu + SIGMA**2 / 2)
    p_pass = _sigmoid(
        1.5
        + 0.6 * (skill - 3)
        + 8 * (qa_rate - 0.85)
        - 0.35 * (complexity - 3)
        - 0.8 * np.maximum(load - 1, 0)
    )
    passed = (rng.random(n) < p_pass).astype(float)
    passed[rng.random(n) >= qa_share] = np.nan
    p_complaint = _sigmoid(
        -3.3
        + 0.5 * prior
        + 0.7 * vip
        + 0.5 * (age_band == "60+")
        + 0.6 * (channel == "phone")
        + 0.3 * (complexity - 3)
        + 12 * (w_complaint - 0.04)
        - 0.25 * (skill - 3)
        + 0.6 * (hours_to_sla < 4)
    )
    complaint = (rng.random(n) < p_complaint).astype(float)

    frame = pd.DataFrame(
        {
            "task_id": [f"T{i:07d}" for i in range(n)],
            "worker_id": [f"W{i:04d}" for i in rng.integers(0, 500, n)],
            "event_timestamp": ts,
            "task_type": task_type,
            "channel": channel,
            "age_band": age_band,
            "complexity": complexity,
            "amount": amount,
            "hours_to_sla": hours_to_sla,
            "customer_prior_complaints": prior,
            "customer_vip": vip,
            "customer_tenure_years": tenure,
            "worker_skill_level": skill,
            "worker_tenure_days": w_tenure,
            "worker_qa_rate": qa_rate,
            "worker_speed_ratio": speed,
            "worker_complaint_rate": w_complaint,
            "worker_load_ratio": load,
        }
    )
    for i in range(n_noise):
        frame[f"noise_{i}"] = rng.standard_normal(n)
    # Hours the task has waited when scored (complaint_pre's snapshots): its own stream, so every other
    # column is the draw it was before the column existed; no effect on the truth.
    frame["task_age_hours"] = np.random.default_rng([seed, 1]).uniform(0, 72, n)
    frame["handling_minutes"] = minutes
    frame["qa_passed"] = passed
    frame["complaint_30d"] = complaint
    frame["true_minutes"] = true_minutes
    frame["true_p_pass"] = p_pass
    frame["true_p_complaint"] = p_complaint
    return SynthFrame(frame, n_noise)


def broken_recent_labels(frame: pd.DataFrame, share: float = 0.2, seed: int = 5) -> pd.DataFrame:
    """A labelling fault: QA outcomes of the newest ``share`` of the history replaced by coin flips at
    the same pass rate (the label rate is unchanged; the labels no longer depend on anything)."""
    out = frame.copy()
    ts = out["event_timestamp"]
    recent = (ts >= ts.quantile(1 - share)) & out["qa_passed"].notna()
    rate = out.loc[recent, "qa_passed"].mean()
    out.loc[recent, "qa_passed"] = (np.random.default_rng(seed).random(int(recent.sum())) < rate).astype(
        float
    )
    return out
