"""ML dispatch policies on the twin, deciding with the service's own code (see ``twin_service``).

- ``MLRankingPolicy`` (POST /rank per task): a new task goes to the top of
  ``serving.matching.ranking.rank_task`` over the idle workers, with the shipped /rank settings
  (``rank_prescreen``, ``rank_prescreen_share``, ``min_eligible`` of ``serving/defaults.yaml``); a freed
  worker takes, among the ``lookahead`` oldest pending tasks of each of its types that the service allows
  it, the most urgent one if any is due within the policy's ``dispatch.sla_near_hours`` (as ``/assign``),
  else the one where its serving cost beats the average worker's the most, in one scorer call
  (``choose="advantage"``, the oracle's rule on learned costs; ``"fifo"``: the oldest one).
- ``MLBatchPolicy`` (POST /assign every ``every_minutes`` and, with ``on_events``, as soon as a task
  arrives with a free worker for it or a worker frees up with work waiting): the waiting tasks of the
  free workers' types (the oldest ``max_tasks`` per type, as ``/assign`` with ``all_waiting`` sends the
  oldest ``max_batch_tasks``; ``tasks_per_worker`` caps them further at that many per free worker, among
  those each may take: a speed-up that costs choice) x the free workers
  through ``serving.matching.ranking.assign_tasks`` with at most one open task per worker (the policy's
  ``max_open_tasks``), so tasks go to free workers only, overdue tasks first; ``full_scoring_pairs`` and
  ``candidates`` are the service's /assign settings (above that many pairs, each task keeps its cheapest
  candidates by profile prior).

Both read no hidden truth: models, profiles and the simulator's observable state only. ``changes``
schedules policy updates (``(simulation minute, PUT /policy fields)``), e.g. an emergency close. Both
keep every task's lifecycle through the service's state machine (``evaluation.twin_lifecycle``): each
assignment they commit is the ``assign`` event the service would store (source ``rank`` or ``assign``,
the deciding arm), and the replay stops on any transition the service would refuse.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluation.task_features import sim_datetime
from evaluation.twin_lifecycle import TwinLifecycle
from evaluation.twin_service import ServingModels, TwinService, twin_policy
from serving.config import Policy, ServiceConfig, load_service_config, merge_policy
from simulator.policies import BatchPolicy, ScoringPolicy
from simulator.state import SimView

PolicyChange = tuple[float, dict[str, Any]]


class _ServedMixin:
    """Shared: the serving policy in force, the scheduled changes to it, the tasks' lifecycle."""

    models: ServingModels
    base_policy: Policy | None
    changes: list[PolicyChange]
    svc: TwinService
    lifecycle: TwinLifecycle
    observes_transitions = True
    source = "assign"  # what the service records as the source of this policy's assignments

    def _attach(self, view: SimView, extra: dict[str, Any] | None = None) -> None:
        policy = twin_policy(view.config, self.base_policy)
        if extra:
            policy = merge_policy(policy, extra)
        self.svc = TwinService(self.models, view, policy)
        self.lifecycle = TwinLifecycle(view, self.source)
        self._pending_changes = sorted(self.changes, key=lambda c: c[0])

    def on_transition(self, view: SimView, kind: str, task: int, worker: int) -> None:
        self.lifecycle.observe(kind, task, worker, sim_datetime(view))

    def _apply_due(self, view: SimView) -> None:
        while self._pending_changes and self._pending_changes[0][0] <= view.now:
            _, patch = self._pending_changes.pop(0)
            self.svc.policy = merge_policy(self.svc.policy, patch)


class MLRankingPolicy(_ServedMixin, ScoringPolicy):
    """Greedy ranking on the serving cost (see the module docstring)."""

    source = "rank"

    def __init__(
        self,
        models: ServingModels,
        policy: Policy | None = None,
        *,
        choose: str = "advantage",
        lookahead: int = 3,
        urgent_hours: float | None = None,
        config: ServiceConfig | None = None,
        changes: Sequence[PolicyChange] = (),
        name: str = "ml_ranking",
    ) -> None:
        super().__init__("national")
        if choose not in ("advantage", "fifo"):
            raise ValueError("choose must be 'advantage' or 'fifo'")
        self.models, self.base_policy, self.changes = models, policy, list(changes)
        self.choose, self.lookahead, self.urgent_hours = choose, lookahead, urgent_hours
        self.config = config or load_service_config()  # the shipped service settings (/rank's prescreen)
        self.urgent = 0.0
        self.name = name
        self.calls = 0

    def start(self, view: SimView, rng: random.Random) -> None:
        super().start(view, rng)
        self._attach(view)
        near = self.svc.policy.dispatch.sla_near_hours if self.urgent_hours is None else self.urgent_hours
        self.urgent = near * 60

    def ran_with(self) -> dict[str, float]:
        """The service settings this policy ran with, for the A/B report."""
        c = self.config
        near = self.urgent / 60 if self.urgent else self.urgent_hours
        out = {"rank_prescreen": c.rank_prescreen, "rank_prescreen_share": c.rank_prescreen_share}
        return {**out, "min_eligible": c.min_eligible, "near_sla_hours": float(near or 0.0)}

    def cost(self, view: SimView, task: int, workers: Sequence[int]) -> np.ndarray:
        self.calls += 1
        return self.svc.costs(task, workers)

    def on_task(self, view: SimView, task: int) -> None:
        self._apply_due(view)
        idle = view.idle_workers(view.task_type[task])
        if idle:
            self.calls += 1
            best = self.svc.rank(task, list(idle), self.config)
            if best >= 0:
                view.assign(task, best)

    def on_worker_free(self, view: SimView, worker: int) -> None:
        self._apply_due(view)
        super().on_worker_free(view, worker)

    def choose_task(self, view: SimView, worker: int) -> int:
        cands = [t for k in view.worker_types[worker] for t in view.pending_tasks(k, None, self.lookahead)]
        cands = self.svc.allowed(cands, worker)
        if len(cands) <= 1 or self.choose == "fifo":
            return min(cands, key=lambda t: view.task_created[t]) if cands else -1
        slack = [view.task_sla_due[t] - view.now for t in cands]
        i = int(np.argmin(slack))
        if slack[i] < self.urgent:
            return cands[i]
        self.calls += 1
        return cands[int(np.argmin(self.svc.advantage(cands, worker)))]


