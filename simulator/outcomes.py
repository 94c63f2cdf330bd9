"""Outcomes of a replay, drawn vectorised from the hidden truth and the pre-drawn task noise.

Noise columns (``handling.task_noise``): 0 handling time, 1 QA pass, 2 complaint, 3 QA sampled, 4 QA delay,
5 QA score, 6 surveyed, 7 satisfaction, 8 complaint delay, 9 complaint reason, 10 severity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from opsmatch.contract import COMPLAINT_REASONS, SEVERITIES
from simulator.engine import SimResult
from simulator.journeys import complaint_uplift, generate_journeys
from simulator.oracle import task_base_logits
from simulator.truth import complaint_logit, expected_minutes_arr, p_complaint_arr, p_pass_arr, sigmoid


def task_outcomes(result: SimResult) -> pd.DataFrame:
    """One row per task: timing, the worker, true probabilities and realised (uncensored) outcomes.

    ``finish`` is when the task completes (also if after ``result.end``); ``completed`` is NaN unless it
    completed within the replay. Outcome columns are NaN/False for tasks never started.
    """
    cfg, truth, u = result.config, result.workforce.truth, result.noise
    b = cfg.behaviour
    tk = result.arrivals.tasks
    n = len(tk)
    k, c = tk["k"].to_numpy(), tk["complexity"].to_numpy()
    w = result.worker
    started = ~np.isnan(result.started)
    ws = np.where(started, w, 0)
    sla_due = tk["t"].to_numpy() + np.array([t.sla_hours for t in cfg.task_types])[k] * 60
    finish = result.started + result.minutes
    late = np.maximum(0.0, finish - sla_due) / 60.0
    exp_min = expected_minutes_arr(truth, k, c, ws, result.shift_done, result.experience)
    pp = p_pass_arr(truth, k, c, ws, result.shift_done)
    passed = u[:, 1] < pp
    base = task_base_logits(truth, result.arrivals)
    pc = p_complaint_arr(truth, base, k, ws, late, pp)
    p_drawn = sigmoid(complaint_logit(truth, base, k, ws, late, ~passed))  # given the QA outcome
    complaint = u[:, 2] < p_drawn
    checked = u[:, 3] < b.qa_sample
    lo, hi = b.qa_delay_hours
    checked_at = finish + 60 * (lo + (hi - lo) * u[:, 4])
    score = np.where(passed, 60 + 40 * u[:, 5] ** 0.6, 59.9 * u[:, 5] ** 0.5)
    surveyed = checked & (u[:, 6] < b.survey_share)
    latent = (
        3.9 + 0.8 * truth.care[ws, k] - 1.5 * ~passed - 0.04 * np.minimum(late, 48) + 0.9 * ndtri(u[:, 7])
    )
    satisfaction = np.clip(np.round(latent), 1, 5)
    delay_days = np.clip(b.complaint_delay_days_median * np.exp(0.6 * ndtri(u[:, 8])), 0.2, 30)
    filed_at = finish + delay_days * 1440
    # an abandoned online journey weighs on the customer's complaints filed while it is unresolved
    jr = generate_journeys(cfg, result.arrivals, result.seed)
    uplift = complaint_uplift(cfg, jr, tk["cust"].to_numpy(), filed_at, jr.resolved_at())
    if uplift.any():
        bump = cfg.journeys.complaint_uplift * uplift
        pc = sigmoid(_logit(pc) + bump)
        p_drawn = sigmoid(_logit(p_drawn) + bump)
        complaint = u[:, 2] < p_drawn
    reason = _reasons(u[:, 9], late, ~passed, truth.care[ws, k], tk["amount"].to_numpy())
    vip = result.arrivals.customers["vip"].to_numpy()[tk["cust"].to_numpy()]
    severity = _severity(u[:, 10], vip, late, ~passed)
    na = ~started

    def mask(x: np.ndarray, fill: float = np.nan) -> np.ndarray:
        x = x.astype(float) if x.dtype == bool and fill is np.nan else x
        return np.where(na, fill, x)

    return pd.DataFrame(
        {
            "task": np.arange(n),
            "customer": tk["cust"].to_numpy(),
            "worker": w,
            "created": tk["t"].to_numpy(),
            "sla_due": sla_due,
            "assigned": _first_assignment(result, n),
            "started": result.started,
            "finish": finish,
            "completed": result.completed,
            "minutes": result.minutes,
            "expected_minutes": mask(exp_min),
            "p_pass": mask(pp),
            "passed": mask(passed, False),
            "hours_late": mask(late),
            "p_complaint": mask(pc),
            "p_complaint_drawn": mask(p_drawn),
            "complaint": mask(complaint, False),
            "qa_checked": mask(checked, False),
            "checked_at": mask(checked_at),
            "score": mask(score),
            "satisfaction": np.where(surveyed & started, satisfaction, np.nan),
            "filed_at": mask(filed_at),
            "severity": np.asarray(SEVERITIES)[severity],
            "reason": np.asarray(COMPLAINT_REASONS)[reason],
            "journey_uplift": uplift,
            "shift_tasks_done": result.shift_done,
            "experience": result.experience,
        }
    )


def apply_contacts(
    outcomes: pd.DataFrame, noise: np.ndarray, covered: np.ndarray, effect: float
) -> pd.DataFrame:
    """The outcomes with a risk-team contact active at the would-be filing time of the ``covered`` tasks:
    their complaint hazard is cut by ``effect`` with the same uniform (common random numbers), so
    ``complaint = u[:, 2] < p * (1 - effect)``; true P(complaint) scales the same way. Only complaints
    can disappear: an uncovered task, or ``effect = 0``, keeps its outcome bit for bit."""
    covered = np.asarray(covered, dtype=bool) & outcomes["started"].notna().to_numpy()
    scale = np.where(covered, 1.0 - effect, 1.0)
    out = outcomes.copy()
    p = out["p_complaint_drawn"].to_numpy(dtype=float)
    redrawn = noise[:, 2] < p * scale
    out["complaint"] = np.where(covered, redrawn, out["complaint"].to_numpy(dtype=bool))
    out["p_complaint"] = out["p_complaint"].to_numpy(dtype=float) * scale
    out["p_complaint_drawn"] = p * scale
    out["contacted"] = covered
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(q) - np.log1p(-q)


def _first_assignment(result: SimResult, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    t = np.asarray(result.assignments["task"], dtype=int)
    at = np.asarray(result.assignments["at"], dtype=float)
    out[t[::-1]] = at[::-1]  # earliest assignment wins
    return out


def _reasons(
    u: np.ndarray, late: np.ndarray, failed: np.ndarray, care: np.ndarray, amount: np.ndarray
) -> np.ndarray:
    """Complaint reason: lateness -> timeliness, QA failure -> accuracy/operational error, etc."""
    weights = np.stack(
        [
            0.3 + 0.1 * np.minimum(late, 48),  # timeliness
            0.4 * np.exp(-care),  # attitude
            np.where(failed, 1.2, 0.25),  # accuracy
            0.1 + 0.3 * (amount > 10_000),  # fees
            np.where(failed, 0.8, 0.15),  # operational_error
            np.full(len(u), 0.2),  # promise_not_kept
        ],
        axis=1,
    )
    cum = np.cumsum(weights, axis=1)
    return np.minimum((u[:, None] * cum[:, -1:] >= cum).sum(axis=1), len(COMPLAINT_REASONS) - 1)


def _severity(u: np.ndarray, vip: np.ndarray, late: np.ndarray, failed: np.ndarray) -> np.ndarray:
    high = 0.1 + 0.2 * vip + 0.1 * (late > 24) + 0.1 * failed
    return np.where(u < high, 2, np.where(u < high + 0.4, 1, 0))


def summarize(result: SimResult, outcomes: pd.DataFrame | None = None) -> dict[str, float]:
    """Headline figures of a replay (true rates, not only the censored event log)."""
    o = task_outcomes(result) if outcomes is None else outcomes
    done = o["completed"].notna()
    s = o[o["started"].notna()]
    turnaround = (o.loc[done, "completed"] - o.loc[done, "created"]) / 60
    return {
        "tasks": float(len(o)),
        "completed_share": float(done.mean()) if len(o) else 0.0,
        "mean_wait_minutes": float((s["started"] - s["created"]).mean()) if len(s) else float("nan"),
        "mean_turnaround_hours": float(turnaround.mean()) if done.any() else float("nan"),
        "sla_met_share": float((o.loc[done, "completed"] <= o.loc[done, "sla_due"]).mean())
        if done.any()
        else float("nan"),
        "mean_handling_minutes": float(s["minutes"].mean()) if len(s) else float("nan"),
        "qa_pass_rate": float(s["passed"].mean()) if len(s) else float("nan"),
        "complaint_rate": float(s["complaint"].mean()) if len(s) else float("nan"),
        "mean_p_complaint": float(s["p_complaint"].mean()) if len(s) else float("nan"),
    }
