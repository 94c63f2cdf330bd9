"""What the service needs from the rest of the product, as small Protocols and plain data.

``runtime.py`` plugs the real components in (profile cache, Feast, champion models); the service
core (``engine.py``) only sees these shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from serving.matching.roster import Roster


@dataclass(frozen=True)
class TaskRecord:
    """One task as the contract describes it, plus extra feature values (task/customer profile)."""

    task_id: str
    task_type: str
    province_id: str
    created_at: datetime
    sla_due_at: datetime
    complexity: int = 3
    customer_id: str | None = None
    channel: str | None = None
    amount: float | None = None
    features: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class WorkerPool:
    """Every worker as column arrays (one row per worker), as the profile cache holds them.

    ``skills[i, j]`` is worker i's declared level (0 = none) for ``task_types[j]``; ``capacity`` is
    the concurrent open-task limit; ``handle`` is opaque data the scorer may use to build features.
    ``on_shift`` is each worker's last live status, ``status_at`` its time (epoch seconds, NaN: none;
    ``None``: always fresh) and ``roster`` the shift patterns (``serving.matching.roster``) that decide once
    a status is stale.
    """

    worker_ids: np.ndarray
    province_ids: np.ndarray
    task_types: tuple[str, ...]
    skills: np.ndarray
    capacity: np.ndarray
    open_tasks: np.ndarray
    on_shift: np.ndarray
    active: np.ndarray
    type_median_minutes: Mapping[str, float] = field(default_factory=dict)
    refreshed_at: datetime | None = None
    handle: Any = None
    status_at: np.ndarray | None = None
    roster: Roster | None = None
    provinces: tuple[str, ...] = field(init=False)
    province_code: np.ndarray = field(init=False)
    _index: dict[str, int] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.worker_ids = np.asarray(self.worker_ids, dtype=object)
        m = len(self.worker_ids)
        self.province_ids = np.asarray(self.province_ids, dtype=object)
        self.skills = np.asarray(self.skills, dtype=np.int16).reshape(m, len(self.task_types))
        self.capacity = np.asarray(self.capacity, dtype=np.int64)
        self.open_tasks = np.asarray(self.open_tasks, dtype=np.int64)
        self.on_shift = np.asarray(self.on_shift, dtype=bool)
        self.active = np.asarray(self.active, dtype=bool)
        if self.status_at is not None:
            self.status_at = np.asarray(self.status_at, dtype=float)
        for name in ("province_ids", "capacity", "open_tasks", "on_shift", "active", "status_at", "roster"):
            if getattr(self, name) is not None and len(getattr(self, name)) != m:
                raise ValueError(f"WorkerPool.{name} has {len(getattr(self, name))} rows, expected {m}")
        provinces, codes = np.unique(self.province_ids.astype(str), return_inverse=True)
        self.provinces = tuple(str(p) for p in provinces)
        self.province_code = codes.astype(np.int64)

    def __len__(self) -> int:
        return len(self.worker_ids)

    @property
    def index(self) -> dict[str, int]:
        """worker_id -> row."""
        if self._index is None:
            self._index = {str(w): i for i, w in enumerate(self.worker_ids)}
        return self._index

    def type_column(self, task_type: str) -> int:
        """Column of ``skills`` for a task type (KeyError when unknown)."""
        return self.task_types.index(task_type)


@dataclass(frozen=True)
class PairScores:
    """Model predictions for (task, worker) pairs, aligned with the pairs asked for."""

    minutes: np.ndarray
    p_qa_pass: np.ndarray
    p_complaint: np.ndarray

    def take(self, idx: np.ndarray) -> PairScores:
        """The scores of the pairs ``idx``, in that order."""
        return PairScores(self.minutes[idx], self.p_qa_pass[idx], self.p_complaint[idx])


@dataclass(frozen=True)
class RiskScores:
    """P(complaint) before assignment, with per-feature contributions (log-odds) when available."""

    prob: np.ndarray
    contributions: np.ndarray | None
    feature_names: Sequence[str]


@runtime_checkable
class WorkerProfiles(Protocol):
    """All workers in memory, refreshed in the background and on push."""

    def snapshot(self) -> WorkerPool: ...

    def staleness_seconds(self) -> float | None: ...

    def push_status(self, rows: pd.DataFrame) -> None: ...

    def push_outcomes(self, tables: Mapping[str, pd.DataFrame]) -> None: ...

    def ready(self) -> bool: ...


@runtime_checkable
class TaskFeatureSource(Protocol):
    """Task (and customer) rows for the tasks of a request."""

    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]: ...

    def enrich(self, tasks: Sequence[TaskRecord]) -> list[TaskRecord]: ...


@runtime_checkable
class Scorer(Protocol):
    """The champion models behind one interface."""

    def versions(self) -> dict[str, str]: ...

    def ready(self) -> bool: ...

    def score_pairs(
        self,
        tasks: Sequence[TaskRecord],
        pool: WorkerPool,
        task_idx: np.ndarray,
        worker_idx: np.ndarray,
        *,
        now: datetime | None = None,
    ) -> PairScores: ...

    def prior(self, task_types: Sequence[str], pool: WorkerPool) -> dict[str, PairScores]: ...

    def complaint_risk(
        self, tasks: Sequence[TaskRecord], *, now: datetime | None = None, contributions: bool = True
    ) -> RiskScores: ...


@dataclass
class Runtime:
    """The live components the service runs on."""

    profiles: WorkerProfiles
    tasks: TaskFeatureSource
    scorer: Scorer
    closers: list[Any] = field(default_factory=list)
    events: Any = None  # serving.state.event_index.EventIndex of the event store, when the runtime keeps one

    def close(self) -> None:
        """Stop background threads of the components."""
        for closer in self.closers:
            closer()
