"""The real components behind the serving protocols: profile cache, Feast task rows, champion models.

Everything loads in background threads with retries, so the service starts (``/livez`` 200) before
the feature tables or the champions exist and turns ready (``/readyz`` 200) once they are there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from opsmatch.contract import TABLES, TASK_TYPES
from opsmatch.settings import Settings
from serving.config import ServiceConfig
from serving.matching.roster import Roster
from serving.protocols import Runtime, TaskRecord, WorkerPool
from serving.state.event_index import EventIndex, referenced_tables
from serving.state.ingestion import RowValidator

log = logging.getLogger("opsmatch.serving")
CUSTOMER_FIELDS = {
    "age_band": "cust_age_band",
    "channel": "cust_channel",
    "tenure_years": "cust_tenure_years",
    "policy_value_band": "cust_value_band",
    "vip": "cust_vip",
    "prior_complaints": "cust_prior_complaints",
}

NEW_CUSTOMER = {"cust_tasks_so_far": 1, "cust_complaints_so_far": 0, "cust_contacts_so_far": 0}
ONLINE_BATCH = 2000  # entities per online read: one call per a few thousand, not one per task


class CachedProfiles:
    """``features.profile_cache.ProfileCache`` as :class:`~serving.protocols.WorkerProfiles`."""

    def __init__(
        self,
        settings: Settings,
        refresh_seconds: float = 300.0,
        retry_seconds: float = 10.0,
        index: EventIndex | None = None,
    ) -> None:
        from features.profile_cache import ProfileCache

        self.settings = settings
        self.index = index or EventIndex(settings)
        self.cache = ProfileCache(settings, refresh_seconds=refresh_seconds)
        self._pool: tuple[Any, WorkerPool] | None = None
        self._loaded = threading.Event()
        self._stop = threading.Event()
        self._retry = retry_seconds
        self._task_types: dict[str, str] = {}

    def start(self) -> CachedProfiles:
        threading.Thread(target=self._load_loop, name="profiles-load", daemon=True).start()
        return self

    def _load_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.cache.start()
                self._loaded.set()
                return
            except Exception as exc:  # noqa: BLE001 - feature tables may not exist yet
                log.warning("worker profiles not loaded yet: %s", exc)
                self._stop.wait(self._retry)

    def stop(self) -> None:
        self._stop.set()
        self.cache.stop()

    def ready(self) -> bool:
        return self._loaded.is_set()

    def staleness_seconds(self) -> float | None:
        return float(self.cache.age_seconds) if self.ready() else None

    def snapshot(self) -> WorkerPool:
        from features.profile_cache import WORKER_COLUMNS

        snap = self.cache.snapshot
        held = self._pool
        if held is not None and held[0] is snap:
            return held[1]
        any_type = snap.matrices[TASK_TYPES[0]]
        skills = np.column_stack([any_type[:, WORKER_COLUMNS.index(f"worker_skill_{t}")] for t in TASK_TYPES])
        on_shift = snap.live[:, 0]
        medians = snap.type_stats["median_minutes"] if "median_minutes" in snap.type_stats else pd.Series()
        pool = WorkerPool(
            worker_ids=snap.worker_ids,
            province_ids=snap.province_ids,
            task_types=TASK_TYPES,
            skills=np.nan_to_num(skills, nan=0.0).astype(np.int16),
            capacity=np.nan_to_num(snap.capacity, nan=0.0).astype(np.int64),
            open_tasks=np.nan_to_num(snap.live[:, 1], nan=0.0).astype(np.int64),
            on_shift=np.where(np.isnan(on_shift), True, on_shift > 0.5),  # unknown status: on shift
            active=np.ones(len(snap.worker_ids), dtype=bool),
            type_median_minutes={str(k): float(v) for k, v in medians.items() if pd.notna(v)},
            refreshed_at=datetime.fromtimestamp(snap.loaded_at, UTC),
            handle=snap,
            status_at=_status_seconds(snap.live_at),
            roster=self._roster(snap.worker_ids),
        )
        self._pool = (snap, pool)
        return pool

    def _roster(self, worker_ids: Sequence[str] | np.ndarray) -> Roster | None:
        """Shift patterns and province calendars of the event store (None when it has no workers)."""
        from opsmatch import events

        workers = events.read_table(self.settings, "workers")  # the store of the settings (PostgreSQL too)
        provinces = events.read_table(self.settings, "provinces")
        if not len(workers) or not len(provinces):
            return None
        return Roster.from_frames(worker_ids, workers, provinces)

    def push_status(self, rows: pd.DataFrame) -> None:
        self.cache.update_worker_status(
            rows["worker_id"].tolist(),
            rows["on_shift"].to_numpy(),
            rows["open_tasks"].to_numpy(),
            at=rows["at"],
        )

    def push_outcomes(self, tables: Mapping[str, pd.DataFrame]) -> None:
        """Fold new outcomes in; rows get task_type (and complaints their worker) from the event index."""
        frames = {k: v.copy() for k, v in tables.items()}
        for f in frames.values():
            f["task_type"] = self.index.lookup("tasks", f["task_id"].astype(str).tolist()).to_numpy()
        if "complaints" in frames:
            ids = frames["complaints"]["task_id"].astype(str).tolist()
            frames["complaints"]["worker_id"] = self.index.lookup("completions", ids).to_numpy()
        frames = {k: f.dropna(subset=["task_type", "worker_id"]) for k, f in frames.items()}
        self.cache.apply_outcomes(**frames)


class FeastTaskSource:
    """Task rows from the Feast online store (task, customer and province views)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Any = None
        self._lock = threading.Lock()
        self._timezones: dict[str, str] | None = None

    def _fs(self) -> Any:
        with self._lock:
            if self._store is None:
                from features.store import build_store

                self._store = build_store(self.settings)
            return self._store

    def warm(self) -> None:
        """Open the feature store now (registry, online store: seconds) instead of on the first request."""
        try:
            self._fs()
        except Exception as exc:  # noqa: BLE001 - the first request retries and reports
            log.warning("feature store not available yet: %s", exc)

    def _online(self, view: Any, key: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        return self._online_views([(view, key, ids)])[0]

    def _online_views(self, asked: Sequence[tuple[Any, str, Sequence[str]]]) -> list[list[dict[str, Any]]]:
        """Each (view, entity key, ids)'s rows: each view's distinct ids read once, in online reads of at
        most ``ONLINE_BATCH`` entities (a national book's open tasks in a few calls of bounded size; the
        4,245 of the default world name 36 provinces, read once each instead of once per task)."""
        out = []
        for view, key, ids in asked:
            distinct = list(dict.fromkeys(ids))
            got: dict[str, dict[str, Any]] = {}
            refs = [f"{view.name}:{f}" for f in view.feature_names]
            for i in range(0, len(distinct), ONLINE_BATCH):
                part = distinct[i : i + ONLINE_BATCH]
                rows = [{key: k} for k in part]
                data = self._fs().get_online_features(features=refs, entity_rows=rows).to_dict()
                got.update({k: {f: data[f][j] for f in view.feature_names} for j, k in enumerate(part)})
            out.append([dict(got[k]) for k in ids])
        return out

    def _context(self, records: list[TaskRecord]) -> list[TaskRecord]:
        from features.spec import CUSTOMER_PROFILE, PROVINCE_STATUS

        if not records:
            return records
        cust, prov = self._online_views(
            [
                (CUSTOMER_PROFILE, "customer_id", [r.customer_id or "" for r in records]),
                (PROVINCE_STATUS, "province_id", [r.province_id for r in records]),
            ]
        )
        out = []
        for r, c, p in zip(records, cust, prov, strict=True):
            given = {CUSTOMER_FIELDS[k]: v for k, v in dict(r.features.get("customer", {})).items()}
            if given and all(c.get(f) is None for f in NEW_CUSTOMER):
                # A customer the store has never seen, given inline: this task is their history so far
                # (the customer profile counts the events at or before its row, as training saw it).
                given = {**NEW_CUSTOMER, **given}
            out.append(TaskRecord(**{**r.__dict__, "features": {**r.features, **c, **given, **p}}))
        return out

    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]:
        from features.spec import TASK_PROFILE

        rows = self._online(TASK_PROFILE, "task_id", list(task_ids))
        records = []
        for tid, row in zip(task_ids, rows, strict=True):
            if row.get("task_type_name") is None or row.get("task_sla_due_at") is None:
                continue
            records.append(
                TaskRecord(
                    task_id=tid,
                    task_type=str(row["task_type_name"]),
                    province_id=str(row["task_province_id"]),
                    created_at=_ts(row["task_created_at"]),
                    sla_due_at=_ts(row["task_sla_due_at"]),
                    complexity=int(row["task_complexity"]),
                    customer_id=row.get("task_customer_id"),
                    channel=row.get("task_channel"),
                    features=row,
                )
            )
        return {r.task_id: r for r in self._context(records)}

    def enrich(self, tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
        from features.entity_features import build_task_profile

        if not tasks:
            return []
        frame = pd.DataFrame(
            [
                {
                    "task_id": t.task_id,
                    "task_type": t.task_type,
                    "province_id": t.province_id,
                    "customer_id": t.customer_id or "",
                    "created_at": t.created_at,
                    "sla_due_at": t.sla_due_at,
                    "complexity": t.complexity,
                    "channel": t.channel or "",
                    "amount": t.amount or 0.0,
                }
                for t in tasks
            ]
        )
        zones = self._zones()
        provinces = pd.DataFrame({"province_id": list(zones), "timezone": list(zones.values())})
        prof = build_task_profile(frame, provinces).drop(columns=["task_id", "event_timestamp"])
        records = [
            TaskRecord(**{**t.__dict__, "features": {**row, **t.features}})
            for t, row in zip(tasks, prof.to_dict("records"), strict=True)
        ]
        return self._context(records)

    def _zones(self) -> dict[str, str]:
        if self._timezones is None:
            from opsmatch import events

            prov = events.read_table(self.settings, "provinces")
            self._timezones = dict(
                zip(prov["province_id"].astype(str), prov["timezone"].astype(str), strict=True)
            )
        return self._timezones


def _status_seconds(live_at: np.ndarray) -> np.ndarray:
    """Epoch seconds of each worker's live status (NaN where the profile cache has none)."""
    from features.profile_cache import NEVER

    at = np.asarray(live_at, dtype=np.int64)
    return np.where(at == NEVER, np.nan, at / 1e6)


def _ts(value: Any) -> datetime:
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def row_validator(
    settings: Settings, index: EventIndex | None = None, clock: Callable[[], datetime] | None = None
) -> RowValidator:
    """``opsmatch.validation.validate_table`` with the event store's keys (held in ``index``) as known
    references; "in the future" is judged on ``clock`` (the service's; default: the settings' clock)."""
    from opsmatch.clock import clock_from
    from opsmatch.validation import validate_table

    index = index or EventIndex(settings)
    now_of = clock if clock is not None else clock_from(settings)

    def validate(table: str, frame: pd.DataFrame) -> list[tuple[int, str, str]]:
        spec = TABLES[table]
        known = index.known_keys(referenced_tables(table))
        res = validate_table(
            spec,
            frame,
            source=f"request:{table}",
            known_keys=known,  # type: ignore[arg-type]  # set-like views
            now=pd.Timestamp(now_of()),
        )
        return [(int(r.row) - 1, r.column, r.reason) for r in res.rejections]

    return validate


def build_runtime(settings: Settings, config: ServiceConfig, index: EventIndex | None = None) -> Runtime:
    """Start the real components (each loads in the background until its data exists)."""
    from features.profile_cache import PAIR_COLUMNS, WORKER_COLUMNS
    from serving.runtime.scoring import ChampionScorer
    from training.registry import client_for, registered_name, version_for_alias
    from training.serving_form import load_champion

    index = index or EventIndex(settings)
    profiles = CachedProfiles(settings, config.profile_refresh_seconds, index=index).start()

    def current_version(model: str) -> str | None:
        mv = version_for_alias(client_for(settings), registered_name(model), "champion")
        return None if mv is None else str(mv.version)

    scorer = ChampionScorer(
        load=lambda model: load_champion(settings, model),
        current_version=current_version,
        worker_columns=WORKER_COLUMNS + PAIR_COLUMNS,
        poll_seconds=config.champion_poll_seconds,
        num_threads=config.predict_threads,
        apply_ttl=True,
        parallel_min_rows=config.parallel_min_rows,
        compile_dir=settings.data_dir / "model_cache" / "compiled" if config.compiled_trees else None,
    ).start()
    tasks = FeastTaskSource(settings)
    threading.Thread(target=tasks.warm, name="feast-warm", daemon=True).start()
    return Runtime(
        profiles=profiles,
        tasks=tasks,
        scorer=scorer,
        closers=[profiles.stop, scorer.stop],
        events=index,
    )
