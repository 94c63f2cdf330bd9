"""A throw-away opsmatch world for the end-to-end tests: twin history, later outcomes, a real server.

``make_world`` simulates ``days + new_days`` of a twin scenario in a staging folder and cuts it at
``days``: what happened before the cut is the event store (the history the first champions learn from);
what happened after it is written as contract files under ``incoming/`` -- the exports the dispatch and
QA systems deliver later (tasks created, dispatched and completed after the cut, QA checks and
complaints filed after it, even for older tasks). Master data (provinces, workers, customers) is all in
the store. The world has its own MLflow store; the twin's hidden truth is kept out of it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from opsmatch import events
from opsmatch.contract import LOAD_ORDER, TABLES
from opsmatch.settings import Settings
from serving.runtime import launch

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-token"
MASTER_TABLES = ("provinces", "workers", "customers")


@dataclass
class World:
    root: Path
    settings: Settings
    cutoff: pd.Timestamp  # end of the history in the store
    sim_now: pd.Timestamp  # end of the simulated period ("now" in the twin's timeline)
    incoming: Path  # contract files of what happened after the cutoff
    seconds: dict[str, float] = field(default_factory=dict)  # simulate, split
    new_rows: dict[str, int] = field(default_factory=dict)  # rows per table under incoming/

    def env(self) -> dict[str, str]:
        """Environment of a process (server, CLI) working on this world."""
        return launch.service_env(
            self.settings, self.root / "bentoml", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"
        )


def world_settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        mlflow_artifact_root=root / "artifacts",
        api_token=TOKEN,
    )


def make_world(
    root: Path,
    scenario: str = "small",
    days: int = 45,
    new_days: int = 1,
    seed: int = 3,
    keep_truth: bool = False,
) -> World:
    """Simulate, cut at ``days``, fill the store with the history and ``incoming/`` with the rest.

    ``keep_truth`` copies the twin's hidden truth into the world (training then adds oracle figures,
    as on the embedded default); by default the world has none, which keeps training fast.
    """
    from simulator.run import generate_history

    root.mkdir(parents=True, exist_ok=True)
    staging = Settings(data_dir=root / "staging")
    t0 = time.perf_counter()
    summary = generate_history(staging, scenario, days + new_days, seed=seed)
    t1 = time.perf_counter()
    start = pd.Timestamp(summary.start)
    cutoff, sim_now = start + pd.Timedelta(days=days), start + pd.Timedelta(days=days + new_days)
    settings = world_settings(root)
    incoming = root / "incoming"
    incoming.mkdir(exist_ok=True)
    new_rows = {}
    for name in LOAD_ORDER:
        df = events.read_table(staging.events_dir, name)
        if name in MASTER_TABLES:
            events.append_rows(settings.events_dir, name, df)
            continue
        ts = df[TABLES[name].time_column]
        events.append_rows(settings.events_dir, name, df[ts <= cutoff])
        later = df[(ts > cutoff) & (ts <= sim_now)]
        if len(later):
            events.coerce(TABLES[name], later).to_parquet(incoming / f"{name}.parquet", index=False)
            new_rows[name] = len(later)
    if keep_truth:
        shutil.copytree(staging.truth_dir, settings.truth_dir, dirs_exist_ok=True)
    shutil.rmtree(staging.data_dir)
    seconds = {"simulate": round(t1 - t0, 3), "split": round(time.perf_counter() - t1, 3)}
    return World(root, settings, cutoff, sim_now, incoming, seconds, new_rows)


class Server:
    """``bentoml serve serving.http.service:OpsMatch`` on a free loopback port (``runtime.launch``)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.port = launch.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = world.root / "serve.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0, poll_seconds: float | None = 5.0) -> Server:
        """Start and wait for ``/readyz``; ``poll_seconds`` shortens the service's champion poll (60 s by
        default) through ``OPSMATCH_SERVICE__CHAMPION_POLL_SECONDS``."""
        env = self.world.env()
        if poll_seconds is not None:
            env["OPSMATCH_SERVICE__CHAMPION_POLL_SECONDS"] = str(poll_seconds)
        self.proc = launch.start(env, self.port, self.log_path)
        launch.wait_ready(self.proc, self.url, timeout, log_path=self.log_path)
        return self

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            launch.stop(self.proc)


