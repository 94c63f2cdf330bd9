"""A real small world for the serving tests, and a real ``bentoml serve`` on it.

``build_world`` runs the product end to end in a folder: the twin's ``small`` scenario (45 days:
complaint labels need 30 days to mature) -> feature build, ``feast apply``, materialize -> all four
models trained (``FAST`` parameters: the tests check behaviour, not accuracy) and promoted through the
gate. ``cached_world`` builds it once into the on-disk cache (``tests.factories.world_cache``) and hands
out a private copy; ``private_world`` copies a world again for a test that writes into it.
``World.env`` is the environment of a ``bentoml serve`` on a world (``serving.runtime.launch.running``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from opsmatch.settings import Settings
from serving.runtime import launch
from tests.factories.fast import FAST
from tests.factories.world_cache import cached, copy_world

TOKEN = "real-world-token"
MODELS = ("handling_time", "qa_pass", "complaint", "complaint_pre")
DAYS, SEED = 45, 3


@dataclass(frozen=True)
class World:
    """What the tests need to know about the built world."""

    root: Path
    settings: Settings
    as_of: datetime  # the feature tables' as_of (latest event): requests are evaluated there
    pending: pd.DataFrame  # tasks without completion (all online in Feast), contract columns
    workers: pd.DataFrame  # the workers table

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a service process on this world."""
        return launch.service_env(self.settings, self.root / "bentoml", **extra)


def world_settings(root: Path, **kwargs: object) -> Settings:
    return Settings(
        data_dir=root / "data",
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        mlflow_artifact_root=root / "artifacts",
        api_token=TOKEN,
        **kwargs,
    )


def build_world(
    root: Path, *, end: datetime | None = None, days: int = DAYS, overrides: dict | None = FAST
) -> World:
    """Simulate, build features, apply, materialize, train all four models and promote them.

    ``end`` anchors the history to end there (e.g. the operation's now of a live test); ``overrides``
    are the training parameters' overrides (``None``: the shipped parameters)."""
    from features.pipeline import build_features
    from features.store import apply_repo, materialize
    from simulator.run import generate_history
    from training.frames import train_from_store
    from training.gate import promote

    settings = world_settings(root)
    generate_history(settings, "small", days, seed=SEED, end=end)
    build_features(settings)
    apply_repo(settings)
    materialize(settings)
    train_from_store(settings, MODELS, num_threads=1, overrides=overrides)
    for model in MODELS:
        decision = promote(settings, model)
        assert decision.promoted, (model, decision.reasons)
    return open_world(root)


def open_world(root: Path) -> World:
    """The ``World`` of a built world's folder."""
    from features.pipeline import read_manifest
    from opsmatch import events

    settings = world_settings(root)
    as_of = pd.Timestamp(read_manifest(settings.feature_data_dir)["as_of"]).to_pydatetime()
    tasks = events.read_table(settings.events_dir, "tasks")
    done = events.read_table(settings.events_dir, "completions")
    pending = tasks[~tasks["task_id"].isin(done["task_id"])].reset_index(drop=True)
    workers = events.read_table(settings.events_dir, "workers")
    return World(root, settings, as_of, pending, workers)


def cached_world(root: Path, *, days: int = DAYS) -> World:
    """A private copy, in ``root``, of the small world built once into the on-disk cache."""
    recipe = {"scenario": "small", "days": days, "seed": SEED, "models": MODELS, "overrides": FAST}
    src = cached("small-world", recipe, lambda r: build_world(r, days=days))
    copy_world(src, root)
    return open_world(root)


def private_world(world: World, root: Path, *, own_artifacts: bool = False) -> World:
    """A copy of ``world`` in ``root`` for a test that writes into it (events, state, MLflow); with
    ``own_artifacts`` the champions' files are copied too (a test that removes them)."""
    copy_world(world.root, root, own_artifacts=own_artifacts)
    return open_world(root)


def wait_until(check, timeout: float, interval: float = 0.3, what: str = "condition"):  # noqa: ANN001, ANN201
    """Poll ``check()`` until it returns a truthy value; that value, or AssertionError on timeout."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
