"""Fixtures of the evaluation tests: small-scenario periods, a written small history, trained champions."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.prepare import Prepared, eval_settings
from evaluation.replay import EvalPeriod, synthetic_period
from opsmatch.settings import Settings
from simulator.run import generate_history
from simulator.scenario import ScenarioConfig, load_scenario
from tests.factories.serving_world import DAYS, SEED, World, private_world

MODELS = ("handling_time", "qa_pass", "complaint", "complaint_pre")


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
def trained(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Prepared]:
    """45 days of small history -> features -> four small champions: a private copy of the session's
    world (``tests/conftest.py``: the same recipe as ``prepare_models(settings, "small", 45, seed=3,
    overrides=tests.factories.fast.FAST)``, built once and cached), private since the tests here log runs
    into its MLflow store."""
    from training.registry import client_for, registered_name, version_for_alias

    root: Path = tmp_path_factory.mktemp("eval-models")
    private_world(world, root)
    settings = eval_settings(str(root))
    client = client_for(settings)
    versions = {
        m: getattr(version_for_alias(client, registered_name(m), "champion"), "version", None) for m in MODELS
    }
    assert all(versions.values()), versions
    return settings, Prepared("small", DAYS, SEED, versions={m: str(v) for m, v in versions.items()})
