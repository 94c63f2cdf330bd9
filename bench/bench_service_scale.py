"""Benchmark (issue 23, service half): a real ``bentoml serve`` on a built world, over HTTP.

On a world folder (``data/`` and an MLflow store: a copy of ``/work/worlds/national`` or a default
bootstrap; the bench writes worker statuses into it, so never point it at a shared world):

- restart ready: seconds from ``bentoml serve`` to ``/readyz`` answering 200 (the task book loads only
  the open work);
- memory: RSS of every process of the service (from ``/proc``) once settled, and at the end;
- idle CPU: CPU seconds of the service's processes over ``--idle`` seconds of no requests (% of a core);
- ``GET /tasks?status=pending&limit=50`` and the board (``GET /console/api/board``: wall and the server
  time it reports), ``--n`` calls each, p50 / p99;
- a monitor sweep (``opsmatch_monitor_last_seconds`` from ``/metrics``) with nobody and with everyone on
  shift;
- with every worker on shift (``POST /workers/status`` at the service clock): ``POST /rank`` of waiting
  tasks (p50 / p99) and one ``POST /assign {"all_waiting": true}`` (not committed).

Wall time on 2 shared cores measures the other sessions too: the service's CPU seconds and the load
average are printed beside it. ``--label`` names the world; ``--json`` writes the figures for
``bench_scale.py``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_service_scale.py /tmp/world --label default
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsmatch import events  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from serving.runtime import launch  # noqa: E402

TOKEN = "bench-service-scale"
TICK = os.sysconf("SC_CLK_TCK")


def settings_of(root: Path) -> Settings:
    mlflow = f"sqlite:///{root / 'mlflow.db'}" if (root / "mlflow.db").exists() else str(root / "mlruns")
    return Settings(
        data_dir=root / "data",
        mlflow_tracking_uri=mlflow,
        mlflow_artifact_root=root / "artifacts" if (root / "artifacts").exists() else root / "mlruns",
        api_token=SecretStr(TOKEN),
    )


def group(root: int) -> list[int]:
    """The service's processes: ``root`` and its descendants (bentoml's workers)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += [p for p, pp in parent.items() if pp == pid]
    return out


def rss_mb(pids: list[int]) -> dict[int, float]:
    got = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    got[pid] = int(line.split()[1]) / 1024
        except OSError:
            pass
    return got


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / TICK


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def metric(c: httpx.Client, name: str) -> float | None:
    for line in c.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def timed(n: int, call: Any) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = call()
        out.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return out


def next_sweep(c: httpx.Client, timeout: float = 300) -> float | None:
    """Wait for the monitor's next pass; its wall seconds."""
    seen = metric(c, "opsmatch_monitor_sweeps")
    last = metric(c, "opsmatch_monitor_last_seconds")
    deadline = time.time() + timeout
    while time.time() < deadline:  # the count moves when a pass starts, its seconds when it ends
        time.sleep(1)
        if metric(c, "opsmatch_monitor_sweeps") != seen:
            while time.time() < deadline:
                if (got := metric(c, "opsmatch_monitor_last_seconds")) != last:
                    return got
                time.sleep(1)
    return None


