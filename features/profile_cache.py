"""In-memory worker profiles for serving: every worker's features as numpy matrices, refreshed and pushed.

Loads the latest snapshot of ``worker_profile`` and ``worker_type_perf`` (the rows at the manifest's
``as_of``, i.e. exactly what ``materialize`` puts online) in bulk, and pre-builds one ``(n_workers, F)``
float64 matrix per task type: worker columns then that type's worker x type columns (NaN where the worker
has no row for the type). Live status (on shift, open tasks, load ratio) is a separate ``(n_workers, 3)``
matrix, and the latest QA outcome (passed, score, satisfaction) a ``(n_workers, 3)`` one, each with the
time of its row so that consumers can apply the push views' TTLs at request time. Readers take a
reference to an immutable snapshot; writers build new arrays and swap the reference under a lock, so a
lookup never sees a half-applied update and needs no lock itself.

Pushed outcomes update the raw window sums and re-shrink with the snapshot's priors (windows do not slide
until the next reload). Outcomes newer than a reloaded snapshot's ``as_of`` are re-applied after it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from features.outcomes import apply_to_sums, shrunk_pair_features, shrunk_worker_features
from features.pipeline import read_manifest
from features.request_time import LAST_QA_COLUMNS, LIVE, NEVER, last_qa_values, live_rows, load_ratio
from features.spec import (
    EVENT_TS,
    PAIR_STATS,
    TYPE_STATS,
    WORKER_LAST_QA,
    WORKER_PROFILE,
    WORKER_STATS,
    WORKER_STATUS,
    WORKER_TYPE_PERF,
    table_path,
)
from features.windows import to_us
from features.worker_features import PAIR_SUMS, WORKER_SUMS
from opsmatch.contract import TASK_TYPES
from opsmatch.settings import Settings

WORKER_COLUMNS: tuple[str, ...] = tuple(c for c in WORKER_PROFILE.feature_names if c != "worker_province_id")
PAIR_COLUMNS: tuple[str, ...] = tuple(WORKER_TYPE_PERF.feature_names)
TYPE_INDEX = {t: j for j, t in enumerate(TASK_TYPES)}


@dataclass(frozen=True)
class ProfileSnapshot:
    """Immutable worker features at one point: swap the whole object, never mutate it."""

    worker_ids: np.ndarray  # (n,) str, sorted
    index: dict[str, int]
    id_index: pd.Index
    province_ids: np.ndarray  # (n,) str
    capacity: np.ndarray  # (n,) float
    matrices: dict[str, np.ndarray]  # task type -> (n, len(columns)) float64
    live: np.ndarray  # (n, len(LIVE_COLUMNS)) float64: request_time.live_rows (NaN unknown)
    live_at: np.ndarray  # (n,) int64 µs of the live row (NEVER if unknown)
    last_qa: np.ndarray  # (n, len(LAST_QA_COLUMNS)) float64: the last QA's passed (0/1), score, satisfaction
    last_qa_at: np.ndarray  # (n,) int64 µs of the last QA row (NEVER if unknown)
    worker_sums: np.ndarray  # (n, len(WORKER_SUMS))
    pair_sums: np.ndarray  # (n, n_types, len(PAIR_SUMS))
    type_stats: pd.DataFrame  # median minutes and priors per type (+ worker_features.ALL_TYPES)
    as_of: pd.Timestamp | None
    loaded_at: float  # time.time() of the load/refresh

    columns: tuple[str, ...] = WORKER_COLUMNS + PAIR_COLUMNS


def _read_latest(path, as_of: pd.Timestamp) -> pd.DataFrame:
    return pq.read_table(path, filters=[(EVENT_TS, "==", as_of)]).to_pandas()


def load_snapshot(settings: Settings) -> ProfileSnapshot:
    """Build a snapshot from the latest offline tables of ``settings.feature_data_dir``."""
    base = settings.feature_data_dir
    manifest = read_manifest(base)
    if not manifest.get("as_of"):
        raise RuntimeError("no feature tables yet: run build_features(settings) first")
    as_of = pd.Timestamp(manifest["as_of"]).tz_convert("UTC")
    prof = (
        _read_latest(table_path(base, WORKER_PROFILE.name), as_of)
        .sort_values("worker_id")
        .reset_index(drop=True)
    )
    ids = prof["worker_id"].astype(str).to_numpy()
    index = {w: i for i, w in enumerate(ids)}
    n, n_t = len(ids), len(TASK_TYPES)
    wmat = prof[list(WORKER_COLUMNS)].to_numpy(dtype=np.float64)
    pair = _read_latest(table_path(base, WORKER_TYPE_PERF.name), as_of)
    pmat = np.full((n_t, n, len(PAIR_COLUMNS)), np.nan)
    wi = pair["worker_id"].astype(str).map(index).to_numpy()
    ti = pair["task_type"].astype(str).map(TYPE_INDEX).to_numpy()
    ok = ~(pd.isna(wi) | pd.isna(ti))
    pmat[ti[ok].astype(int), wi[ok].astype(int)] = pair.loc[ok, list(PAIR_COLUMNS)].to_numpy(np.float64)
    matrices = {t: np.ascontiguousarray(np.hstack([wmat, pmat[j]])) for t, j in TYPE_INDEX.items()}

    ws = pd.read_parquet(table_path(base, WORKER_STATS)).set_index("worker_id").reindex(ids)
    worker_sums = ws[list(WORKER_SUMS)].fillna(0.0).to_numpy(np.float64)
    ps = pd.read_parquet(table_path(base, PAIR_STATS))
    pair_sums = np.zeros((n, n_t, len(PAIR_SUMS)))
    pw = ps["worker_id"].astype(str).map(index).to_numpy()
    pk = ps["task_type"].astype(str).map(TYPE_INDEX).to_numpy()
    ok = ~(pd.isna(pw) | pd.isna(pk))
    pair_sums[pw[ok].astype(int), pk[ok].astype(int)] = ps.loc[ok, list(PAIR_SUMS)].to_numpy(np.float64)

    capacity = prof["worker_daily_capacity"].to_numpy(np.float64)
    on_shift, open_tasks = np.full(n, np.nan), np.full(n, np.nan)
    live_at = np.full(n, NEVER, dtype=np.int64)
    status = pd.read_parquet(table_path(base, WORKER_STATUS.name))
    if len(status):
        last = status.sort_values(EVENT_TS, kind="stable").drop_duplicates("worker_id", keep="last")
        found = last["worker_id"].astype(str).map(index)
        last, si = last[found.notna()], found[found.notna()].astype(int).to_numpy()
        on_shift[si] = last["on_shift"].astype(float).to_numpy()
        open_tasks[si] = last["open_tasks"].astype(float).to_numpy()
        live_at[si] = to_us(last[EVENT_TS])
    live = live_rows(on_shift, open_tasks, capacity)
    last_qa, last_qa_at = _latest_qa(pd.read_parquet(table_path(base, WORKER_LAST_QA.name)), index)
    return ProfileSnapshot(
        worker_ids=ids,
        index=index,
        id_index=pd.Index(ids),
        province_ids=prof["worker_province_id"].astype(str).to_numpy(),
        capacity=capacity,
        matrices=matrices,
        live=live,
        live_at=live_at,
        last_qa=last_qa,
        last_qa_at=last_qa_at,
        worker_sums=worker_sums,
        pair_sums=pair_sums,
        type_stats=pd.read_parquet(table_path(base, TYPE_STATS)).set_index("task_type"),
        as_of=as_of,
        loaded_at=time.time(),
    )


def _latest_qa(rows: pd.DataFrame, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(values, time µs) of each worker's latest ``worker_last_qa`` row (NaN / NEVER without one)."""
    values = np.full((len(index), len(LAST_QA_COLUMNS)), np.nan)
    at = np.full(len(index), NEVER, dtype=np.int64)
    if len(rows):
        last = rows.sort_values(EVENT_TS, kind="stable").drop_duplicates("worker_id", keep="last")
        found = last["worker_id"].astype(str).map(index)
        last, wi = last[found.notna()], found[found.notna()].astype(int).to_numpy()
        values[wi] = last[list(LAST_QA_COLUMNS)].astype(float).to_numpy()
        at[wi] = to_us(last[EVENT_TS])
    return values, at


