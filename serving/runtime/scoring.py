"""The champion models as a :class:`~serving.protocols.Scorer`, hot-swapped without restart.

Feature rows are assembled on numpy, never through pandas. For each model and task type a
``(n_workers, n_features)`` block holds every worker-side column (worker profile, worker × type
performance, worker province code), built once per profile snapshot; a request takes the candidate
rows of the block (one ``np.take``), writes the live columns (status, load, last QA outcome) of those
rows, and broadcasts the task's own row (task, customer and province features from Feast or the
request, plus the request-time features). The push views' TTLs apply at request time as Feast's
point-in-time join applies them in training: a live status older than ``WORKER_STATUS.ttl`` or a
last QA outcome older than ``WORKER_LAST_QA.ttl`` (or newer than the request time) is missing.

The three pair models predict on a small shared thread pool (LightGBM releases the GIL; each call
uses one OpenMP thread, so two cores run two models or two row chunks at once) when a batch is
large enough to pay for it. A background thread checks the MLflow ``champion`` alias every
``poll_seconds`` and swaps a changed model in under a lock; requests take the current models once,
so a swap never mixes versions within a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.request_time import LAST_QA, LAST_QA_COLUMNS, LIVE, LIVE_COLUMNS, NEVER, expired, sla_urgency
from features.spec import ODFV_FEATURES, VIEWS
from serving.protocols import PairScores, RiskScores, TaskRecord, WorkerPool

log = logging.getLogger("opsmatch.serving")
PAIR_MODELS: tuple[str, ...] = ("handling_time", "qa_pass", "complaint")
MODELS: tuple[str, ...] = (*PAIR_MODELS, "complaint_pre")
SLA_URGENCY: frozenset[str] = frozenset(n for n, _ in ODFV_FEATURES["sla_urgency"])
CHUNK_ROWS = 4096  # rows per thread above which one model's batch is split across the threads
COLUMN_ROWS = 64  # tasks above which task rows are encoded a column at a time (not a value at a time)


def _ttl_us(view: str) -> int:
    return int(VIEWS[view].ttl.total_seconds() * 1_000_000)


def request_time_features(task: TaskRecord, now: datetime) -> dict[str, float]:
    """The task's on-demand features (``request_time.sla_urgency``, as the Feast view computes them)."""
    return sla_urgency(task.sla_due_at, task.created_at, now)


def task_row(
    model: Any,
    task: TaskRecord,
    now: datetime,
    columns: np.ndarray | None = None,
    values: dict[str, Any] | None = None,
) -> np.ndarray:
    """The task-level values of ``model``'s features, encoded as training did (NaN when unknown);
    only the feature positions ``columns`` when given (the others NaN). ``values``: the task's raw
    feature values with the request-time ones, when already built."""
    if values is None:
        values = {**task.features, **request_time_features(task, now)}
    enc, names = model.encoder, model.feature_names
    if columns is None:
        return np.array([enc.encode_value(name, values.get(name)) for name in names], dtype=float)
    out = np.full(len(names), np.nan)
    for j in columns:
        value = values.get(names[j])
        if value is not None:
            out[j] = enc.encode_value(names[j], value)
    return out


def _rows(values: np.ndarray | None, idx: np.ndarray, width: int) -> np.ndarray:
    """``values[idx]``, NaN rows where ``values`` is absent or shorter than an index."""
    out = np.full((len(idx), width), np.nan)
    if values is None:
        return out
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    ok = idx < len(values)
    out[ok] = values[idx[ok]]
    return out


