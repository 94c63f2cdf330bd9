"""The live twin at 10x the default arrival rate against a real ``bentoml serve`` (issue 13).

Usage: ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_live_load.py [--minutes 10] [--speed 10]
[--baseline-minutes 3] [--write-docs]`` after ``make run``'s bootstrap (the embedded default and its
champions).

Each run starts at the next weekday 10:00 in Beijing on the demo clock (the day shifts on, the night's
backlog waiting) and works on a copy of the embedded default's data dir (the event store by its own
backup; the features re-applied and materialized there; fresh demo keys), so the demo's own store is
untouched. The service and the live twin share the clock: at ``--speed 10`` every operation minute
(arrivals, accepts, work, QA) takes a tenth of a wall minute, so the service sees 10x the default's
requests per wall second. The baseline is the same twin at speed 1.01 (about real time: a clock at
exactly 1 is the wall clock, which cannot start in the morning) on its own copy, in the same process,
just before; latencies are reported as measured and as ratios to it (the machine is shared and noisy).
Reported per run: p50/p99 of ``POST /tasks``, ``POST /assign``, ``POST /outcomes``, the calls that
failed, and whether the tasks, completions and QA rows the run added to the store equal the twin's log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _docs import write_section  # noqa: E402

from apps.live import LiveOptions, LivePlayer  # noqa: E402
from apps.live_client import LiveClient, read_keys  # noqa: E402
from features.store import apply_repo, materialize  # noqa: E402
from opsmatch import event_admin, events  # noqa: E402
from opsmatch.clock import clock_reading, next_weekday_at  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from serving.access.keys import KeyStore, demo_keys  # noqa: E402
from serving.runtime import launch  # noqa: E402
from serving.state.store import StateStore  # noqa: E402

ENDPOINTS = ("POST tasks", "POST assign", "POST outcomes")
CHECKED = {"tasks": "task_id", "completions": "task_id", "qa_results": "qa_id"}
SKIPPED = {"events", "logs", "live", "keys", "state.db", "model_cache"}
FAILED = re.compile(r"retrying$|refused: |^POST /assign: ")  # the twin's lines for calls that failed
MIN_BASELINE_CALLS = 10  # fewer baseline calls give no ratio worth printing
STARTUP_SECONDS = 90.0  # wall seconds the copy's service gets before the clock reads the morning


def copy_world(source: Settings, root: Path) -> Settings:
    """A private copy of ``source``'s data dir under ``root`` that serves on its own."""
    shutil.copytree(source.data_dir, root / "data", ignore=lambda d, names: SKIPPED & set(names))
    settings = source.model_copy(update={"data_dir": root / "data", "state_db_url": "", "events_url": ""})
    event_admin.backup(source, settings.events_dir)
    apply_repo(settings)
    materialize(settings)
    demo_keys(KeyStore(StateStore(settings.resolved_state_db_url)), settings.data_dir / "keys", by="bench")
    return settings


def quantiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000.0
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}


def store_matches_log(settings: Settings, before: dict[str, set[str]], player: LivePlayer) -> dict[str, Any]:
    """Per checked table: rows the run added to the store, rows in the twin's log, and equal keys."""
    out = {}
    for name, key in CHECKED.items():
        stored = events.read_table(settings, name)
        added = set(stored[key].astype(str)) - before[name]
        logged = {str(r[key]) for r in getattr(player.world.log, name)}
        out[name] = {"added": len(added), "logged": len(logged), "equal": added == logged}
    return out


def latency(values: list[float]) -> dict[str, Any]:
    """The first call (the backlog's first ``/assign``) apart; p50/p99 of the rest."""
    return {"first_ms": values[0] * 1000.0, **quantiles(values[1:] or values)}


def run(source: Settings, speed: float, minutes: float, say: Any) -> dict[str, Any]:
    """One live run of ``minutes`` wall minutes at ``speed`` on a fresh copy, from a weekday morning."""
    with tempfile.TemporaryDirectory(prefix=f"live-load-{speed:g}-") as tmp:
        root = Path(tmp)
        settings = copy_world(source, root)
        before = {n: set(events.read_table(settings, n)[k].astype(str)) for n, k in CHECKED.items()}
        start_wall = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=STARTUP_SECONDS)
        clock = clock_reading(next_weekday_at(start_wall, 10), start_wall, speed)  # 10:00 at start_wall
        assert clock.anchor is not None
        env = launch.service_env(
            settings,
            root / "bentoml",
            OPSMATCH_CLOCK_ANCHOR=clock.anchor.isoformat(),
            OPSMATCH_CLOCK_SPEED=str(speed),
        )
        with launch.running(env, root / "service.log", timeout=900) as url:
            client = LiveClient(url, read_keys(settings.data_dir / "keys"))
            hours = minutes * speed / 60.0  # operation hours of arrivals in ``minutes`` of wall time
            options = LiveOptions(hours=hours, drain_hours=0.0, log_dir=root / "live-log")
            said: list[str] = []

            def hear(line: str) -> None:
                said.append(line)
                say(line)

            player = LivePlayer(settings, client, clock, options, hear)
            time.sleep(max(0.0, (start_wall - dt.datetime.now(dt.UTC)).total_seconds()))  # 10:00 sharp
            started = time.perf_counter()
            counts = player.run()
            wall = time.perf_counter() - started
            client.close()
        time.sleep(1.0)
        return {
            "speed": speed,
            "wall_s": wall,
            "counts": counts,
            "latency": {e: latency(client.latency[e]) for e in ENDPOINTS if client.latency.get(e)},
            "errors": dict(client.errors),
            "failed": [line for line in said if FAILED.search(line)],
            "calls": dict(client.calls),
            "store": store_matches_log(settings, before, player),
        }