class ProfileCache:
    """Thread-safe, swap-on-write cache of all worker profiles (see the module docstring)."""

    def __init__(self, settings: Settings, refresh_seconds: float | None = 300.0) -> None:
        self.settings = settings
        self.refresh_seconds = refresh_seconds
        self._snap: ProfileSnapshot | None = None
        self._lock = threading.RLock()
        self._journal: list[tuple[int, str, pd.DataFrame]] = []  # (latest event µs, kind, frame)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fingerprint: str | None = None

    # -- loading ----------------------------------------------------------------------------------------
    def load(self) -> ProfileSnapshot:
        """(Re)load from the offline tables, keep newer live status, re-apply newer pushed outcomes."""
        fresh = load_snapshot(self.settings)
        fingerprint = read_manifest(self.settings.feature_data_dir).get("fingerprint")
        with self._lock:
            old = self._snap
            if old is not None:
                fresh = _merge_live(fresh, old)
            cutoff = to_us(pd.Series([fresh.as_of]))[0]
            self._journal = [j for j in self._journal if j[0] >= cutoff]
            for _, kind, frame in self._journal:
                fresh = apply_to_snapshot(fresh, kind, frame)
            self._snap = fresh
            self._fingerprint = fingerprint
        return fresh

    def refresh(self) -> bool:
        """Reload if the feature tables changed since the last load; True if it reloaded."""
        if read_manifest(self.settings.feature_data_dir).get("fingerprint") == self._fingerprint:
            with self._lock:
                if self._snap is not None:
                    self._snap = replace(self._snap, loaded_at=time.time())
            return False
        self.load()
        return True

    def start(self) -> ProfileCache:
        """Load now and refresh every ``refresh_seconds`` in a daemon thread."""
        if self._snap is None:
            self.load()
        if self.refresh_seconds and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="profile-cache-refresh", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background refresh."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            with contextlib.suppress(Exception):  # a failed refresh keeps the last good snapshot
                self.refresh()

    # -- reads ------------------------------------------------------------------------------------------
    @property
    def snapshot(self) -> ProfileSnapshot:
        """The current immutable snapshot (loads on first use)."""
        snap = self._snap
        return snap if snap is not None else self.load()

    @property
    def columns(self) -> tuple[str, ...]:
        return WORKER_COLUMNS + PAIR_COLUMNS

    def indices(self, worker_ids) -> np.ndarray:
        """Row indices of ``worker_ids`` (-1 for unknown workers)."""
        return self.snapshot.id_index.get_indexer(pd.Index(worker_ids).astype(str)).astype(np.int64)

    def lookup(self, task_type: str, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(profile rows, live rows) for ``task_type``: views of all workers, or rows ``idx``."""
        snap = self.snapshot
        m = snap.matrices[task_type]
        if idx is None:
            return m, snap.live
        return m[idx], snap.live[idx]

    @property
    def loaded_at(self) -> float:
        return self.snapshot.loaded_at

    @property
    def age_seconds(self) -> float:
        """Seconds since the profiles were last loaded or confirmed fresh."""
        return time.time() - self.snapshot.loaded_at

    @property
    def data_age_seconds(self) -> float:
        """Seconds between the snapshot's as_of and now (how old the underlying events are)."""
        as_of = self.snapshot.as_of
        return float("nan") if as_of is None else time.time() - as_of.timestamp()

    # -- pushes -----------------------------------------------------------------------------------------
    def update_worker_status(self, worker_ids, on_shift, open_tasks, at=None) -> int:
        """Apply live status rows (newer than what is held); returns how many rows were applied."""
        with self._lock:
            snap = self.snapshot
            idx = snap.id_index.get_indexer(pd.Index(worker_ids).astype(str)).astype(np.int64)
            at_us = (
                np.full(len(idx), time.time_ns() // 1000)
                if at is None
                else to_us(pd.Series(pd.to_datetime(at, utc=True)))
            )
            keep = (idx >= 0) & (at_us >= snap.live_at[np.maximum(idx, 0)])
            live, live_at = snap.live.copy(), snap.live_at.copy()
            rows = idx[keep]
            live[rows] = live_rows(
                np.asarray(on_shift, dtype=float)[keep],
                np.asarray(open_tasks, dtype=float)[keep],
                snap.capacity[rows],
            )
            live_at[rows] = at_us[keep]
            self._snap = replace(snap, live=live, live_at=live_at)
        return int(keep.sum())

    def apply_outcomes(
        self,
        completions: pd.DataFrame | None = None,
        qa_results: pd.DataFrame | None = None,
        complaints: pd.DataFrame | None = None,
    ) -> None:
        """Fold new outcomes into the profiles (frames with worker_id, task_type and the contract columns)."""
        with self._lock:
            snap = self.snapshot
            for kind, frame, col in (
                ("completions", completions, "completed_at"),
                ("qa_results", qa_results, "checked_at"),
                ("complaints", complaints, "filed_at"),
            ):
                if frame is None or not len(frame):
                    continue
                self._journal.append((int(to_us(frame[col]).max()), kind, frame))
                snap = apply_to_snapshot(snap, kind, frame)
            if qa_results is not None and len(qa_results):
                snap = _apply_last_qa(snap, qa_results)
            self._snap = snap


def apply_to_snapshot(snap: ProfileSnapshot, kind: str, frame: pd.DataFrame) -> ProfileSnapshot:
    """A new snapshot with ``frame``'s outcomes folded into the sums and the shrunk features."""
    worker = frame["worker_id"].astype(str).map(snap.index)
    task_type = frame["task_type"].astype(str).map(TYPE_INDEX)
    ok = (worker.notna() & task_type.notna()).to_numpy()
    if not ok.any():
        return snap
    w, k = worker[ok].astype(int).to_numpy(), task_type[ok].astype(int).to_numpy()
    ws, ps = apply_to_sums(snap.worker_sums, snap.pair_sums, kind, frame[ok], w, k, snap.type_stats)
    rows = np.unique(w)
    wfeat = shrunk_worker_features(ws[rows], snap.type_stats)
    matrices = {}
    n_w = len(WORKER_COLUMNS)
    for t, j in TYPE_INDEX.items():
        m = snap.matrices[t].copy()
        for name, values in wfeat.items():
            m[rows, WORKER_COLUMNS.index(name)] = values
        # Pairs with a row, or that now have history of this type, get their worker x type columns.
        has = ~np.isnan(m[rows, n_w]) | (ps[rows, j].sum(axis=1) > 0)
        pfeat = shrunk_pair_features(ps[rows[has], j], snap.type_stats.loc[t])
        pfeat["wt_skill_level"] = m[rows[has], WORKER_COLUMNS.index(f"worker_skill_{t}")]
        for name, values in pfeat.items():
            m[rows[has], n_w + PAIR_COLUMNS.index(name)] = values
        matrices[t] = m
    return replace(snap, worker_sums=ws, pair_sums=ps, matrices=matrices)


def _apply_last_qa(snap: ProfileSnapshot, qa: pd.DataFrame) -> ProfileSnapshot:
    """A new snapshot whose last-QA rows take pushed QA results newer than the ones held."""

    frame = pd.DataFrame(
        {
            "worker_id": qa["worker_id"].astype(str).to_numpy(),
            EVENT_TS: pd.to_datetime(qa["checked_at"], utc=True),
            **last_qa_values(qa),
        }
    )
    values, at = _latest_qa(frame, snap.index)
    newer = at > snap.last_qa_at
    if not newer.any():
        return snap
    last_qa, last_qa_at = snap.last_qa.copy(), snap.last_qa_at.copy()
    last_qa[newer], last_qa_at[newer] = values[newer], at[newer]
    return replace(snap, last_qa=last_qa, last_qa_at=last_qa_at)


def _merge_live(fresh: ProfileSnapshot, old: ProfileSnapshot) -> ProfileSnapshot:
    """Keep the old snapshot's live and last-QA rows that are newer than the fresh snapshot's."""
    live, live_at = fresh.live.copy(), fresh.live_at.copy()
    last_qa, last_qa_at = fresh.last_qa.copy(), fresh.last_qa_at.copy()
    for i, wid in enumerate(old.worker_ids):
        j = fresh.index.get(wid)
        if j is None:
            continue
        if old.live_at[i] > live_at[j]:
            live[j], live_at[j] = old.live[i], old.live_at[i]
        if old.last_qa_at[i] > last_qa_at[j]:
            last_qa[j], last_qa_at[j] = old.last_qa[i], old.last_qa_at[i]
    live[:, LIVE["load_ratio"]] = load_ratio(live[:, LIVE["open_tasks"]], fresh.capacity)
    return replace(fresh, live=live, live_at=live_at, last_qa=last_qa, last_qa_at=last_qa_at)
