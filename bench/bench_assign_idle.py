"""``POST /assign {"all_waiting": true}`` with nobody eligible (a weekday night), over HTTP (issue 21).

Usage: ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_assign_idle.py [--calls 30] [--write-docs]``
after ``make run``'s bootstrap (the embedded default and its champions).

A private copy of the embedded default (``bench_live_load.copy_world``) served by a real ``bentoml serve``
whose clock reads the first weekday 02:00 in Beijing after the history's end and runs in real time;
the copy's history is first caught up to that instant (``simulator.catchup``: the legacy policy works
the evening and any weekend), so the night's backlog waits and nobody is on shift. Timed: ``--calls``
requests after three warm-up calls,
wall time as the client saw it (p50 / p95), the endpoint's own time inside the service (its
``opsmatch_request_seconds``), the service's CPU time per call (its whole process tree, from ``psutil``)
less its background CPU over the same wall time without calls (the monitor's passes, sweeps), the
answer's size, counts and page; baseline in the same process: ``GET /livez``. The
target is <= 100 ms with counts by reason and at most a page (``limit``) of examples.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _docs import write_section  # noqa: E402
from bench_live_load import copy_world  # noqa: E402

from opsmatch.clock import next_weekday_at  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from serving.runtime import launch  # noqa: E402
from simulator.catchup import catch_up, last_activity  # noqa: E402

SECTION = "## /assign with nobody eligible, over HTTP (issue 21)"
NIGHT_HOUR = 2  # Beijing: every shift off


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children."""
    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def endpoint_seconds(client: httpx.Client, endpoint: str = "assign") -> float:
    """The service's own time in ``endpoint`` so far (``opsmatch_request_seconds_sum``, all workers)."""
    text = client.get("/metrics").text
    pattern = rf'^opsmatch_request_seconds_sum{{[^}}]*endpoint="{endpoint}"[^}}]*}} ([0-9.e+-]+)$'
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


def timed(client: httpx.Client, calls: int, send: Any) -> tuple[list[float], Any]:
    times, last = [], None
    for _ in range(calls):
        t = time.perf_counter()
        last = send(client)
        times.append((time.perf_counter() - t) * 1000.0)
    return times, last


def measure(source: Settings, root: Path, calls: int) -> dict[str, Any]:
    settings = copy_world(source, root)
    end = last_activity(settings)
    assert end is not None, "no history: run make run's bootstrap first"
    night = next_weekday_at(end.to_pydatetime(), NIGHT_HOUR)
    catch_up(settings, night)  # the history up to the night: its backlog is the night's
    anchor = dt.datetime.now(dt.UTC)
    env = launch.service_env(
        settings,
        root / "bentoml",
        OPSMATCH_CLOCK="wall",
        OPSMATCH_CLOCK_ANCHOR=anchor.isoformat(),
        OPSMATCH_CLOCK_START=night.isoformat(),
        OPSMATCH_CLOCK_SPEED="1",
    )
    key = (settings.data_dir / "keys" / "dispatcher.key").read_text().strip()
    port = launch.free_port()
    proc = launch.start(env, port, root / "service.log")
    url = f"http://127.0.0.1:{port}"
    try:
        launch.wait_ready(proc, url, 900, log_path=root / "service.log")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:

            def assign(c: httpx.Client) -> httpx.Response:
                r = c.post("/assign", json={"all_waiting": True})
                r.raise_for_status()
                return r

            timed(client, 3, assign)  # warm-up: the first call loads the task book
            own0 = endpoint_seconds(client)
            cpu, wall = tree_cpu(proc.pid), time.perf_counter()
            times, last = timed(client, calls, assign)
            cpu, wall = tree_cpu(proc.pid) - cpu, time.perf_counter() - wall
            own = endpoint_seconds(client) - own0
            quiet = tree_cpu(proc.pid)  # the same wall time without calls: the monitor, sweeps, probes
            time.sleep(wall)
            quiet = tree_cpu(proc.pid) - quiet
            base, _ = timed(client, calls, lambda c: c.get("/livez"))
            info = client.get("/info").json()
    finally:
        launch.stop(proc)
    body = last.json()
    return {
        "clock": info.get("clock"),
        "night": night.isoformat(),
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "cpu_ms_per_call": cpu * 1000.0 / calls,
        "quiet_cpu_ms_per_call": quiet * 1000.0 / calls,
        "net_cpu_ms_per_call": (cpu - quiet) * 1000.0 / calls,
        "endpoint_ms_mean": own * 1000.0 / calls,
        "livez_p50_ms": float(np.percentile(base, 50)),
        "bytes": len(last.content),
        "n_tasks": body["n_tasks"],
        "n_unassigned": body["n_unassigned"],
        "listed": len(body["unassigned"]),
        "counts": body["unassigned_counts"],
        "availability": body.get("availability"),
        "scored_pairs": body["scored_pairs"],
    }


def render(r: dict[str, Any], calls: int, load: tuple[float, float]) -> str:
    return (
        "\n".join(
            [
                SECTION,
                "",
                f"`OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_assign_idle.py --calls {calls} "
                f"--write-docs`, {dt.date.today().isoformat()}, load average {load[0]:.1f} before / "
                f"{load[1]:.1f} after (shared 2-core machine). A copy of the embedded default "
                "(default, 90 days, seed 7) on a real `bentoml serve` whose clock reads "
                f"{r['night']} (a weekday 02:00 in Beijing; the copy's history caught up to it: "
                "nobody on shift, the night's backlog waiting); "
                '`POST /assign {"all_waiting": true}`, '
                f"{calls} calls after 3 warm-up calls.",
                "",
                "| waiting tasks | unassigned (counts by reason) | listed | answer | wall p50 / p95 "
                "| endpoint's own time (mean) | service CPU per call: all / background / net "
                "| `GET /livez` p50 (baseline) | p50 / baseline |",
                "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
                f"| {r['n_tasks']:,} | {r['n_unassigned']:,} ({json.dumps(r['counts'])}) | {r['listed']} | "
                f"{r['bytes'] / 1000:.0f} KB | {r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms | "
                f"{r['endpoint_ms_mean']:.0f} ms | {r['cpu_ms_per_call']:.0f} / "
                f"{r['quiet_cpu_ms_per_call']:.0f} / **{r['net_cpu_ms_per_call']:.0f} ms** | "
                f"{r['livez_p50_ms']:.1f} ms | {r['p50_ms'] / r['livez_p50_ms']:.0f}x |",
                "",
                "Background = the service's CPU over the same wall time with no calls (the monitor's "
                "passes, alert sweeps); net = all - background; the endpoint's own time is the "
                "service's `opsmatch_request_seconds` (wall, inside the service, after the middleware).",
                "",
                f"Scored pairs {r['scored_pairs']} (no scoring when nobody is available); the answer's "
                f"availability: {json.dumps(r['availability'])}.",
            ]
        )
        + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="assign-idle-") as tmp:
        got = measure(Settings(), Path(tmp), args.calls)
    print(json.dumps(got, default=str, indent=1))
    text = render(got, args.calls, (load_before, os.getloadavg()[0]))
    print(text)
    if args.write_docs:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
