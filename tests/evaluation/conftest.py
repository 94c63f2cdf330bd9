"""Fixtures of the evaluation tests: small-scenario periods, a written small history, trained champions."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.prepare import Prepared, eval_settings, prepare_models
from evaluation.replay import EvalPeriod, synthetic_period
from opsmatch.settings import Settings
from simulator.run import generate_history
from simulator.scenario import ScenarioConfig, load_scenario

MODELS = ("handling_time", "qa_pass", "complaint", "complaint_pre")
# Small boosters: the tests check behaviour, not accuracy.
FAST = {
    m: {
        "num_boost_round": 60,
        "early_stopping_rounds": 10,
        "lightgbm": {"num_leaves": 15, "min_data_in_leaf": 20},
    }
    for m in MODELS
}


@pytest.fixture(scope="session")
def small() -> ScenarioConfig:
    return load_scenario("small")


@pytest.fixture(scope="session")
def small_period(small: ScenarioConfig) -> EvalPeriod:
    """Three days of the small scenario, no history needed."""
    return synthetic_period(small, 3, seed=1, workforce_seed=3)


@pytest.fixture(scope="session")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """14 days of small-scenario history (truth + event log), no features or models."""
    settings = eval_settings(str(tmp_path_factory.mktemp("eval-history")))
    generate_history(settings, "small", 14, seed=3)
    return settings


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Prepared]:
    """45 days of small history -> features -> four small champions in a temp MLflow store (~1 min)."""
    root: Path = tmp_path_factory.mktemp("eval-models")
    settings = eval_settings(str(root))
    prepared = prepare_models(settings, "small", 45, seed=3, overrides=FAST, num_threads=2)
    assert all(prepared.versions.values()), prepared.versions
    return settings, prepared
