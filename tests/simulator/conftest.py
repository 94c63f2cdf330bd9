"""Shared fixtures for the digital-twin tests: the small scenario, replayed once per session."""

from __future__ import annotations

import pytest

from opsmatch.settings import Settings
from simulator.arrivals import Arrivals, generate_arrivals
from simulator.engine import SimResult, simulate
from simulator.outcomes import task_outcomes
from simulator.policies import LegacyPolicy
from simulator.run import HistorySummary, generate_history
from simulator.scenario import ScenarioConfig, load_scenario
from simulator.workforce import Workforce, build_workforce

SEED = 3
DAYS = 14


@pytest.fixture(scope="session")
def seed() -> int:
    return SEED


@pytest.fixture(scope="session")
def small() -> ScenarioConfig:
    return load_scenario("small")


@pytest.fixture(scope="session")
def small_workforce(small: ScenarioConfig) -> Workforce:
    return build_workforce(small, SEED)


@pytest.fixture(scope="session")
def small_arrivals(small: ScenarioConfig) -> Arrivals:
    return generate_arrivals(small, DAYS, SEED)


@pytest.fixture(scope="session")
def small_result(small: ScenarioConfig, small_arrivals: Arrivals, small_workforce: Workforce) -> SimResult:
    return simulate(small, small_arrivals, LegacyPolicy(explore=True), SEED, workforce=small_workforce)


@pytest.fixture(scope="session")
def small_outcomes(small_result: SimResult):
    return task_outcomes(small_result)


@pytest.fixture(scope="session")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, HistorySummary]:
    """28 days of the small scenario written through ``generate_history``."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("twin") / "data")
    return settings, generate_history(settings, "small", 28, seed=SEED)
