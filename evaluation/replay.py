"""The evaluation period: the days right after the history the models were trained on.

Same scenario, same workforce and hidden truth as the history (rebuilt from the history's seed), with the
experience each worker gained during the history carried over, and fresh arrivals for the following
days. Every policy replays the same ``EvalPeriod`` (same arrivals, same per-task noise), so differences
come from the dispatch alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from opsmatch.events import read_table
from opsmatch.settings import Settings
from simulator.arrivals import Arrivals, generate_arrivals
from simulator.engine import SimResult, simulate
from simulator.policies import Policy
from simulator.scenario import DisruptionConfig, ScenarioConfig, load_scenario
from simulator.truth import TASK_TRUTH_FILE
from simulator.workforce import Workforce, build_workforce

META_FILE = "meta.json"


@dataclass(frozen=True)
class EvalPeriod:
    """What one replay needs: scenario, workforce (truth + carried-over experience), arrivals, seed."""

    config: ScenarioConfig
    workforce: Workforce
    arrivals: Arrivals
    seed: int

    @property
    def start_minute(self) -> float:
        return self.arrivals.start_day * 1440.0

    @property
    def end_minute(self) -> float:
        return self.arrivals.horizon


@dataclass(frozen=True)
class HistoryInfo:
    """Where the history stopped: its scenario, length and seed (from the truth's ``meta.json``)."""

    scenario: str
    days: int
    seed: int
    start: pd.Timestamp | None = None  # where the history's clock was anchored (None: the scenario's)
    end: pd.Timestamp | None = None

    def config(self, scenario: str | None = None) -> ScenarioConfig:
        """The scenario (default: the history's) on the history's clock."""
        config = load_scenario(scenario or self.scenario)
        if self.start is None:
            return config
        return config.model_copy(update={"start": self.start.to_pydatetime().astimezone(config.start.tzinfo)})


def history_info(settings: Settings) -> HistoryInfo:
    """Scenario, days and seed of the history written to ``settings.truth_dir``."""
    path = Path(settings.truth_dir) / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"no twin history in {settings.truth_dir}: run `opsmatch simulate` first")
    meta = json.loads(path.read_text())
    start, end = (pd.Timestamp(meta[k]) if meta.get(k) else None for k in ("start", "end"))
    return HistoryInfo(str(meta["scenario"]), int(meta["days"]), int(meta["seed"]), start, end)


def carried_experience(workforce: Workforce, task_truth: pd.DataFrame, end: pd.Timestamp) -> np.ndarray:
    """Prior experience [worker, type] plus the tasks each worker finished during the history."""
    truth = workforce.truth
    done = task_truth[
        task_truth["worker_id"].notna() & (pd.to_datetime(task_truth["finish_at"], utc=True) <= end)
    ]
    w = pd.Series(done["worker_id"].astype(str)).map({x: i for i, x in enumerate(truth.worker_ids)})
    k = pd.Series(done["task_type"].astype(str)).map({x: i for i, x in enumerate(truth.task_types)})
    ok = (w.notna() & k.notna()).to_numpy()
    exp = truth.experience0.copy()
    np.add.at(exp, (w[ok].astype(int).to_numpy(), k[ok].astype(int).to_numpy()), 1.0)
    return exp


def with_disruption(
    config: ScenarioConfig, province: str, day: int, hour: float, duration_hours: float
) -> ScenarioConfig:
    """A copy of ``config`` whose only disruption is the given one (e.g. a snowstorm in the eval period)."""
    d = DisruptionConfig(province=province, day=day, hour=hour, duration_hours=duration_hours)
    return config.model_copy(update={"disruptions": (d,)})


def evaluation_period(
    settings: Settings,
    days: int = 7,
    seed: int = 1,
    *,
    scenario: str | None = None,
    carry_experience: bool = True,
) -> EvalPeriod:
    """The ``days`` after the history in ``settings`` with arrivals drawn from ``seed``.

    ``scenario`` defaults to the history's; another scenario must have the same workforce (e.g.
    ``snowstorm`` after a ``default`` history). The workforce is rebuilt from the history's seed and
    checked against the event log's workers.
    """
    info = history_info(settings)
    config = info.config(scenario)
    workforce = build_workforce(config, info.seed)
    logged = read_table(settings, "workers", columns=["worker_id"])["worker_id"].astype(str).tolist()
    if logged and sorted(logged) != sorted(workforce.truth.worker_ids):
        raise ValueError(
            f"scenario {config.name!r} does not rebuild the workforce of the history "
            f"(generated with {info.scenario!r})"
        )
    if carry_experience:
        tt_path = Path(settings.truth_dir) / TASK_TRUTH_FILE
        if tt_path.exists():
            end = (
                info.end
                if info.end is not None
                else pd.Timestamp(config.start_utc) + pd.Timedelta(days=info.days)
            )
            tt = pd.read_parquet(tt_path, columns=["worker_id", "task_type", "finish_at"])
            exp = carried_experience(workforce, tt, end)
            workforce = replace(workforce, truth=replace(workforce.truth, experience0=exp))
    arrivals = generate_arrivals(config, days, seed, start_day=info.days)
    return EvalPeriod(config, workforce, arrivals, seed)


def synthetic_period(
    config: ScenarioConfig, days: int, seed: int, *, workforce_seed: int = 7, start_day: int = 0
) -> EvalPeriod:
    """A period without any written history (unit tests, baselines-only studies)."""
    return EvalPeriod(
        config,
        build_workforce(config, workforce_seed),
        generate_arrivals(config, days, seed, start_day=start_day),
        seed,
    )


def run_policy(
    period: EvalPeriod,
    policy: Policy,
    *,
    drain: bool = True,
    config: ScenarioConfig | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> SimResult:
    """Replay the period under ``policy`` (drained: every task completes), without status snapshots.

    ``config`` overrides the scenario (e.g. the same period with a disruption added); ``progress`` gets
    simulated days done out of the period's days.
    """
    return simulate(
        config or period.config,
        period.arrivals,
        policy,
        period.seed,
        workforce=period.workforce,
        drain=drain,
        record_status=False,
        progress=progress,
    )
