"""The session's small world moved onto real engines: events and service state on PostgreSQL, online
features on Redis, MLflow tracking on a PostgreSQL backend store.

``scaled_world`` copies what the world built (nothing is retrained): every contract table into the
PostgreSQL event store, the feature tables into a private data dir, ``feast apply`` + materialize into
Redis, and each champion's run (its artifacts) and registered version into the PostgreSQL-backed
MLflow. The history's backlog is closed, as in the lifecycle tests, so the tests' tasks are the queue.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from opsmatch import events
from opsmatch.clock import OpsClock
from opsmatch.contract import TABLES
from opsmatch.settings import Settings
from tests.factories.lifecycle_world import Live, close_backlog, live_on
from tests.factories.serving_world import MODELS, TOKEN, World


def create_databases(server_url: str, *names: str) -> dict[str, str]:
    """A fresh database per name on the server of ``server_url``; name -> its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as c:
        for name in names:
            c.execute(f'CREATE DATABASE "{name}"')
    base = server_url.rsplit("/", 1)[0]
    return {name: f"{base}/{name}" for name in names}


def copy_events(src: Settings, dst: Settings) -> dict[str, int]:
    """Every contract table of ``src``'s event store appended to ``dst``'s; rows per table."""
    return {t: events.append_rows(dst, t, events.read_table(src, t)) for t in TABLES}


def copy_champions(src: Settings, dst: Settings, models: tuple[str, ...] = MODELS) -> dict[str, str]:
    """Each champion of ``src``'s registry as a run (with its artifacts) and the champion version of the
    same registered model in ``dst``'s registry; model -> the new version. Models without one are left."""
    from training.registry import client_for, experiment_named, registered_name, version_for_alias
    from training.serving_form import ARTIFACT_DIR

    source, target = client_for(src), client_for(dst)
    out = {}
    for model in models:
        name = registered_name(model)
        mv = version_for_alias(source, name, "champion")
        if mv is None or mv.run_id is None:
            continue
        run = source.get_run(mv.run_id)
        experiment = experiment_named(target, dst, source.get_experiment(run.info.experiment_id).name)
        copy = target.create_run(experiment, tags=run.data.tags, run_name=run.info.run_name)
        for key, value in run.data.params.items():
            target.log_param(copy.info.run_id, key, value)
        for key, value in run.data.metrics.items():
            target.log_metric(copy.info.run_id, key, value)
        with tempfile.TemporaryDirectory() as tmp:
            local = source.download_artifacts(mv.run_id, "", tmp)
            target.log_artifacts(copy.info.run_id, local)
        target.set_terminated(copy.info.run_id)
        if not target.search_registered_models(f"name = '{name}'"):
            target.create_registered_model(name)
        new = target.create_model_version(
            name, f"{copy.info.artifact_uri}/{ARTIFACT_DIR}", run_id=copy.info.run_id, tags=mv.tags
        )
        target.set_registered_model_alias(name, "champion", new.version)
        out[model] = str(new.version)
    return out


def scaled_world(world: World, root: Path, pg: dict[str, str], redis_host_port: str) -> Live:
    """The world on PostgreSQL (``pg``: events, state and mlflow database URLs) and Redis."""
    from features.store import apply_repo, materialize

    shutil.copytree(world.settings.feature_data_dir, root / "data" / "features")
    settings = Settings(
        data_dir=root / "data",
        events_url=pg["events"],
        state_db_url=pg["state"],
        mlflow_tracking_uri=pg["mlflow"],
        mlflow_artifact_root=root / "artifacts",
        feast_profile="redis",
        redis_url=redis_host_port,
        rate_limit_url=f"redis://{redis_host_port}/1",
        api_token=TOKEN,
    )
    copy_events(world.settings, settings)
    close_backlog(settings, pd.Timestamp(world.as_of).to_pydatetime())
    apply_repo(settings)
    materialize(settings, incremental=False)
    copy_champions(world.settings, settings)
    return live_on(settings, OpsClock(anchor=datetime.now(UTC), speed=1.0), root)
