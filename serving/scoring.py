"""The champion models as a :class:`~serving.protocols.Scorer`, hot-swapped without restart.

Feature rows are assembled on numpy from the profile cache's per-type worker matrices (worker and
worker × type columns), its live status, and the task's own row (task, customer and province features
from Feast or the request) broadcast over the candidates; the native boosters predict with one thread.
A background thread checks the MLflow ``champion`` alias every ``poll_seconds`` and swaps a changed
model in under a lock; requests take the current models once, so a swap never mixes versions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from serving.protocols import PairScores, RiskScores, TaskRecord, WorkerPool

log = logging.getLogger("opsmatch.serving")
PAIR_MODELS: tuple[str, ...] = ("handling_time", "qa_pass", "complaint")
MODELS: tuple[str, ...] = (*PAIR_MODELS, "complaint_pre")
LIVE = {"on_shift": 0, "open_tasks": 1, "load_ratio": 2}


def request_time_features(task: TaskRecord, now: datetime) -> dict[str, float]:
    """The on-demand features (as the Feast ``sla_urgency`` view computes them)."""
    return {
        "hours_to_sla": (task.sla_due_at - now).total_seconds() / 3600.0,
        "task_age_hours": (now - task.created_at).total_seconds() / 3600.0,
    }


_MAPPINGS: dict[int, tuple[Any, dict[str, dict[str, int]]]] = {}


def _mappings(model: Any) -> dict[str, dict[str, int]]:
    """Category -> code of every categorical feature of ``model`` (cached per model object)."""
    held = _MAPPINGS.get(id(model))
    if held is None or held[0] is not model:
        cats = model.encoder.categories
        held = (model, {c: {v: i for i, v in enumerate(cats[c])} for c in cats})
        _MAPPINGS[id(model)] = held
    return held[1]


def task_row(model: Any, task: TaskRecord, now: datetime) -> np.ndarray:
    """The task-level values of ``model``'s features, encoded as training did (NaN when unknown)."""
    values = {**task.features, **request_time_features(task, now)}
    maps = _mappings(model)
    out = np.full(len(model.feature_names), np.nan)
    for j, name in enumerate(model.feature_names):
        value = values.get(name)
        if value is None:
            continue
        if name in maps:
            code = maps[name].get(str(value))
            out[j] = np.nan if code is None else code
        else:
            try:
                out[j] = float(value)
            except (TypeError, ValueError):
                out[j] = np.nan
    return out


class FeatureAssembler:
    """Builds (candidates × features) matrices for a model from the profile snapshot and a task row."""

    def __init__(self, model: Any, worker_columns: Sequence[str]) -> None:
        names = list(model.feature_names)
        self.model = model
        self.n = len(names)
        col = {c: i for i, c in enumerate(worker_columns)}
        self.worker_dst = np.array([j for j, f in enumerate(names) if f in col], dtype=np.int64)
        self.worker_src = np.array([col[f] for f in names if f in col], dtype=np.int64)
        self.live_dst = np.array([j for j, f in enumerate(names) if f in LIVE], dtype=np.int64)
        self.live_src = np.array([LIVE[f] for f in names if f in LIVE], dtype=np.int64)
        self.province_dst = names.index("worker_province_id") if "worker_province_id" in names else None
        self._province_codes: tuple[int, np.ndarray] | None = None

    def pairs(
        self,
        tasks: Sequence[TaskRecord],
        pool: WorkerPool,
        task_idx: np.ndarray,
        idx: np.ndarray,
        now: datetime,
    ) -> np.ndarray:
        """One row per (tasks[task_idx[i]], worker idx[i]) pair."""
        snap = pool.handle
        rows = np.vstack([task_row(self.model, t, now) for t in tasks]) if tasks else np.empty((0, self.n))
        X = rows[task_idx]
        if len(self.worker_dst):
            types = np.array([t.task_type for t in tasks], dtype=object)[task_idx]
            for task_type in np.unique(types):
                sel = np.flatnonzero(types == task_type)
                X[np.ix_(sel, self.worker_dst)] = snap.matrices[task_type][np.ix_(idx[sel], self.worker_src)]
        if len(self.live_dst):
            X[:, self.live_dst] = snap.live[np.ix_(idx, self.live_src)]
        if self.province_dst is not None:
            X[:, self.province_dst] = self._codes(pool)[idx]
        return X

    def _codes(self, pool: WorkerPool) -> np.ndarray:
        key = id(pool.handle)
        if self._province_codes is None or self._province_codes[0] != key:
            codes = self.model.encoder.encode_column("worker_province_id", pool.province_ids.astype(str))
            self._province_codes = (key, codes)
        return self._province_codes[1]