def _times(values: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    if values is None:
        return None
    out = np.full(len(idx), NEVER, dtype=np.int64)
    ok = idx < len(values)
    out[ok] = np.asarray(values)[idx[ok]]
    return out


def _now_us(now: datetime) -> int:
    return int(now.timestamp() * 1_000_000)


class FeatureAssembler:
    """Builds (candidates × features) matrices for one model from the profile snapshot and task rows."""

    def __init__(self, model: Any, worker_columns: Sequence[str], apply_ttl: bool = True) -> None:
        names = list(model.feature_names)
        self.model = model
        self.n = len(names)
        self.apply_ttl = apply_ttl
        col = {c: i for i, c in enumerate(worker_columns)}
        self.worker_dst = np.array([j for j, f in enumerate(names) if f in col], dtype=np.int64)
        self.worker_src = np.array([col[f] for f in names if f in col], dtype=np.int64)
        self.live_dst = np.array([j for j, f in enumerate(names) if f in LIVE], dtype=np.int64)
        self.live_src = np.array([LIVE[f] for f in names if f in LIVE], dtype=np.int64)
        self.qa_dst = np.array([j for j, f in enumerate(names) if f in LAST_QA], dtype=np.int64)
        self.qa_src = np.array([LAST_QA[f] for f in names if f in LAST_QA], dtype=np.int64)
        self.province_dst = names.index("worker_province_id") if "worker_province_id" in names else None
        worker_side = {*col, *LIVE, *LAST_QA, "worker_province_id"}
        self.task_dst = np.array([j for j, f in enumerate(names) if f not in worker_side], dtype=np.int64)
        self._blocks: dict[str, tuple[Any, Any, np.ndarray]] = {}
        self._lock = threading.Lock()
        self.status_ttl_us = _ttl_us("worker_status")
        self.qa_ttl_us = _ttl_us("worker_last_qa")

    def block(self, pool: WorkerPool, task_type: str) -> np.ndarray:
        """All workers' static columns for ``task_type`` (task and live columns NaN), cached per snapshot."""
        snap = pool.handle
        mat = snap.matrices[task_type]
        held = self._blocks.get(task_type)
        if held is not None and held[0] is mat and held[1] is pool.province_ids:
            return held[2]
        out = np.full((len(mat), self.n), np.nan)
        if len(self.worker_dst):
            out[:, self.worker_dst] = mat[:, self.worker_src]
        if self.province_dst is not None:
            codes = self.model.encoder.encode_column("worker_province_id", pool.province_ids.astype(str))
            out[: len(codes), self.province_dst] = codes[: len(out)]
        with self._lock:
            self._blocks[task_type] = (mat, pool.province_ids, out)
        return out

    def task_rows(
        self, tasks: Sequence[TaskRecord], now: datetime, values: Sequence[dict[str, Any]] | None = None
    ) -> np.ndarray:
        """One encoded task-level row per task (worker-side columns NaN)."""
        if not tasks:
            return np.empty((0, self.n))
        if values is None:
            values = [{**t.features, **request_time_features(t, now)} for t in tasks]
        if len(tasks) <= COLUMN_ROWS:
            pairs = zip(tasks, values, strict=True)
            return np.vstack([task_row(self.model, t, now, self.task_dst, v) for t, v in pairs])
        out = np.full((len(tasks), self.n), np.nan)  # a batch: column by column (encode_column's equal)
        names, enc = self.model.feature_names, self.model.encoder
        for j in self.task_dst:
            out[:, j] = enc.encode_column(names[j], [v.get(names[j]) for v in values])
        return out

    def pairs(
        self,
        tasks: Sequence[TaskRecord],
        pool: WorkerPool,
        task_idx: np.ndarray,
        idx: np.ndarray,
        now: datetime,
        values: Sequence[dict[str, Any]] | None = None,
    ) -> np.ndarray:
        """One row per (tasks[task_idx[i]], worker idx[i]) pair; ``values`` as in ``task_rows``."""
        snap = pool.handle
        rows = self.task_rows(tasks, now, values)
        idx = np.asarray(idx, dtype=np.int64)
        task_idx = np.asarray(task_idx, dtype=np.int64)
        types = [t.task_type for t in tasks]
        if len(set(types)) == 1:
            X = np.take(self.block(pool, types[0]), idx, axis=0)
        else:
            X = np.empty((len(idx), self.n))
            per_pair = np.array(types, dtype=object)[task_idx]
            for task_type in sorted(set(types)):
                sel = np.flatnonzero(per_pair == task_type)
                if len(sel):
                    X[sel] = np.take(self.block(pool, task_type), idx[sel], axis=0)
        if len(self.task_dst):
            if len(rows) == 1:
                X[:, self.task_dst] = rows[0, self.task_dst]
            else:
                X[:, self.task_dst] = rows[np.ix_(task_idx, self.task_dst)]
        now_us = _now_us(now)
        if len(self.live_dst):
            live = _rows(getattr(snap, "live", None), idx, len(LIVE_COLUMNS))
            if self.apply_ttl:
                self._expire(live, _times(getattr(snap, "live_at", None), idx), now_us, self.status_ttl_us)
            X[:, self.live_dst] = live[:, self.live_src]
        if len(self.qa_dst):
            qa = _rows(getattr(snap, "last_qa", None), idx, len(LAST_QA_COLUMNS))
            if self.apply_ttl:
                self._expire(qa, _times(getattr(snap, "last_qa_at", None), idx), now_us, self.qa_ttl_us)
            X[:, self.qa_dst] = qa[:, self.qa_src]
        return X

    @staticmethod
    def _expire(values: np.ndarray, at: np.ndarray | None, now_us: int, ttl_us: int) -> None:
        """NaN the rows Feast's point-in-time join would not return at ``now`` (outside [now - ttl, now])."""
        if at is None:
            return
        values[expired(at, now_us, ttl_us)] = np.nan


class TaskRows:
    """Encoded task-level rows of a task model, the request-time columns computed at each call.

    A row's other columns are kept while the same record object is scored again by the same model
    version (the task book holds one record per open task, so a watchlist or a monitor sweep re-encodes
    only the new tasks); at most ``limit`` rows are kept beyond those of the current call.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._held: dict[str, tuple[TaskRecord, str, np.ndarray]] = {}

    def rows(self, model: Any, tasks: Sequence[TaskRecord], now: datetime) -> np.ndarray:
        names = list(model.feature_names)
        version = str(model.version)
        X = np.empty((len(tasks), len(names)))
        held = self._held
        for i, t in enumerate(tasks):
            got = held.get(t.task_id)
            if got is None or got[0] is not t or got[1] != version:
                got = (t, version, task_row(model, t, now))
                held[t.task_id] = got
            X[i] = got[2]
        wait = [j for j, n in enumerate(names) if n in SLA_URGENCY]
        if wait:
            due = pd.DatetimeIndex([t.sla_due_at for t in tasks])
            created = pd.DatetimeIndex([t.created_at for t in tasks])
            values = sla_urgency(due, created, pd.Timestamp(now))
            for j in wait:
                X[:, j] = np.asarray(values[names[j]], dtype=float)
        if len(held) > self.limit + len(tasks):
            keep = {t.task_id for t in tasks}
            self._held = {k: v for k, v in held.items() if k in keep}
        return X


class ChampionScorer:
    """Scorer over the four champions; see the module docstring."""

    def __init__(
        self,
        load: Callable[[str], Any],
        current_version: Callable[[str], str | None],
        worker_columns: Sequence[str],
        poll_seconds: float = 60.0,
        num_threads: int = 1,
        *,
        apply_ttl: bool = False,
        parallel_min_rows: int = 256,
        compile_dir: Path | None = None,
    ) -> None:
        """``num_threads``: predictions run on up to this many threads (one OpenMP thread each) for
        batches of at least ``parallel_min_rows`` rows. ``apply_ttl``: expire live status and last QA
        at request time as training did (the service does; a replay that drives the live columns
        itself may not). ``compile_dir``: each loaded champion is then compiled in the background
        (:mod:`serving.runtime.compiled`, cached there) and served compiled once it agrees with LightGBM."""
        self._load = load
        self._current_version = current_version
        self._worker_columns = tuple(worker_columns)
        self._lock = threading.Lock()
        self._models: dict[str, tuple[Any, FeatureAssembler | None]] = {}
        self.poll_seconds = poll_seconds
        self.num_threads = num_threads
        self.apply_ttl = apply_ttl
        self.parallel_min_rows = parallel_min_rows
        self.compile_dir = compile_dir
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.attempted = threading.Event()  # set once the first load of every champion was tried
        self._pre = TaskRows()

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
                assembler = None
                if name in PAIR_MODELS:
                    assembler = FeatureAssembler(model, self._worker_columns, self.apply_ttl)
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
        swapped: list[str] = []
        try:
            swapped = self.refresh()
        finally:
            self.attempted.set()
        self.compile(swapped)
        while not self._stop.wait(self.poll_seconds if self.ready() else min(self.poll_seconds, 5.0)):
            self.compile(self.refresh())

    def compile(self, names: Sequence[str]) -> list[str]:
        """Serve each of ``names`` by its compiled forest when ``compile_dir`` is set and it compiles and
        agrees with LightGBM (the booster serves meanwhile, and otherwise); the names swapped."""
        if self.compile_dir is None:
            return []
        from serving.runtime.compiled import compile_model

        done = []
        for name in names:
            held = self._models.get(name)
            fast = None if held is None else compile_model(held[0], self.compile_dir)
            if held is None or fast is None:
                continue
            with self._lock:
                if self._models.get(name, (None, None))[0] is held[0]:  # no newer champion meanwhile
                    self._models = {**self._models, name: (fast, held[1])}
                    done.append(name)
                    log.info("serving %s champion version %s compiled", name, held[0].version)
        return done

    def stop(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def ready(self) -> bool:
        return all(name in self._models for name in MODELS)

    def versions(self) -> dict[str, str]:
        models = self._models
        return {name: str(models[name][0].version) for name in MODELS if name in models}

    def _take(self) -> dict[str, tuple[Any, FeatureAssembler | None]]:
        with self._lock:
            return self._models

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.num_threads, thread_name_prefix="predict")
        return self._pool

    # -- scoring ---------------------------------------------------------------------------------
    def pair_features(
        self,
        tasks: Sequence[TaskRecord],
        pool: WorkerPool,
        task_idx: np.ndarray,
        worker_idx: np.ndarray,
        *,
        now: datetime | None = None,
    ) -> dict[str, np.ndarray]:
        """The encoded model inputs of each pair model (what ``score_pairs`` predicts on)."""
        models = self._take()
        now = now or datetime.now(UTC)
        task_idx, worker_idx = np.asarray(task_idx, dtype=np.int64), np.asarray(worker_idx, dtype=np.int64)
        used = np.unique(task_idx)
        local = np.searchsorted(used, task_idx)
        subset = [tasks[int(t)] for t in used]
        values = [{**t.features, **request_time_features(t, now)} for t in subset]
        return {
            name: models[name][1].pairs(subset, pool, local, worker_idx, now, values)  # type: ignore[union-attr]
            for name in PAIR_MODELS
        }

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
        X = self.pair_features(tasks, pool, task_idx, worker_idx, now=now)
        out = self._predict({name: (models[name][0], X[name]) for name in PAIR_MODELS})
        return PairScores(out["handling_time"], out["qa_pass"], out["complaint"])

    def _predict(self, work: dict[str, tuple[Any, np.ndarray]]) -> dict[str, np.ndarray]:
        """Predict every (model, X); on the thread pool when the batch is large enough."""
        rows = sum(len(X) for _, X in work.values())
        if self.num_threads <= 1 or rows < self.parallel_min_rows:
            return {n: m.predict(X, num_threads=1) if len(X) else np.empty(0) for n, (m, X) in work.items()}
        pool = self._executor()
        jobs: dict[str, list[Any]] = {}
        for name, (model, X) in work.items():
            # Big batches (e.g. /assign) are also split by rows, so the threads finish together.
            k = self.num_threads if len(X) >= CHUNK_ROWS * self.num_threads else 1
            jobs[name] = [pool.submit(model.predict, part, num_threads=1) for part in np.array_split(X, k)]
        return {name: np.concatenate([j.result() for j in parts]) for name, parts in jobs.items()}

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

    def complaint_risk(
        self, tasks: Sequence[TaskRecord], *, now: datetime | None = None, contributions: bool = True
    ) -> RiskScores:
        """P(complaint) of each task at ``now`` (its wait then: hours waited and to the SLA), with the
        per-feature contributions unless ``contributions`` is False (e.g. all open tasks of a watchlist
        whose page alone is explained)."""
        model, _ = self._take()["complaint_pre"]
        now = now or datetime.now(UTC)
        X = self._pre.rows(model, tasks, now) if tasks else np.empty((0, len(model.feature_names)))
        prob = model.predict(X, num_threads=1) if len(X) else np.empty(0)
        contrib = model.contributions(X, num_threads=1) if contributions and len(X) else None
        if contributions and contrib is None:
            contrib = np.empty((0, len(model.feature_names) + 1))
        return RiskScores(prob, contrib, list(model.feature_names))
