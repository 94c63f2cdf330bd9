"""What never changes during a replay: the tasks' and workers' static attributes as plain lists.

Tasks and workers are integers: row positions in ``arrivals.tasks`` and ``workforce.workers``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.arrivals import Arrivals
from simulator.scenario import ScenarioConfig
from simulator.workforce import Workforce


@dataclass(frozen=True, slots=True)
class SimFacts:
    """Static attributes, lists indexed by task or worker (simulation minutes for times)."""

    config: ScenarioConfig
    arrivals: Arrivals
    workforce: Workforce
    n_provinces: int
    n_types: int
    task_ids: list[str]
    task_type: list[int]
    task_province: list[int]
    task_created: list[float]
    task_sla_due: list[float]
    task_complexity: list[int]
    worker_ids: list[str]
    worker_province: list[int]
    worker_types: list[list[int]]  # eligible type indices
    worker_capacity: list[int]  # tasks per shift at most
    eligible: np.ndarray  # [W, K] bool
    always_on: bool  # 24/7, no shifts and no capacity limit
    workers_of_province: list[list[int]]

    @property
    def n_tasks(self) -> int:
        return len(self.task_type)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)


def build_facts(config: ScenarioConfig, arrivals: Arrivals, workforce: Workforce) -> SimFacts:
    """The static lists of one replay of ``arrivals`` by ``workforce``."""
    tasks = arrivals.tasks
    sla_minutes = np.array([t.sla_hours for t in config.task_types])[tasks["k"].to_numpy()] * 60
    eligible = workforce.eligible
    n_provinces = len(config.provinces)
    return SimFacts(
        config=config,
        arrivals=arrivals,
        workforce=workforce,
        n_provinces=n_provinces,
        n_types=len(config.task_types),
        task_ids=tasks["task_id"].tolist(),
        task_type=tasks["k"].tolist(),
        task_province=tasks["p"].tolist(),
        task_created=tasks["t"].tolist(),
        task_sla_due=(sla_minutes + tasks["t"].to_numpy()).tolist(),
        task_complexity=tasks["complexity"].tolist(),
        worker_ids=workforce.workers["worker_id"].tolist(),
        worker_province=workforce.province.tolist(),
        worker_types=[np.flatnonzero(row).tolist() for row in eligible],
        worker_capacity=workforce.capacity.tolist(),
        eligible=eligible,
        always_on=config.workforce.always_on,
        workers_of_province=[np.flatnonzero(workforce.province == p).tolist() for p in range(n_provinces)],
    )
