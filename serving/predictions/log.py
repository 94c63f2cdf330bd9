"""The prediction log: every served decision, written to the event store's ``predictions`` table off
the request path.

An endpoint hands a :class:`Decision` (references to what it served, no copying or formatting) to
:meth:`PredictionLog.submit`, which only puts it on a bounded queue. One background thread per worker
takes what is queued, turns it into rows (``decision_rows``: model versions, an inputs hash, the
predicted values, the task-level feature values served) and appends them in one batch. A full queue
refuses the decision and counts it (``overflow``), a batch the store keeps refusing after retries is
counted (``failed``): nothing is dropped without a figure in ``/metrics`` and ``/info``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("opsmatch.serving")
TABLE = "predictions"
# prediction column -> the champion that produced it
MODEL_OF: dict[str, str] = {
    "predicted_minutes": "handling_time",
    "p_qa_pass": "qa_pass",
    "p_complaint": "complaint",
    "p_complaint_pre": "complaint_pre",
}


@dataclass(frozen=True)
class Decision:
    """One served decision: row i is (task_ids[i], worker_ids[i]) with its predicted values."""

    endpoint: str
    at: datetime
    task_ids: Sequence[str]
    worker_ids: Sequence[str | None]
    model_versions: Mapping[str, str]
    values: Mapping[str, Sequence[float] | np.ndarray]  # keys of MODEL_OF
    features: Sequence[Mapping[str, Any] | None]  # the task-level inputs per row (None: not repeated)
    ranks: Sequence[int | None] | None = None
    fallback: str | None = None
    decision_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _plain(v: Any) -> Any:
    """A JSON-ready scalar (numpy and pandas scalars, timestamps as ISO text; NaN as None)."""
    if v is None or isinstance(v, str | bool | int):
        return v
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, datetime | pd.Timestamp):
        return v.isoformat()
    return str(v)


def served_features(features: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The scalar feature values of a task as JSON-ready values (lists and dicts left out)."""
    if features is None:
        return None
    return {k: _plain(v) for k, v in features.items() if not isinstance(v, list | dict | tuple)}


def inputs_hash(task_id: str, worker_id: str | None, at: datetime, features: Mapping[str, Any] | None) -> str:
    """A short stable digest of what the models were given for one row."""
    body = json.dumps([task_id, worker_id, at.isoformat(), features], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def decision_rows(d: Decision) -> list[dict[str, Any]]:
    """The ``predictions`` rows of one decision."""
    versions = json.dumps(dict(sorted(d.model_versions.items())))
    rows = []
    last_features: dict[str, Any] | None = None
    for i, task_id in enumerate(d.task_ids):
        worker = d.worker_ids[i]
        given = d.features[i] if i < len(d.features) else None
        feats = served_features(given) if given is not None else last_features
        last_features = feats
        row: dict[str, Any] = {
            "prediction_id": f"{d.decision_id}:{i}",
            "decision_id": d.decision_id,
            "at": d.at,
            "endpoint": d.endpoint,
            "task_id": str(task_id),
            "worker_id": None if worker is None else str(worker),
            "rank": None if d.ranks is None else d.ranks[i],
            "model_versions": versions,
            "inputs_hash": inputs_hash(str(task_id), worker, d.at, feats),
            "fallback": d.fallback,
            "features": json.dumps(served_features(given)) if given is not None else None,
        }
        for col in MODEL_OF:
            vals = d.values.get(col)
            row[col] = None if vals is None else _plain(vals[i])
        rows.append(row)
    return rows


class PredictionLog:
    """Bounded queue + one batching writer thread; see the module docstring."""

    def __init__(
        self,
        write: Callable[[pd.DataFrame], Any],
        *,
        max_queue: int = 10_000,
        batch_decisions: int = 500,
        flush_seconds: float = 1.0,
        retries: int = 3,
    ) -> None:
        self._write = write
        self._queue: queue.Queue[Decision] = queue.Queue(maxsize=max_queue)
        self.batch_decisions = batch_decisions
        self.flush_seconds = flush_seconds
        self.retries = retries
        self.overflow = 0  # decisions refused because the queue was full
        self.failed = 0  # rows the store refused after every retry
        self.written = 0  # rows stored
        self.submitted = 0
        self._stop = threading.Event()
        self._done = 0  # decisions taken and stored (or counted as failed)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> PredictionLog:
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        return self

    def submit(self, decision: Decision) -> bool:
        """Queue a decision without waiting; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(decision)
        except queue.Full:
            with self._lock:
                self.overflow += 1
                first = self.overflow == 1
            if first or self.overflow % 1000 == 0:
                log.error("prediction log queue full: %d decisions not logged so far", self.overflow)
            return False
        with self._lock:
            self.submitted += 1
        return True

    def stats(self) -> dict[str, int]:
        return {
            "queued": self._queue.qsize(),
            "submitted": self.submitted,
            "written_rows": self.written,
            "overflow_decisions": self.overflow,
            "failed_rows": self.failed,
        }

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._done >= self.submitted:
                return True
            time.sleep(0.02)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self) -> list[Decision]:
        batch: list[Decision] = []
        try:
            batch.append(self._queue.get(timeout=self.flush_seconds))
        except queue.Empty:
            return batch
        # Collect for up to ``flush_seconds`` after the first one: one append per interval, not per
        # request (each append is a durable transaction, and its Python work would contend with the
        # request threads for the GIL).
        deadline = time.monotonic() + self.flush_seconds
        while len(batch) < self.batch_decisions and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._store(batch)
                self._done += len(batch)
            elif self._stop.is_set():
                return

    def _store(self, batch: list[Decision]) -> None:
        rows = [r for d in batch for r in decision_rows(d)]
        if not rows:  # e.g. a /rank with no eligible worker: nothing was predicted
            return
        frame = pd.DataFrame(rows)
        for attempt in range(self.retries):
            try:
                self._write(frame)
                self.written += len(rows)
                return
            except Exception as exc:  # noqa: BLE001 - counted and reported, never raised into a request
                log.warning("prediction log write failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(min(0.2 * 2**attempt, 2.0))
        self.failed += len(rows)
        log.error("prediction log: %d rows not stored after %d attempts", len(rows), self.retries)
