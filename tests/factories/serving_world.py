"""A real small world for the serving tests, and a real ``bentoml serve`` on it.

``build_world`` runs the product end to end in a temporary folder: the twin's ``small`` scenario
(45 days: complaint labels need 30 days to mature) -> feature build, ``feast apply``, materialize ->
all four models trained and promoted through the gate. ``World.env`` is the environment of a
``bentoml serve`` on that world (started with ``serving.launch.running``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from opsmatch.settings import Settings
from serving import launch

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


def build_world(root: Path, *, end: datetime | None = None, days: int = DAYS) -> World:
    """Simulate, build features, apply, materialize, train all four models and promote them.

    ``end`` anchors the history to end there (e.g. the operation's now of a live test)."""
    from features.pipeline import build_features, read_manifest
    from features.store import apply_repo, materialize
    from opsmatch import events
    from simulator.run import generate_history
    from training.frames import train_from_store
    from training.gate import promote

    settings = world_settings(root)
    generate_history(settings, "small", days, seed=SEED, end=end)
    build_features(settings)
    apply_repo(settings)
    materialize(settings)
    train_from_store(settings, MODELS, num_threads=1)
    for model in MODELS:
        decision = promote(settings, model)
        assert decision.promoted, (model, decision.reasons)
    as_of = pd.Timestamp(read_manifest(settings.feature_data_dir)["as_of"]).to_pydatetime()
    tasks = events.read_table(settings.events_dir, "tasks")
    done = events.read_table(settings.events_dir, "completions")
    pending = tasks[~tasks["task_id"].isin(done["task_id"])].reset_index(drop=True)
    workers = events.read_table(settings.events_dir, "workers")
    return World(root, settings, as_of, pending, workers)


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