class ChampionScorer:
    """Scorer over the four champions; see the module docstring."""

    def __init__(
        self,
        load: Callable[[str], Any],
        current_version: Callable[[str], str | None],
        worker_columns: Sequence[str],
        poll_seconds: float = 60.0,
        num_threads: int = 1,
    ) -> None:
        self._load = load
        self._current_version = current_version
        self._worker_columns = tuple(worker_columns)
        self._lock = threading.Lock()
        self._models: dict[str, tuple[Any, FeatureAssembler | None]] = {}
        self.poll_seconds = poll_seconds
        self.num_threads = num_threads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    # -- loading and hot swap --------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Load every champion whose registry version differs from the one served; returns swapped."""
        swapped = []
        for name in MODELS:
            try:
                version = self._current_version(name)
                held = self._models.get(name)
                if version is None or (held is not None and str(held[0].version) == str(version)):
                    continue
                model = self._load(name)
                assembler = FeatureAssembler(model, self._worker_columns) if name in PAIR_MODELS else None
                with self._lock:
                    self._models = {**self._models, name: (model, assembler)}
                swapped.append(name)
                log.info("serving %s champion version %s", name, model.version)
            except Exception as exc:  # noqa: BLE001 - keep the current model, retry at the next poll
                self.last_error = f"{name}: {exc}"
                log.warning("could not load the %s champion: %s", name, exc)
        return swapped

    def start(self) -> ChampionScorer:
        """Load now (best effort) and poll the registry in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="champion-poll", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        self.refresh()
        while not self._stop.wait(self.poll_seconds if self.ready() else min(self.poll_seconds, 5.0)):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()

    def ready(self) -> bool:
        return all(name in self._models for name in MODELS)

    def versions(self) -> dict[str, str]:
        models = self._models
        return {name: str(models[name][0].version) for name in MODELS if name in models}

    def _take(self) -> dict[str, tuple[Any, FeatureAssembler | None]]:
        with self._lock:
            return self._models

    # -- scoring ---------------------------------------------------------------------------------
    def score_pairs(
        self,
        tasks: Sequence[TaskRecord],
        pool: WorkerPool,
        task_idx: np.ndarray,
        worker_idx: np.ndarray,
        *,
        now: datetime | None = None,
    ) -> PairScores:
        models = self._take()
        now = now or datetime.now(UTC)
        task_idx, worker_idx = np.asarray(task_idx, dtype=np.int64), np.asarray(worker_idx, dtype=np.int64)
        used = np.unique(task_idx)
        local = np.searchsorted(used, task_idx)
        subset = [tasks[int(t)] for t in used]
        out = {}
        for name in PAIR_MODELS:
            model, assembler = models[name]
            X = assembler.pairs(subset, pool, local, worker_idx, now)  # type: ignore[union-attr]
            out[name] = model.predict(X, num_threads=self.num_threads) if len(X) else np.empty(0)
        return PairScores(out["handling_time"], out["qa_pass"], out["complaint"])

    def prior(self, task_types: Sequence[str], pool: WorkerPool) -> dict[str, PairScores]:
        """Per-type estimates from the profiles alone: shrunk ratios and rates of worker × type."""
        snap = pool.handle
        col = {c: i for i, c in enumerate(self._worker_columns)}
        out = {}
        for t in task_types:
            mat = snap.matrices[t]

            def pick(pair: str, worker: str, default: float, mat: np.ndarray = mat) -> np.ndarray:
                v = mat[:, col[pair]].copy()
                fallback = mat[:, col[worker]]
                v[np.isnan(v)] = fallback[np.isnan(v)]
                v[np.isnan(v)] = default
                return v

            median = float(pool.type_median_minutes.get(t, 30.0))
            out[t] = PairScores(
                minutes=median * pick("wt_handling_ratio", "worker_handling_ratio", 1.0),
                p_qa_pass=pick("wt_qa_pass_rate", "worker_qa_pass_rate", 0.85),
                p_complaint=pick("wt_complaint_rate", "worker_complaint_rate", 0.02),
            )
        return out

    def complaint_risk(self, tasks: Sequence[TaskRecord], *, now: datetime | None = None) -> RiskScores:
        model, _ = self._take()["complaint_pre"]
        now = now or datetime.now(UTC)
        X = np.vstack([task_row(model, t, now) for t in tasks]) if tasks else np.empty((0, 0))
        prob = model.predict(X, num_threads=self.num_threads)
        contrib = model.contributions(X, num_threads=self.num_threads)
        return RiskScores(prob, contrib, list(model.feature_names))
