"""Oracle policies: dispatch on the hidden truth (the upper bound learned policies are measured against).

The cost of a (task, worker) pair, in minute-equivalents, is
``minutes * E[minutes] + qa_fail * P(QA fail) + complaint * P(complaint)``, where P(complaint) includes
the lateness beyond SLA expected if the worker starts now. Only evaluation code may use this module.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from simulator.arrivals import Arrivals
from simulator.policies import BatchPolicy, ScoringPolicy
from simulator.state import SimView
from simulator.truth import Truth, expected_minutes_arr, p_complaint_arr, p_pass_arr, task_complaint_logit


@dataclass(frozen=True)
class CostWeights:
    """Weights of the dispatch cost (minute-equivalents per unit)."""

    minutes: float = 1.0
    qa_fail: float = 60.0
    complaint: float = 600.0


def task_base_logits(truth: Truth, arrivals: Arrivals) -> np.ndarray:
    """Task-and-customer part of the complaint logit for every arriving task."""
    tk = arrivals.tasks
    cu = arrivals.customers.iloc[tk["cust"].to_numpy()]
    return task_complaint_logit(
        truth.config,
        tk["k"].to_numpy(),
        tk["complexity"].to_numpy(),
        tk["channel"].to_numpy(),
        cu["age_band"].to_numpy(),
        cu["policy_value_band"].to_numpy(),
        cu["vip"].to_numpy(dtype=float),
        cu["prior_complaints"].to_numpy(dtype=float),
    )


class TruthCost:
    """True expected cost of pairs given the live state (shift load, experience, lateness)."""

    def __init__(self, truth: Truth, arrivals: Arrivals, weights: CostWeights = CostWeights()) -> None:
        self.truth, self.weights = truth, weights
        self.base_logit = task_base_logits(truth, arrivals)
        self.k = arrivals.tasks["k"].to_numpy()
        self.c = arrivals.tasks["complexity"].to_numpy()
        elig = truth.eligible
        n_elig = np.maximum(elig.sum(axis=0), 1)

        def mean(a: np.ndarray) -> np.ndarray:
            return ((a * elig).sum(axis=0) / n_elig)[None, :]

        self.average = replace(
            truth,
            speed=np.exp(mean(np.log(truth.speed))),
            quality=mean(truth.quality),
            care=mean(truth.care),
            experience0=mean(truth.experience0),
            skill_level=mean(truth.skill_level),
            worker_ids=("average",),
        )

    def _cost(
        self,
        truth: Truth,
        now: float,
        tasks: Sequence[int],
        w: np.ndarray,
        done: np.ndarray,
        exp: np.ndarray,
        sla: np.ndarray,
    ) -> np.ndarray:
        t = np.asarray(tasks)[:, None]
        k, c = self.k[t], self.c[t]
        minutes = expected_minutes_arr(truth, k, c, w, done, exp)
        pp = p_pass_arr(truth, k, c, w, done)
        late = np.maximum(0.0, now + minutes - sla) / 60.0
        pc = p_complaint_arr(truth, self.base_logit[t], k, w, late, pp)
        wt = self.weights
        return wt.minutes * minutes + wt.qa_fail * (1 - pp) + wt.complaint * pc

    def matrix(self, view: SimView, tasks: Sequence[int], workers: Sequence[int]) -> np.ndarray:
        """[tasks, workers] expected cost (np.inf where the worker is not eligible)."""
        w = np.asarray(workers)[None, :]
        k = self.k[np.asarray(tasks)][:, None]
        done = np.array([view.worker_shift_done[x] for x in workers], dtype=float)[None, :]
        exp_rows = np.array([view.worker_experience[x] for x in workers], dtype=float)  # [W', K]
        exp = exp_rows.T[k[:, 0]]  # [T, W']
        sla = np.array([view.task_sla_due[x] for x in tasks])[:, None]
        cost = self._cost(self.truth, view.now, tasks, w, done, exp, sla)
        return np.where(view.eligible[w, k], cost, np.inf)

    def reference(self, view: SimView, tasks: Sequence[int]) -> np.ndarray:
        """Cost of each task for an average eligible worker (fresh, typical experience)."""
        k = self.k[np.asarray(tasks)][:, None]
        sla = np.array([view.task_sla_due[x] for x in tasks])[:, None]
        exp = self.average.experience0[0, k]
        return self._cost(
            self.average, view.now, tasks, np.zeros((1, 1), dtype=int), np.zeros((1, 1)), exp, sla
        )[:, 0]


class OraclePolicy(ScoringPolicy):
    """Greedy oracle: each new task goes to the idle eligible worker (nationally by default) with the
    lowest true expected cost; a freed worker takes, among the ``lookahead`` oldest pending tasks of each
    of its types, the one where it has the largest advantage over the type's mean cost, unless a task is
    within ``urgent_hours`` of its SLA (then the most urgent)."""

    def __init__(
        self,
        truth: Truth,
        weights: CostWeights = CostWeights(),
        scope: str = "national",
        lookahead: int = 3,
        urgent_hours: float = 4.0,
    ) -> None:
        super().__init__(scope)
        self.name = "oracle"
        self.truth, self.weights = truth, weights
        self.lookahead, self.urgent = lookahead, urgent_hours * 60

    def start(self, view: SimView, rng: random.Random) -> None:
        super().start(view, rng)
        self.costs = TruthCost(self.truth, view.arrivals, self.weights)

    def cost(self, view: SimView, task: int, workers: Sequence[int]) -> np.ndarray:
        return self.costs.matrix(view, [task], workers)[0]

    def choose_task(self, view: SimView, worker: int) -> int:
        scope = None if self.scope == "national" else view.worker_province[worker]
        cands = [t for k in view.worker_types[worker] for t in view.pending_tasks(k, scope, self.lookahead)]
        if len(cands) <= 1:
            return cands[0] if cands else -1
        slack = [view.task_sla_due[t] - view.now for t in cands]
        i = int(np.argmin(slack))
        if slack[i] < self.urgent:
            return cands[i]
        own = self.costs.matrix(view, cands, [worker])[:, 0]
        return cands[int(np.argmin(own - self.costs.reference(view, cands)))]


class OracleBatchPolicy(BatchPolicy):
    """Batch oracle: every ``every_minutes``, the exact min-cost assignment of pending tasks to idle
    workers on true expected costs, minus ``age_weight`` per hour a task has waited (older first)."""

    def __init__(
        self,
        truth: Truth,
        weights: CostWeights = CostWeights(),
        every_minutes: float = 10.0,
        max_tasks: int = 400,
        age_weight: float = 30.0,
    ) -> None:
        super().__init__(every_minutes, max_tasks)
        self.name = "oracle_batch"
        self.truth, self.weights, self.age_weight = truth, weights, age_weight

    def start(self, view: SimView, rng: random.Random) -> None:
        super().start(view, rng)
        self.costs = TruthCost(self.truth, view.arrivals, self.weights)

    def cost_matrix(self, view: SimView, tasks: list[int], workers: list[int]) -> np.ndarray:
        waited = (view.now - np.array([view.task_created[t] for t in tasks])) / 60.0
        return self.costs.matrix(view, tasks, workers) - self.age_weight * waited[:, None]
