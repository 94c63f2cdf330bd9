"""What the rooms' endpoints share, as a small public object: settings, stores, clock, policy, limits.

The engine (:mod:`serving.runtime.engine`) is one; the collaborators it builds (the lifecycle, the queue,
the dispatcher, the risk and alert desks, the monitor's alert watch) take a :class:`Context` and use only
what is public here, so none of them imports the engine back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from opsmatch.settings import Settings
from serving.api import schemas as s
from serving.config import Policy, ServiceConfig
from serving.errors import ApiError
from serving.matching.eligibility import with_load
from serving.matching.fallback import RulesOnly
from serving.predictions.log import Decision, PredictionLog
from serving.protocols import Runtime, Scorer, TaskRecord, WorkerPool
from serving.risk.cache import RiskCache
from serving.runtime.safety import Degradation, tasks_or_fallback
from serving.state.ingestion import RowValidator
from serving.state.store import StateStore
from serving.tasks.book import TaskBook


def utcnow() -> datetime:
    return datetime.now(UTC)


class Context:
    """The service's shared parts and rules (readiness, list ceilings, the policy in force, task lookup)."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        store: StateStore,
        config: ServiceConfig,
        *,
        validate_rows: RowValidator | None = None,
        clock: Callable[[], datetime] = utcnow,
        predictions: PredictionLog | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.config = config
        self.validate_rows = validate_rows
        self.clock = clock
        self._policy_lock = threading.Lock()
        self._policy_cache: tuple[float, int, Policy] | None = None
        self.predictions = predictions  # the prediction log (None: not logged)
        self.degradation = Degradation()
        self.book = TaskBook(settings, enrich=runtime.tasks.enrich)
        self.risk_cache = RiskCache()  # the open tasks' current risk: the monitor's and the watchlist's

    def policy(self) -> tuple[int, Policy]:
        """(version, policy) in force; re-read from the store at most every ``policy_ttl_seconds``."""
        with self._policy_lock:
            now = time.monotonic()
            cached = self._policy_cache
            if cached and now - cached[0] < self.config.policy_ttl_seconds:
                return cached[1], cached[2]
            if cached and self.store.policy_version() == cached[1]:
                self._policy_cache = (now, cached[1], cached[2])
                return cached[1], cached[2]
            version, policy = self.store.current_policy()
            self._policy_cache = (now, version, policy)
            return version, policy

    def ready(self) -> bool:
        """Worker profiles are loaded and the champions' first load was tried (a champion that is missing
        or fails later degrades ranking to rules (``serving.runtime.safety``) and the service stays ready)."""
        tried = getattr(self.runtime.scorer, "attempted", None)
        return bool(self.runtime.profiles.ready()) and (tried is None or tried.is_set())

    def log(self, decision: Decision) -> None:
        if self.predictions is not None:
            self.predictions.submit(decision)

    def guarded_tasks(
        self, task_ids: Sequence[str], inline: Sequence[s.InlineTask]
    ) -> tuple[list[TaskRecord], Scorer]:
        """The tasks and the scorer to use: rules only when the feature store cannot be read."""
        records, reason = tasks_or_fallback(
            lambda: self.task_records(task_ids, inline),
            self.settings,
            task_ids,
            [inline_record(t) for t in inline],
            self.degradation,
        )
        return records, self.runtime.scorer if reason is None else RulesOnly(self.runtime.scorer, reason)

    def require_ready(self) -> None:
        if not self.ready():
            raise ApiError(
                503, "models or worker profiles are not loaded yet; retry shortly", kind="not_ready"
            )

    def limit(self, count: int, maximum: int, loc: str, what: str, largest: int | None = None) -> None:
        """400 when one list is over the ceiling the schema states; 422 when only the total of several
        lists (``largest`` = the longest one) is, a rule the schema cannot state."""
        if count > maximum:
            status = 400 if largest is None or largest > maximum else 422
            raise ApiError(
                status, f"at most {maximum} {what} per request (got {count})", [loc], kind="too_many"
            )

    def task_records(self, task_ids: Sequence[str], inline: Sequence[s.InlineTask]) -> list[TaskRecord]:
        """Records of the tasks of a request, in request order (ids first); 404 for unknown ids."""
        found = self.runtime.tasks.get_tasks(list(task_ids)) if task_ids else {}
        unknown = [t for t in task_ids if t not in found]
        if unknown:  # posted through POST /tasks, not yet in the feature store
            found = {**found, **self.book.records(unknown)}
        missing = [(i, t) for i, t in enumerate(task_ids) if t not in found]
        if missing:
            shown = ", ".join(t for _, t in missing[:10])
            raise ApiError(404, f"unknown task id(s): {shown}", ["task_ids", missing[0][0]], kind="not_found")
        records = [found[t] for t in task_ids]
        if inline:
            records += self.runtime.tasks.enrich([inline_record(t) for t in inline])
        return records

    def known_provinces(self, pool: WorkerPool, policy: Policy) -> set[str]:
        return set(pool.provinces) | set(policy.provinces)

    def loaded_pool(self) -> WorkerPool:
        """The profiles' pool, each worker's open tasks at least the assignments in force it holds:
        the load /rank, /assign, the board and the overload alerts count alike."""
        return with_load(self.runtime.profiles.snapshot(), self.book.held_by_worker())

    def forget_policy(self) -> None:
        """The next :meth:`policy` re-reads the store (after a change)."""
        with self._policy_lock:
            self._policy_cache = None


def inline_record(t: s.InlineTask) -> TaskRecord:
    features: dict[str, Any] = {}
    if t.customer is not None:
        features["customer"] = t.customer.model_dump(exclude_none=True)
    return TaskRecord(
        task_id=t.task_id,
        task_type=t.task_type,
        province_id=t.province_id,
        created_at=t.created_at,
        sla_due_at=t.sla_due_at,
        complexity=t.complexity,
        customer_id=t.customer_id,
        channel=t.channel,
        amount=t.amount,
        features=features,
    )