def render(base: dict[str, Any], load: dict[str, Any], minutes: float) -> str:
    lines = [
        "## Live twin under load",
        "",
        f"`OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_live_load.py --minutes {minutes:g} "
        f"--speed {load['speed']:g} --write-docs` (issue 13), {dt.date.today().isoformat()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end. The embedded default (copied per run), a real `bentoml "
        "serve`, the live twin in process on the same demo clock. Latencies in ms as the twin's client "
        f"saw them; ratio = load / baseline (speed {base['speed']:g}, {base['wall_s'] / 60:.1f} wall min).",
        "",
        "| endpoint | baseline n | baseline p50 | baseline p99 | load n | load p50 | load p99 | p50 ratio "
        "| p99 ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in ENDPOINTS:
        b, v = base["latency"].get(e), load["latency"].get(e)
        if not b or not v:
            lines.append(f"| {e} | {b and b['n']} | | | {v and v['n']} | | | | |")
            continue
        ratios = (
            f"{v['p50'] / b['p50']:.2f} | {v['p99'] / b['p99']:.2f}"
            if b["n"] >= MIN_BASELINE_CALLS
            else f"(baseline n < {MIN_BASELINE_CALLS}) | "
        )
        lines.append(
            f"| {e} | {b['n']} | {b['p50']:.0f} | {b['p99']:.0f} | {v['n']} | {v['p50']:.0f} | "
            f"{v['p99']:.0f} | {ratios} |"
        )
    first = [(e, base["latency"].get(e), load["latency"].get(e)) for e in ENDPOINTS]
    lines += [
        "",
        "First call of each endpoint (cold caches), not in the quantiles; the night's backlog is dispatched "
        "by the service's own monitor (pending past 30 minutes) once the clock reads the morning: "
        + ", ".join(
            f"{e} {v['first_ms']:.0f} ms (baseline {b['first_ms']:.0f})" for e, b, v in first if v and b
        )
        + ".",
    ]
    c = load["counts"]
    lines += [
        "",
        f"Load run: {load['wall_s'] / 60:.1f} wall min, {c.get('tasks', 0)} tasks in, {c.get('assigned', 0)} "
        f"assigned, {c.get('done', 0)} done, {c.get('qa', 0)} QA, {sum(load['calls'].values())} calls. "
        f"Failed calls (5xx or lost connections after the retries, refused outcomes or assign): "
        f"{len(load['failed'])} (baseline {len(base['failed'])}). Answers refused with a 4xx: "
        f"{json.dumps(load['errors']) if load['errors'] else 'none'} (baseline: "
        f"{json.dumps(base['errors']) if base['errors'] else 'none'}); a 409 on an accept or start means "
        "the monitor had taken the task back first (its accept timeout, 15 operation minutes, is 90 wall "
        "seconds at 10x), and the twin's worker lets it go.",
        "Store vs the twin's log (rows the run added): "
        + ", ".join(
            f"{n} {s['added']} / {s['logged']} {'equal' if s['equal'] else 'DIFFERENT'}"
            for n, s in load["store"].items()
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="Wall minutes of the load run.")
    ap.add_argument("--speed", type=float, default=10.0, help="Demo clock speed of the load run.")
    ap.add_argument("--baseline-minutes", type=float, default=3.0, help="Wall minutes at the base speed.")
    ap.add_argument("--base-speed", type=float, default=1.01, help="Speed of the baseline (about real time).")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    source = Settings()

    def say(line: str) -> None:
        print(line, flush=True)

    base = run(source, args.base_speed, args.baseline_minutes, say)
    load = run(source, args.speed, args.minutes, say)
    text = render(base, load, args.minutes)
    print(text)
    print(json.dumps({"baseline": base, "load": load}, default=str, indent=1))
    if args.write_docs:
        write_section("## Live twin under load", text)


if __name__ == "__main__":
    main()
