"""Worker profile and worker x task-type performance snapshots from the event log (pure, vectorised).

Each snapshot ``s`` uses only events known strictly before ``s``: a completion at ``completed_at``, a QA
result at ``checked_at``, a complaint at ``filed_at``. The handling-time ratio of a completion is its
minutes over the median minutes of its task type among completions known before the start of its UTC day
(NaN on the very first day of a type's history, which is then left out of the ratio).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.shrinkage import (
    PAIR_COUNTS,
    PAIR_RATES,
    WORKER_COUNTS,
    WORKER_RATES,
    counts,
    population_priors,
    prior_names,
    shrunk_rates,
)
from features.spec import (
    EVENT_TS,
    RATE_WINDOW_DAYS,
    SKILL_COLUMNS,
    THROUGHPUT_WINDOWS_DAYS,
    WORKER_PROFILE,
    WORKER_TYPE_PERF,
)
from features.windows import DAY, from_us, medians_before, to_us, window_sums
from opsmatch.contract import TASK_TYPES

N_TYPES = len(TASK_TYPES)
ALL_TYPES = "__all__"  # the type_stats row of every task type together
RATE_WINDOW = RATE_WINDOW_DAYS * DAY
# Raw window sums kept for the profile cache (it updates them on push and re-shrinks).
WORKER_SUMS = (
    "done_7d",
    "done_30d",
    "done_90d",
    "ratio_sum",
    "ratio_n",
    "qa_n",
    "qa_pass",
    "complaints",
    "sat_sum",
    "sat_n",
)
PAIR_SUMS = ("done_total", "done_90d", "ratio_sum", "ratio_n", "qa_n", "qa_pass", "complaints")


@dataclass
class WorkerTables:
    """Outputs: the two feature tables and the latest raw sums/priors for the profile cache."""

    profile: pd.DataFrame
    type_perf: pd.DataFrame
    type_stats: pd.DataFrame  # one row per task type + ALL_TYPES: median minutes and priors (latest)
    worker_stats: pd.DataFrame  # one row per worker: raw window sums at the latest snapshot
    pair_stats: pd.DataFrame  # one row per (worker, task_type): raw window sums at the latest snapshot


def parse_skills(skills: pd.Series) -> np.ndarray:
    """JSON ``{task_type: level}`` strings -> ``(n, N_TYPES)`` int matrix (0 = not skilled)."""
    out = np.zeros((len(skills), N_TYPES), dtype=np.int64)
    col = {t: j for j, t in enumerate(TASK_TYPES)}
    for i, raw in enumerate(skills.fillna("{}").astype(str)):
        for t, level in json.loads(raw or "{}").items():
            if t in col:
                out[i, col[t]] = int(level)
    return out


def _codes(values: pd.Series, categories) -> np.ndarray:
    return pd.Categorical(values.astype(str), categories=categories).codes.astype(np.int64)


def outcome_events(
    events: dict[str, pd.DataFrame], worker_ids: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """Completions, QA results and complaints as arrays of (worker, type, time, value) codes."""
    tasks = events["tasks"][["task_id", "task_type"]]
    task_type = pd.Series(_codes(tasks["task_type"], TASK_TYPES), index=tasks["task_id"].astype(str))

    comp = events["completions"]
    c_task = comp["task_id"].astype(str)
    out = {
        "completions": {
            "w": _codes(comp["worker_id"], worker_ids),
            "k": task_type.reindex(c_task).fillna(-1).to_numpy(np.int64),
            "t": to_us(comp["completed_at"]),
            "minutes": comp["handling_minutes"].to_numpy(float),
        }
    }
    qa = events["qa_results"]
    out["qa"] = {
        "w": _codes(qa["worker_id"], worker_ids),
        "k": task_type.reindex(qa["task_id"].astype(str)).fillna(-1).to_numpy(np.int64),
        "t": to_us(qa["checked_at"]),
        "passed": qa["passed"].astype(float).to_numpy(float),
        "sat": pd.to_numeric(qa["satisfaction"], errors="coerce").astype(float).to_numpy(),
    }
    # A complaint counts against the worker who completed the task, at its filed_at.
    cp = events["complaints"]
    by_task = pd.Series(out["completions"]["w"], index=c_task)
    by_task = by_task[~by_task.index.duplicated(keep="last")]
    cp_task = cp["task_id"].astype(str)
    out["complaints"] = {
        "w": by_task.reindex(cp_task).fillna(-1).to_numpy(np.int64),
        "k": task_type.reindex(cp_task).fillna(-1).to_numpy(np.int64),
        "t": to_us(cp["filed_at"]),
    }
    for arrays in out.values():
        keep = (arrays["w"] >= 0) & (arrays["k"] >= 0)
        for name in arrays:
            arrays[name] = arrays[name][keep]
    return out


def handling_ratios(k: np.ndarray, t: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """minutes / median minutes of the type among completions before the start of the event's UTC day."""
    if not len(t):
        return np.zeros(0)
    day = (t // DAY) * DAY
    days = np.unique(day)
    med = medians_before(k, t, minutes, N_TYPES, days)
    return minutes / med[k, np.searchsorted(days, day)]


def build_worker_tables(events: dict[str, pd.DataFrame], snaps: np.ndarray) -> WorkerTables:
    """Worker profile and worker x type tables at the snapshot times ``snaps`` (int64 µs, sorted)."""
    workers = events["workers"].sort_values("worker_id", kind="stable").reset_index(drop=True)
    worker_ids = workers["worker_id"].astype(str).to_numpy()
    n_w, n_s = len(worker_ids), len(snaps)
    skills = parse_skills(workers["skills"])
    ev = outcome_events(events, worker_ids)
    c, q, cp = ev["completions"], ev["qa"], ev["complaints"]
    c_ratio = handling_ratios(c["k"], c["t"], c["minutes"])

    # Per worker: dense (n_w, n_s) window sums.
    ws = {
        f"done_{d}d": window_sums(c["w"], c["t"], None, n_w, snaps, d * DAY) for d in THROUGHPUT_WINDOWS_DAYS
    }
    ws["ratio_sum"] = window_sums(c["w"], c["t"], c_ratio, n_w, snaps, RATE_WINDOW)
    ws["ratio_n"] = window_sums(
        c["w"], c["t"], np.where(np.isnan(c_ratio), np.nan, 1.0), n_w, snaps, RATE_WINDOW
    )
    ws["qa_n"] = window_sums(q["w"], q["t"], None, n_w, snaps, RATE_WINDOW)
    ws["qa_pass"] = window_sums(q["w"], q["t"], q["passed"], n_w, snaps, RATE_WINDOW)
    ws["complaints"] = window_sums(cp["w"], cp["t"], None, n_w, snaps, RATE_WINDOW)
    ws["sat_sum"] = window_sums(q["w"], q["t"], q["sat"], n_w, snaps, RATE_WINDOW)
    ws["sat_n"] = window_sums(
        q["w"], q["t"], np.where(np.isnan(q["sat"]), np.nan, 1.0), n_w, snaps, RATE_WINDOW
    )

    # Per (worker, type): key = w * N_TYPES + k, reshaped to (n_w, N_TYPES, n_s).
    n_p = n_w * N_TYPES

    def pair(arrays, values, window):
        return window_sums(
            arrays["w"] * N_TYPES + arrays["k"], arrays["t"], values, n_p, snaps, window
        ).reshape(n_w, N_TYPES, n_s)

    ps = {
        "done_total": pair(c, None, None),
        "done_90d": pair(c, None, RATE_WINDOW),
        "ratio_sum": pair(c, c_ratio, RATE_WINDOW),
        "ratio_n": pair(c, np.where(np.isnan(c_ratio), np.nan, 1.0), RATE_WINDOW),
        "qa_n": pair(q, None, RATE_WINDOW),
        "qa_pass": pair(q, q["passed"], RATE_WINDOW),
        "complaints": pair(cp, None, RATE_WINDOW),
    }

    # Population priors per snapshot (overall: (n_s,), per type: (N_TYPES, n_s)).
    prior = population_priors(WORKER_RATES, ws)
    tprior = population_priors(PAIR_RATES, ps)

    hired = to_us(workers["hired_at"])
    # Rows are snapshot-major (time, then worker) so the latest snapshot is one contiguous block.
    si, wi = np.nonzero(snaps[:, None] >= hired[None, :])
    at = {n: ws[n][wi, si] for n in WORKER_SUMS}
    profile = pd.DataFrame(
        {
            "worker_id": worker_ids[wi],
            EVENT_TS: from_us(snaps[si]),
            "worker_province_id": workers["province_id"].astype(str).to_numpy()[wi],
            "worker_tenure_days": (snaps[si] - hired[wi]) / DAY,
            "worker_daily_capacity": workers["daily_capacity"].to_numpy(np.int64)[wi],
            "worker_n_skills": (skills > 0).sum(1)[wi],
            **{col: skills[wi, j] for j, col in enumerate(SKILL_COLUMNS)},
            **{f: v.round().astype(np.int64) for f, v in counts(WORKER_COUNTS, at).items()},
            **shrunk_rates(WORKER_RATES, at, {name: p[si] for name, p in prior.items()}),
        }
    )[WORKER_PROFILE.columns]

    # Pairs worth a row: declared skill or any history of that type by the latest snapshot.
    active_pair = (skills > 0) | (ps["done_total"][:, :, -1] > 0) | (ps["qa_n"][:, :, -1] > 0)
    pw, pk = np.nonzero(active_pair)
    si2, pi = np.nonzero(snaps[:, None] >= hired[pw][None, :])
    pw, pk = pw[pi], pk[pi]
    pat = {n: ps[n][pw, pk, si2] for n in PAIR_SUMS}
    type_perf = pd.DataFrame(
        {
            "worker_id": worker_ids[pw],
            "task_type": np.asarray(TASK_TYPES, dtype=object)[pk],
            EVENT_TS: from_us(snaps[si2]),
            "wt_skill_level": skills[pw, pk],
            **{f: v.round().astype(np.int64) for f, v in counts(PAIR_COUNTS, pat).items()},
            **shrunk_rates(PAIR_RATES, pat, {name: p[pk, si2] for name, p in tprior.items()}),
        }
    )[WORKER_TYPE_PERF.columns]

    latest = snaps[-1:]
    med = medians_before(c["k"], c["t"], c["minutes"], N_TYPES, latest)[:, 0]
    type_stats = pd.DataFrame(
        {
            "task_type": [*TASK_TYPES, ALL_TYPES],
            "median_minutes": [*med, np.nan],
            **{
                f"prior_{name}": [
                    *(tprior[name][:, -1] if name in tprior else [np.nan] * N_TYPES),
                    prior[name][-1],
                ]
                for name in prior_names(WORKER_RATES)
            },
        }
    )
    worker_stats = pd.DataFrame({"worker_id": worker_ids, **{n: ws[n][:, -1] for n in WORKER_SUMS}})
    aw, ak = np.nonzero(active_pair)
    pair_stats = pd.DataFrame(
        {
            "worker_id": worker_ids[aw],
            "task_type": np.asarray(TASK_TYPES, dtype=object)[ak],
            **{n: ps[n][aw, ak, -1] for n in PAIR_SUMS},
        }
    )
    return WorkerTables(profile, type_perf, type_stats, worker_stats, pair_stats)