def oldest_per_worker(view: SimView, tasks: list[int], workers: list[int], per_worker: int) -> list[int]:
    """The union, over ``workers``, of the ``per_worker`` oldest of ``tasks`` each one may take.

    The oldest tasks overall would do only if every worker could take every task: with skills, a free
    worker whose types are not among them is left without work while its own types wait."""
    created, task_type, eligible = view.task_created, view.task_type, view.eligible
    by_age = sorted(tasks, key=lambda t: created[t])
    keep: set[int] = set()
    for skills in {tuple(np.flatnonzero(eligible[w])) for w in workers}:  # one pass per skill set
        mine = set(skills)
        n_workers = sum(1 for w in workers if tuple(np.flatnonzero(eligible[w])) == skills)
        chosen = [t for t in by_age if task_type[t] in mine][: per_worker * n_workers]
        keep.update(chosen)
    return [t for t in by_age if t in keep]


class MLBatchPolicy(_ServedMixin, BatchPolicy):
    """Periodic optimal assignment through ``assign_tasks`` (see the module docstring)."""

    def __init__(
        self,
        models: ServingModels,
        policy: Policy | None = None,
        *,
        every_minutes: float = 5.0,
        max_tasks: int = 400,
        tasks_per_worker: int | None = None,
        full_scoring_pairs: int = 2_000,
        candidates: int = 8,
        on_events: bool = False,
        changes: Sequence[PolicyChange] = (),
        name: str = "ml_batch",
    ) -> None:
        super().__init__(every_minutes, max_tasks)
        self.on_events = on_events
        self.tasks_per_worker = tasks_per_worker
        self.full_scoring_pairs, self.candidates = full_scoring_pairs, candidates
        self.models, self.base_policy, self.changes = models, policy, list(changes)
        self.name = name
        self.calls = 0

    def start(self, view: SimView, rng: random.Random) -> None:
        super().start(view, rng)
        self._attach(view, {"max_open_tasks": 1})

    def ran_with(self) -> dict[str, float]:
        """The /assign settings this policy ran with (scaled down from the shipped ones for the replay's
        speed: above ``full_scoring_pairs`` pairs each task keeps its ``candidates`` cheapest by prior)."""
        near = self.svc.policy.dispatch.sla_near_hours if hasattr(self, "svc") else float("nan")
        out = {
            "assign_full_scoring_pairs": self.full_scoring_pairs,
            "assign_candidates_per_task": self.candidates,
        }
        return {**out, "near_sla_hours": near}

    def cost_matrix(self, view: SimView, tasks: list[int], workers: list[int]) -> np.ndarray:
        """Serving costs (np.inf where the service excludes the pair), one ranking per task."""
        if not tasks:
            return np.empty((0, len(workers)))
        return np.vstack([self.svc.costs(t, workers) for t in tasks])

    def type_limit(self, view: SimView, task_type: int) -> int:
        if self.tasks_per_worker is None:
            return self.max_tasks
        return min(self.max_tasks, self.tasks_per_worker * len(view.idle_workers(task_type)))

    def on_task(self, view: SimView, task: int) -> None:
        """Event dispatch: a new task with free workers of its type is assigned now, not at the tick."""
        if self.on_events:
            idle = view.idle_workers(view.task_type[task])
            if idle:
                self._apply_due(view)
                self._solve(view, [task], list(idle))

    def on_worker_free(self, view: SimView, worker: int) -> None:
        """Event dispatch: a freed worker with work waiting for its skills takes it now."""
        if self.on_events:
            limit = self.tasks_per_worker or self.max_tasks
            tasks = [t for k in view.worker_types[worker] for t in view.pending_tasks(k, None, limit)]
            if tasks:
                self._apply_due(view)
                self._solve(view, tasks, [worker])

    def on_tick(self, view: SimView) -> None:
        self._apply_due(view)
        workers, tasks = self.batch(view)
        if tasks:
            self._solve(view, tasks, workers)

    def _solve(self, view: SimView, tasks: list[int], workers: list[int]) -> None:
        """One ``/assign`` of ``tasks`` x free ``workers`` (each worker's oldest when there are too many)."""
        per_worker = self.tasks_per_worker
        if per_worker is not None and len(tasks) > per_worker * len(workers):
            tasks = oldest_per_worker(view, tasks, workers, per_worker)
        self.calls += 1
        for task, worker, arm in self.svc.assign(
            tasks, workers, full_scoring_pairs=self.full_scoring_pairs, candidates=self.candidates
        ):
            if view.eligible[worker, view.task_type[task]] and view.accepting(worker):
                self.lifecycle.decided(task, arm)
                view.assign(task, worker)