def audit_batch(
    world: World, worker_id: str, task_type: str, n: int = 40, n_failed: int = 34, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """A targeted QA audit after the cutoff: ``n`` tasks of ``task_type`` handled by ``worker_id`` on the
    new day (created, dispatched, completed and QA-checked in order, in the worker's province, for
    existing customers, at the worker's usual pace), ``n_failed`` of them failing QA. Contract dtypes,
    ready for files or JSON."""
    import numpy as np

    rng = np.random.default_rng(seed)
    store = world.settings.events_dir
    worker = events.read_table(store, "workers").set_index("worker_id").loc[worker_id]
    customers = events.read_table(store, "customers")["customer_id"].to_numpy()
    span = (world.sim_now - world.cutoff) - pd.Timedelta(hours=6)
    created = [world.cutoff + pd.Timedelta(hours=1) + span * i / n for i in range(n)]
    ids = [f"AUDIT-{worker_id}-{i:03d}" for i in range(n)]
    done = events.read_table(store, "completions").merge(
        events.read_table(store, "tasks")[["task_id", "task_type"]], on="task_id"
    )
    own = done[(done["worker_id"] == worker_id) & (done["task_type"] == task_type)]["handling_minutes"]
    typical = float(own.median()) if len(own) >= 5 else float(done["handling_minutes"].median())
    minutes = rng.lognormal(np.log(typical), 0.3, n).round(1)  # as fast as ever: only quality changed
    started = [c + pd.Timedelta(minutes=5) for c in created]
    completed = [s + pd.Timedelta(minutes=float(m)) for s, m in zip(started, minutes, strict=True)]
    failed = np.zeros(n, dtype=bool)
    failed[rng.choice(n, n_failed, replace=False)] = True
    frames = {
        "tasks": pd.DataFrame(
            {
                "task_id": ids,
                "task_type": task_type,
                "province_id": str(worker["province_id"]),
                "customer_id": rng.choice(customers, n),
                "created_at": created,
                "sla_due_at": [c + pd.Timedelta(hours=48) for c in created],
                "complexity": 2,
                "channel": "online",
                "amount": 8000.0,
            }
        ),
        "assignments": pd.DataFrame(
            {
                "assignment_id": [f"A-{i}" for i in ids],
                "task_id": ids,
                "worker_id": worker_id,
                "assigned_at": [c + pd.Timedelta(minutes=2) for c in created],
                "policy": "legacy_fifo_explore",
            }
        ),
        "completions": pd.DataFrame(
            {
                "task_id": ids,
                "worker_id": worker_id,
                "started_at": started,
                "completed_at": completed,
                "handling_minutes": minutes,
            }
        ),
        "qa_results": pd.DataFrame(
            {
                "qa_id": [f"Q-{i}" for i in ids],
                "task_id": ids,
                "worker_id": worker_id,
                "checked_at": [c + pd.Timedelta(minutes=30) for c in completed],
                "passed": ~failed,
                "score": np.where(failed, rng.uniform(20, 55, n), rng.uniform(70, 95, n)).round(1),
                "satisfaction": pd.array([None] * n, dtype="Int64"),
            }
        ),
    }
    return {name: events.coerce(TABLES[name], df) for name, df in frames.items()}


def json_rows(df: pd.DataFrame) -> list[dict]:
    """Rows of a contract frame as JSON-ready dicts (ISO timestamps, None for nulls)."""
    out = df.astype(object).where(df.notna(), None)
    for col in df.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            out[col] = [None if t is None else t.isoformat() for t in out[col]]
    return out.to_dict("records")
