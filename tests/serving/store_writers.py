"""Writers of the event-store concurrency and crash tests: rows on the real world, ``opsmatch ingest`` in a
subprocess, a raw ``events.append`` loop in a subprocess, and the service's worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import psutil

from opsmatch.settings import PROJECT_ROOT
from tests.factories.serving_world import World

OPSMATCH = str(Path(sys.executable).parent / "opsmatch")


def qa_rows(world: World, prefix: str, n: int, offset: int = 0) -> list[dict]:
    """``n`` QA results on completed tasks of the world, ids ``<prefix>-<i>``, before the world's as_of."""
    tasks = world.pending["task_id"].astype(str).tolist()
    workers = world.workers["worker_id"].astype(str).tolist()
    base = world.as_of - timedelta(days=2)
    return [
        {
            "qa_id": f"{prefix}-{i}",
            "task_id": tasks[i % len(tasks)],
            "worker_id": workers[i % len(workers)],
            "checked_at": (base + timedelta(seconds=i)).isoformat(),
            "passed": i % 3 != 0,
            "score": float(50 + i % 50),
            "satisfaction": 1 + i % 5,
        }
        for i in range(offset, offset + n)
    ]


def status_rows(world: World, minute: int, n: int) -> list[dict]:
    """``n`` on-shift snapshots at ``as_of - 3 days + minute`` (harmless to the other tests' ranking)."""
    at = (world.as_of - timedelta(days=3) + timedelta(minutes=minute)).isoformat()
    workers = world.workers["worker_id"].astype(str).tolist()[:n]
    return [{"worker_id": w, "at": at, "on_shift": True, "open_tasks": 0} for w in workers]


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def ingest_cli(world: World, path: Path) -> tuple[int, int]:
    """Run ``opsmatch ingest path`` (the real CLI) on the world; (new, unchanged) from its TOTAL row."""
    env = {**os.environ, "OPSMATCH_DATA_DIR": str(world.settings.data_dir), "COLUMNS": "250"}
    out = subprocess.run(
        [OPSMATCH, "ingest", str(path)],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # Not a terminal: the report's rows are printed as "column: value, ..." lines (apps.plain.show).
    total = next(line for line in out.stdout.splitlines() if "file: TOTAL" in line)
    cells = dict(cell.strip().partition(": ")[::2] for cell in total.split(", "))
    assert cells["quarantined"] == "0", out.stdout
    return int(cells["new"]), int(cells["unchanged"])


APPEND_LOOP = """
import sys, pandas as pd
from opsmatch import events
where, prefix, start, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t0 = pd.Timestamp("2020-01-01", tz="UTC")
for i in range(start, stop):
    rows = pd.DataFrame({"worker_id": [f"{prefix}{i}-{j}" for j in range(20)], "at": t0,
                         "on_shift": True, "open_tasks": i})
    events.append(where, "worker_status", rows)
    print("ACK", i, flush=True)
"""


def start_append_loop(where: str, prefix: str, start: int, stop: int) -> subprocess.Popen:
    """A subprocess appending batches ``start..stop-1`` of 20 status rows, printing ``ACK i`` after each."""
    return subprocess.Popen(
        [sys.executable, "-c", APPEND_LOOP, where, prefix, str(start), str(stop)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def service_workers(proc: subprocess.Popen) -> list[psutil.Process]:
    """The worker processes of a ``bentoml serve`` started by ``serving.runtime.launch.start``."""
    kids = psutil.Process(proc.pid).children(recursive=True)
    return [k for k in kids if "_bentoml_impl.worker" in " ".join(k.cmdline()) or "worker" in k.name()]