def run(root: Path, n: int, idle: float, log: Path, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """The figures of one world (``extra``: more environment of the service, e.g. its clock)."""
    settings = settings_of(root)
    env = launch.service_env(settings, Path(tempfile.mkdtemp(prefix="bentoml-")), **(extra or {}))
    port = launch.free_port()
    start = time.monotonic()
    proc = launch.start(env, port, log)
    out: dict[str, Any] = {"world": str(root)}
    try:
        url = f"http://127.0.0.1:{port}"
        launch.wait_ready(proc, url, 600, log_path=log)
        out["ready_s"] = round(time.monotonic() - start, 1)
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
        out["sweep_nobody_s"] = next_sweep(c)
        pids = group(proc.pid)
        out["rss_settled_mb"] = rss_mb(pids)
        used = cpu_seconds(pids)
        time.sleep(idle)
        out["idle_cpu_pct"] = round(100 * (cpu_seconds(pids) - used) / idle, 1)
        pending = timed(n, lambda: c.get("/tasks", params={"status": "pending", "limit": 50}))
        out["tasks_pending_ms"] = (round(q(pending, 0.5), 1), round(q(pending, 0.99), 1))
        server: list[float] = []

        def board() -> httpx.Response:
            r = c.get("/console/api/board")
            server.append(float(r.json().get("server_ms", "nan")))
            return r

        wall = timed(n, board)
        out["board_ms"] = (round(q(wall, 0.5), 1), round(q(wall, 0.99), 1))
        out["board_server_ms"] = (round(q(server, 0.5), 1), round(q(server, 0.99), 1))
        now = datetime.fromisoformat(c.get("/info").json()["clock"]["now"])
        workers = events.read_table(settings, "workers", columns=["worker_id"])["worker_id"].astype(str)
        statuses = [
            {"worker_id": w, "at": now.isoformat(), "on_shift": True, "open_tasks": 0} for w in workers
        ]
        c.post("/workers/status", json={"statuses": statuses}).raise_for_status()
        waiting = c.get("/tasks", params={"status": "waiting", "limit": n}).json()["tasks"]
        waiting = waiting or c.get("/tasks", params={"status": "open", "limit": n}).json()["tasks"]
        ids = [t["task_id"] for t in waiting]
        i = iter(ids * (n // len(ids) + 1))
        cpu0 = cpu_seconds(pids)
        ranks = timed(n, lambda: c.post("/rank", json={"task_id": next(i), "top_k": 10}))
        out["rank_ms"] = (round(q(ranks, 0.5), 1), round(q(ranks, 0.99), 1))
        out["rank_cpu_ms"] = round(1000 * (cpu_seconds(pids) - cpu0) / n, 1)
        out["workers_on_shift"] = len(workers)
        cpu0, t0 = cpu_seconds(pids), time.perf_counter()
        r = c.post("/assign", json={"all_waiting": True, "limit": 1})
        r.raise_for_status()
        got = r.json()
        out["assign_s"] = round(time.perf_counter() - t0, 2)
        out["assign_cpu_s"] = round(cpu_seconds(pids) - cpu0, 2)
        out["assign"] = {k: got[k] for k in ("n_tasks", "n_assigned", "scored_pairs", "solver_iterations")}
        out["sweep_everyone_s"] = next_sweep(c)
        out["rss_end_mb"] = rss_mb(group(proc.pid))
        out["load"] = round(os.getloadavg()[0], 1)
    finally:
        launch.stop(proc)
        print(json.dumps(out, default=str))  # what was measured, also when a step failed
    return out


def book_start(root: Path) -> dict[str, Any]:
    """In this process: the task book's and the board index's start on the world's store (time, CPU,
    RSS added, tasks held vs stored)."""
    from serving.console.board_index import BoardIndex
    from serving.tasks.book import TaskBook

    settings = settings_of(root)
    stored = events.row_count(settings, "tasks")
    base = rss_mb([os.getpid()])[os.getpid()]
    t, c = time.perf_counter(), time.process_time()
    book = TaskBook(settings)
    book.refresh()
    out: dict[str, Any] = {"tasks_stored": stored, "open_held": len(book.states())}
    out["book_start_s"] = (round(time.perf_counter() - t, 2), round(time.process_time() - c, 2))
    t, c = time.perf_counter(), time.process_time()
    BoardIndex(settings, book.times).refresh()
    out["board_index_start_s"] = (round(time.perf_counter() - t, 2), round(time.process_time() - c, 2))
    out["rss_added_mb"] = round(rss_mb([os.getpid()])[os.getpid()] - base, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--label", default="")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--book-only", action="store_true", help="only the task book's start, in process")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the service (repeatable)")
    args = ap.parse_args()
    extra = dict(e.split("=", 1) for e in args.env)
    if args.book_only:
        print(json.dumps(book_start(args.root.resolve()), indent=1))
        return
    got = run(args.root.resolve(), args.n, args.idle, Path(tempfile.mkdtemp()) / "serve.log", extra)
    got["label"] = args.label
    print(json.dumps(got, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(got, indent=1, default=str))


if __name__ == "__main__":
    main()
