"""The twin's hidden truth: worker x task-type traits and the true outcome model.

Written under ``settings.truth_dir`` apart from the event log; only evaluation code (and the oracle
policy) may read it. ``expected_outcomes`` is the pure function that gives the true expected minutes,
P(QA pass) and P(complaint) of any (task, worker) pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.scenario import ScenarioConfig

WORKER_TRUTH_FILE = "worker_type_truth.parquet"
TASK_TRUTH_FILE = "task_truth.parquet"
SCENARIO_FILE = "scenario.json"


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Truth:
    """Hidden worker x type traits (arrays indexed [worker, type]) plus the scenario's outcome model.

    ``speed`` multiplies handling time (lower is faster), ``quality`` is added to the QA-pass logit,
    ``care`` is subtracted from the complaint logit; ``experience0`` is the prior experience count.
    """

    config: ScenarioConfig
    worker_ids: tuple[str, ...]
    speed: np.ndarray
    quality: np.ndarray
    care: np.ndarray
    experience0: np.ndarray
    skill_level: np.ndarray

    @property
    def task_types(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.config.task_types)

    @property
    def eligible(self) -> np.ndarray:
        """[worker, type] -> declared skill meets the type's minimum level."""
        need = np.array([t.min_skill for t in self.config.task_types])
        return self.skill_level >= need[None, :]

    def type_array(self, attr: str) -> np.ndarray:
        """One task-type attribute as an array indexed by type."""
        return np.array([getattr(t, attr) for t in self.config.task_types], dtype=float)

    def mean_factor(self) -> np.ndarray:
        """E[noise] per type: exp(sigma^2/2) for lognormal (median base), 1 for exponential (mean)."""
        return np.array(
            [np.exp(t.sigma**2 / 2) if t.distribution == "lognormal" else 1.0 for t in self.config.task_types]
        )

    # ------------------------------------------------------------------ persistence
    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per worker x task type."""
        grid_w, grid_k = np.meshgrid(
            np.arange(len(self.worker_ids)), np.arange(len(self.task_types)), indexing="ij"
        )
        w, k = grid_w.ravel(), grid_k.ravel()
        return pd.DataFrame(
            {
                "worker_id": np.asarray(self.worker_ids)[w],
                "task_type": np.asarray(self.task_types)[k],
                "skill_level": self.skill_level.ravel(),
                "eligible": self.eligible.ravel(),
                "speed": self.speed.ravel(),
                "quality": self.quality.ravel(),
                "care": self.care.ravel(),
                "experience0": self.experience0.ravel(),
            }
        )

    def save(self, truth_dir: Path) -> None:
        """Write the worker x type table and the scenario (outcome model) under ``truth_dir``."""
        truth_dir = Path(truth_dir)
        truth_dir.mkdir(parents=True, exist_ok=True)
        self.to_frame().to_parquet(truth_dir / WORKER_TRUTH_FILE, index=False)
        (truth_dir / SCENARIO_FILE).write_text(self.config.model_dump_json(indent=1))


def load_truth(truth_dir: Path) -> Truth:
    """Read a truth written by ``Truth.save``."""
    truth_dir = Path(truth_dir)
    config = ScenarioConfig.model_validate(json.loads((truth_dir / SCENARIO_FILE).read_text()))
    df = pd.read_parquet(truth_dir / WORKER_TRUTH_FILE)
    types = [t.name for t in config.task_types]
    worker_ids = tuple(pd.unique(df["worker_id"]))
    shape = (len(worker_ids), len(types))

    def grid(col: str) -> np.ndarray:
        return df[col].to_numpy().reshape(shape)

    if list(df["task_type"].iloc[: len(types)]) != types:
        raise ValueError("worker truth table is not in scenario task-type order")
    return Truth(
        config,
        worker_ids,
        grid("speed"),
        grid("quality"),
        grid("care"),
        grid("experience0"),
        grid("skill_level"),
    )


# ---------------------------------------------------------------------- the outcome model (pure)
def fatigue_factor(config: ScenarioConfig, shift_done: np.ndarray) -> np.ndarray:
    """Handling-time multiplier after ``shift_done`` tasks already done in the shift."""
    b = config.behaviour
    return 1.0 + b.fatigue_minutes * np.maximum(0, np.asarray(shift_done) - b.fatigue_threshold)


def learning_factor(config: ScenarioConfig, experience: np.ndarray) -> np.ndarray:
    """Handling-time multiplier of a worker with ``experience`` tasks of the type done before."""
    b = config.behaviour
    return 1.0 + b.learning_amplitude * np.exp(-np.asarray(experience, dtype=float) / b.learning_tau)


def expected_minutes_arr(
    truth: Truth, k: np.ndarray, c: np.ndarray, w: np.ndarray, shift_done: np.ndarray, experience: np.ndarray
) -> np.ndarray:
    """True expected handling minutes for type ``k``, complexity ``c`` (1-5), worker index ``w``."""
    cfg = truth.config
    base = truth.type_array("median_minutes") * truth.mean_factor()
    cx = np.asarray(cfg.behaviour.complexity_minutes)
    return (
        base[k]
        * cx[np.asarray(c) - 1]
        * truth.speed[w, k]
        * fatigue_factor(cfg, shift_done)
        * learning_factor(cfg, experience)
    )


def p_pass_arr(
    truth: Truth, k: np.ndarray, c: np.ndarray, w: np.ndarray, shift_done: np.ndarray
) -> np.ndarray:
    """True P(QA pass)."""
    b = truth.config.behaviour
    logit = (
        truth.type_array("qa_logit")[k]
        + truth.quality[w, k]
        - b.complexity_qa_logit * (np.asarray(c) - 3)
        - b.fatigue_qa_logit * np.maximum(0, np.asarray(shift_done) - b.fatigue_threshold)
    )
    return sigmoid(logit)


def task_complaint_logit(
    config: ScenarioConfig,
    k: np.ndarray,
    c: np.ndarray,
    channel: np.ndarray,
    age_band: np.ndarray,
    value_band: np.ndarray,
    vip: np.ndarray,
    prior_complaints: np.ndarray,
) -> np.ndarray:
    """The part of the complaint logit fixed by the task and its customer (before any worker acts)."""
    b = config.behaviour
    type_logit = np.array([t.complaint_logit for t in config.task_types])

    def lookup(table: dict[str, float], values: np.ndarray) -> np.ndarray:
        return pd.Series(np.asarray(values)).map(table).fillna(0.0).to_numpy(dtype=float)

    return (
        b.complaint_base
        + type_logit[k]
        + b.complaint_complexity * (np.asarray(c) - 3)
        + b.complaint_prior * np.minimum(np.asarray(prior_complaints, dtype=float), 5)
        + b.complaint_vip * np.asarray(vip, dtype=float)
        + lookup(b.complaint_age, age_band)
        + lookup(b.complaint_value, value_band)
        + lookup(b.complaint_channel, channel)
    )


def complaint_logit(
    truth: Truth,
    base_logit: np.ndarray,
    k: np.ndarray,
    w: np.ndarray,
    hours_late: np.ndarray,
    qa_failed: np.ndarray | float,
) -> np.ndarray:
    """Full complaint logit given lateness beyond SLA and the (true) QA outcome."""
    b = truth.config.behaviour
    late = np.clip(np.asarray(hours_late, dtype=float), 0, b.complaint_late_cap_hours)
    return (
        np.asarray(base_logit)
        + b.complaint_late_per_hour * late
        + b.complaint_qa_fail * np.asarray(qa_failed, dtype=float)
        - b.complaint_care * truth.care[w, k]
    )


def p_complaint_arr(
    truth: Truth,
    base_logit: np.ndarray,
    k: np.ndarray,
    w: np.ndarray,
    hours_late: np.ndarray,
    p_pass: np.ndarray,
) -> np.ndarray:
    """True P(complaint), marginalised over the QA outcome."""
    ok = sigmoid(complaint_logit(truth, base_logit, k, w, hours_late, 0.0))
    bad = sigmoid(complaint_logit(truth, base_logit, k, w, hours_late, 1.0))
    return p_pass * ok + (1 - p_pass) * bad


TruthSource = Truth | str | Path | Any  # a Truth, a truth dir, or settings with ``truth_dir``
_DEFAULTS = {
    "channel": "branch",
    "age_band": "30-44",
    "policy_value_band": "mid",
    "vip": False,
    "prior_complaints": 0,
}


@lru_cache(maxsize=4)
def _cached(truth_dir: str, stamp: float) -> tuple[Truth, pd.DataFrame | None]:
    path = Path(truth_dir) / TASK_TRUTH_FILE
    tasks = pd.read_parquet(path).set_index("task_id") if path.exists() else None
    return load_truth(Path(truth_dir)), tasks


def resolve_truth(source: TruthSource) -> tuple[Truth, pd.DataFrame | None]:
    """The Truth and (if written) the per-task truth table, from a Truth, a directory or settings."""
    if isinstance(source, Truth):
        return source, None
    truth_dir = Path(getattr(source, "truth_dir", source))
    stamp = max((f.stat().st_mtime for f in truth_dir.glob("*") if f.is_file()), default=0.0)
    return _cached(str(truth_dir.resolve()), stamp)


def expected_outcomes(source: TruthSource, pairs: pd.DataFrame) -> pd.DataFrame:
    """True expected minutes, P(QA pass) and P(complaint) for arbitrary (task, worker) pairs.

    ``source``: a ``Truth``, a truth directory, or settings (its ``truth_dir``). ``pairs`` needs
    ``worker_id`` and either ``task_id`` (attributes then come from the written task truth) or
    ``task_type`` and ``complexity``. Optional columns (default): ``channel`` (branch), ``age_band``
    (30-44), ``policy_value_band`` (mid), ``vip`` (False), ``prior_complaints`` (0), ``shift_tasks_done``,
    ``experience``, ``hours_late`` beyond SLA. With ``task_id`` and the worker who actually did the task,
    the conditions default to the realised ones (tasks done in the shift, experience); for another worker
    to a fresh shift and its prior experience; ``hours_late`` defaults to the lateness expected if the
    worker had started when the task really started (0 when it never started). Returns a frame aligned
    with ``pairs``.
    """
    truth, tasks = resolve_truth(source)
    n = len(pairs)
    known: dict[str, np.ndarray] = {c: pairs[c].to_numpy() for c in pairs.columns}
    row = None
    if "task_id" in pairs and tasks is not None:
        row = tasks.reindex(pairs["task_id"].astype(str).to_numpy())
        if row["task_type"].isna().any():
            raise KeyError("unknown task_id in pairs")
        for column in ("task_type", "complexity", *_DEFAULTS):
            known.setdefault(column, row[column].to_numpy())
    widx = {w: i for i, w in enumerate(truth.worker_ids)}
    kidx = {t: i for i, t in enumerate(truth.task_types)}
    worker_rows = pd.Series(known["worker_id"]).map(widx)
    type_rows = pd.Series(known["task_type"]).map(kidx)
    if worker_rows.isna().any() or type_rows.isna().any():
        raise KeyError("unknown worker_id or task_type in pairs")
    w, k = worker_rows.to_numpy(dtype=int), type_rows.to_numpy(dtype=int)
    c = np.asarray(known["complexity"], dtype=int)
    same = np.zeros(n, dtype=bool)
    if row is not None:
        same = row["worker_id"].to_numpy() == np.asarray(known["worker_id"])

    def given(name: str, fallback: np.ndarray) -> np.ndarray:
        """The pairs' values where given (not null), else ``fallback``."""
        if name not in known:
            return fallback
        v = pd.Series(known[name], dtype=object)
        return np.where(v.isna().to_numpy(), fallback, v.to_numpy())

    def cond(name: str, default: np.ndarray) -> np.ndarray:
        realised = default if row is None else np.where(same, row[name].to_numpy(dtype=float), default)
        return given(name, realised).astype(float)

    done = cond("shift_tasks_done", np.zeros(n))
    exp = cond("experience", truth.experience0[w, k])
    minutes = expected_minutes_arr(truth, k, c, w, done, exp)
    late = np.zeros(n)
    if row is not None:
        slack = (row["started_at"] - row["sla_due_at"]).dt.total_seconds().to_numpy() / 3600
        late = np.nan_to_num(np.maximum(0.0, slack + minutes / 60), nan=0.0)
    late = given("hours_late", late).astype(float)
    pp = p_pass_arr(truth, k, c, w, done)
    opt = {name: given(name, np.full(n, d, dtype=object)) for name, d in _DEFAULTS.items()}
    base = task_complaint_logit(
        truth.config,
        k,
        c,
        opt["channel"],
        opt["age_band"],
        opt["policy_value_band"],
        opt["vip"].astype(float),
        opt["prior_complaints"].astype(float),
    )
    pc = p_complaint_arr(truth, base, k, w, late, pp)
    return pd.DataFrame({"expected_minutes": minutes, "p_pass": pp, "p_complaint": pc}, index=pairs.index)
