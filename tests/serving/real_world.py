"""A real small world for the serving tests, and a real ``bentoml serve`` on it.

``build_world`` runs the product end to end in a temporary folder: the twin's ``small`` scenario
(45 days: complaint labels need 30 days to mature) -> feature build, ``feast apply``, materialize ->
all four models trained and promoted through the gate. ``serve`` starts
``bentoml serve serving.service:OpsMatch`` on a free loopback port with the ``OPSMATCH_*`` settings of
that world and stops it (its whole process group) afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from opsmatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
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
        s = self.settings
        return {
            **os.environ,
            "OPSMATCH_DATA_DIR": str(s.data_dir),
            "OPSMATCH_MLFLOW_TRACKING_URI": s.mlflow_tracking_uri,
            "OPSMATCH_MLFLOW_ARTIFACT_ROOT": str(s.mlflow_artifact_root),
            "OPSMATCH_API_TOKEN": TOKEN,
            "OMP_WAIT_POLICY": "PASSIVE",
            "BENTOML_HOME": str(self.root / "bentoml"),
            **extra,
        }


def world_settings(root: Path, **kwargs: object) -> Settings:
    return Settings(
        data_dir=root / "data",
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        mlflow_artifact_root=root / "artifacts",
        api_token=TOKEN,
        **kwargs,
    )


def build_world(root: Path) -> World:
    """Simulate, build features, apply, materialize, train all four models and promote them."""
    from features.pipeline import build_features, read_manifest
    from features.store import apply_repo, materialize
    from opsmatch import events
    from simulator.run import generate_history
    from training.frames import train_from_store
    from training.gate import promote

    settings = world_settings(root)
    generate_history(settings, "small", DAYS, seed=SEED)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(env: dict[str, str], log_path: Path, timeout: float = 180.0) -> Iterator[str]:
    """``bentoml serve serving.service:OpsMatch`` on a free loopback port; yields its URL once alive."""
    import httpx

    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "serving.service:OpsMatch"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("bentoml serve exited:\n" + log_path.read_text()[-3000:])
            try:
                if httpx.get(f"{url}/livez", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("bentoml serve did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


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
