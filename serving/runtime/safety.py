"""What the service does when a part fails: tasks without the feature store, and the degraded state.

``tasks_or_fallback`` resolves a request's tasks through the feature store and, when the store cannot
be read (Redis down, registry gone), from the event store's task rows alone (no task, customer or
province features): the caller then ranks by rules (``serving.matching.fallback.RulesOnly``).
:class:`Degradation` remembers the faults seen (each reason with its last time) until a request is
served by the models again, which is what ``/info`` reports as ``degraded``; it recovers by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from serving.errors import ApiError
from serving.matching.fallback import FAULTS, FEATURE_STORE, MODEL_UNAVAILABLE
from serving.protocols import Scorer, TaskRecord

if TYPE_CHECKING:
    from opsmatch.settings import Settings

log = logging.getLogger("opsmatch.serving")


class Degradation:
    """Faults seen and not yet followed by a model-served answer (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def record(self, reason: str | None) -> None:
        """Note how a decision was served: a fault reason, or None (the models served it)."""
        with self._lock:
            if reason is None:
                self._seen.clear()
            elif reason in FAULTS:
                self._seen[reason] = self._clock()

    def clear(self, reason: str) -> None:
        with self._lock:
            self._seen.pop(reason, None)

    def reasons(self, scorer: Scorer) -> list[str]:
        """The faults in force: recorded ones, and ``model_unavailable`` while a champion is missing."""
        with self._lock:
            found = set(self._seen)
        if scorer.ready():
            found.discard(MODEL_UNAVAILABLE)
        else:
            found.add(MODEL_UNAVAILABLE)
        return sorted(found)


def tasks_or_fallback(
    resolve: Callable[[], list[TaskRecord]],
    settings: Settings,
    task_ids: Sequence[str],
    inline: Sequence[TaskRecord],
    degradation: Degradation,
) -> tuple[list[TaskRecord], str | None]:
    """``(records, None)`` from ``resolve()`` (the feature store), else ``(records, "feature_store")``
    from the event store's task rows and the inline tasks as given; 404 for unknown ids either way."""
    try:
        records = resolve()
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store failure: rank by rules instead of a 500
        log.warning("feature store unreachable, ranking by rules: %s: %s", type(exc).__name__, exc)
        degradation.record(FEATURE_STORE)
        return stored_tasks(settings, task_ids) + list(inline), FEATURE_STORE
    degradation.clear(FEATURE_STORE)
    return records, None


def stored_tasks(settings: Settings, task_ids: Sequence[str]) -> list[TaskRecord]:
    """The tasks ``task_ids`` from the event store (contract columns only), in order; 404 when unknown."""
    from opsmatch import events

    if not task_ids:
        return []
    rows = events.lookup(settings, "tasks", pd.DataFrame({"task_id": list(task_ids)}))
    found = {str(r["task_id"]): r for r in rows.to_dict("records")}
    missing = [(i, t) for i, t in enumerate(task_ids) if t not in found]
    if missing:
        shown = ", ".join(t for _, t in missing[:10])
        raise ApiError(404, f"unknown task id(s): {shown}", ["task_ids", missing[0][0]], kind="not_found")
    return [_record(found[t]) for t in task_ids]


def _record(row: dict) -> TaskRecord:
    def ts(v: object) -> pd.Timestamp:
        return pd.Timestamp(v).tz_convert("UTC")  # type: ignore[arg-type]

    return TaskRecord(
        task_id=str(row["task_id"]),
        task_type=str(row["task_type"]),
        province_id=str(row["province_id"]),
        created_at=ts(row["created_at"]).to_pydatetime(),
        sla_due_at=ts(row["sla_due_at"]).to_pydatetime(),
        complexity=int(row["complexity"]),
        customer_id=None if pd.isna(row.get("customer_id")) else str(row["customer_id"]),
        channel=None if pd.isna(row.get("channel")) else str(row["channel"]),
        amount=None if pd.isna(row.get("amount")) else float(row["amount"]),
        features={},
    )
