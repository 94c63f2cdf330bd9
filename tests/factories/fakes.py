"""In-memory stand-ins for the serving protocols (tests only) and small data factories."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from opsmatch.contract import TASK_TYPES
from serving.protocols import PairScores, RiskScores, TaskRecord, WorkerPool

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TOKEN = "test-token-123"
MEDIANS = {t: 20.0 + 5 * i for i, t in enumerate(TASK_TYPES)}


def make_pool(
    m: int = 30,
    provinces: Sequence[str] = ("P01", "P02", "P03"),
    seed: int = 0,
    *,
    skill_level: int | None = None,
    capacity: int = 4,
    open_tasks: int | None = None,
) -> WorkerPool:
    """``m`` workers spread round-robin over ``provinces``; all on shift and active."""
    rng = np.random.default_rng(seed)
    skills = (
        rng.integers(0, 6, size=(m, len(TASK_TYPES)))
        if skill_level is None
        else np.full((m, len(TASK_TYPES)), skill_level)
    )
    return WorkerPool(
        worker_ids=np.array([f"W{i:04d}" for i in range(m)], dtype=object),
        province_ids=np.array([provinces[i % len(provinces)] for i in range(m)], dtype=object),
        task_types=TASK_TYPES,
        skills=skills,
        capacity=np.full(m, capacity),
        open_tasks=rng.integers(0, capacity, size=m) if open_tasks is None else np.full(m, open_tasks),
        on_shift=np.ones(m, dtype=bool),
        active=np.ones(m, dtype=bool),
        type_median_minutes=MEDIANS,
        refreshed_at=NOW,
    )


def make_task(
    task_id: str,
    task_type: str = "renewal",
    province_id: str = "P01",
    *,
    hours_to_sla: float = 8.0,
    now: datetime = NOW,
    complexity: int = 3,
    customer_id: str | None = "C1",
    features: Mapping[str, object] | None = None,
) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        task_type=task_type,
        province_id=province_id,
        created_at=now - timedelta(hours=1),
        sla_due_at=now + timedelta(hours=hours_to_sla),
        complexity=complexity,
        customer_id=customer_id,
        channel="online",
        amount=1000.0,
        features=dict(features or {}),
    )


class ManualClock:
    """A test clock moved by hand (the engine's ``clock``, the monitor's ``now``)."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def _unit(worker_id: str, salt: str) -> float:
    return (zlib.crc32(f"{salt}:{worker_id}".encode()) % 10_000) / 10_000.0


class FakeScorer:
    """Deterministic per-worker speed and quality; complaint risk from a few task features."""

    feature_names = ("customer_prior_complaints", "customer_vip", "complexity", "amount")

    def __init__(self, version: str = "1") -> None:
        self.version = version
        self.pairs_scored = 0
        self.is_ready = True

    def versions(self) -> dict[str, str]:
        return {m: self.version for m in ("handling_time", "qa_pass", "complaint", "complaint_pre")}

    def ready(self) -> bool:
        return self.is_ready

    def _worker_traits(self, pool: WorkerPool, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = pool.worker_ids[idx]
        speed = np.array([0.6 + 0.8 * _unit(str(w), "speed") for w in ids])
        qa = np.array([0.7 + 0.29 * _unit(str(w), "qa") for w in ids])
        return speed, qa

    def score_pairs(
        self,
        tasks: Sequence[TaskRecord],
        pool: WorkerPool,
        task_idx: np.ndarray,
        worker_idx: np.ndarray,
        *,
        now: datetime | None = None,
    ) -> PairScores:
        self.pairs_scored += len(task_idx)
        speed, qa = self._worker_traits(pool, np.asarray(worker_idx, dtype=np.int64))
        median = np.array([MEDIANS[tasks[t].task_type] for t in task_idx])
        cx = np.array([tasks[t].complexity for t in task_idx])
        minutes = median * speed * (0.7 + 0.1 * cx)
        return PairScores(minutes=minutes, p_qa_pass=qa, p_complaint=0.02 + 0.3 * (1 - qa))

    def prior(self, task_types: Sequence[str], pool: WorkerPool) -> dict[str, PairScores]:
        speed, qa = self._worker_traits(pool, np.arange(len(pool)))
        return {t: PairScores(MEDIANS[t] * speed, qa, 0.02 + 0.3 * (1 - qa)) for t in task_types}

    def complaint_risk(
        self, tasks: Sequence[TaskRecord], *, now: datetime | None = None, contributions: bool = True
    ) -> RiskScores:
        rows = []
        for t in tasks:
            cust = dict(t.features.get("customer", {}))
            rows.append(
                [
                    0.9 * float(cust.get("prior_complaints", 0)),
                    1.0 * float(bool(cust.get("vip", False))),
                    0.3 * (t.complexity - 3),
                    0.0,
                ]
            )
        contrib = np.array(rows, dtype=float).reshape(len(tasks), len(self.feature_names))
        bias = np.full((len(tasks), 1), -2.5)
        logit = contrib.sum(axis=1) + bias[:, 0]
        return RiskScores(1 / (1 + np.exp(-logit)), np.hstack([contrib, bias]), self.feature_names)


class FakeProfiles:
    """Holds a pool; status and outcome pushes change it in place, like the real cache would."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.outcomes: list[Mapping[str, pd.DataFrame]] = []
        self.is_ready = True

    def snapshot(self) -> WorkerPool:
        return self.pool

    def staleness_seconds(self) -> float | None:
        return 0.5

    def push_status(self, rows: pd.DataFrame) -> None:
        for row in rows.itertuples():
            i = self.pool.index[row.worker_id]
            self.pool.open_tasks[i] = row.open_tasks
            self.pool.on_shift[i] = row.on_shift

    def push_outcomes(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.outcomes.append(dict(tables))

    def ready(self) -> bool:
        return self.is_ready


class FakeTasks:
    """Task rows by id."""

    def __init__(self, tasks: Sequence[TaskRecord] = ()) -> None:
        self.records = {t.task_id: t for t in tasks}

    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRecord]:
        return {t: self.records[t] for t in task_ids if t in self.records}

    def enrich(self, tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
        return list(tasks)
