"""Tasks done per operation hour: the live run (service + live twin on a fast clock) vs the twin offline.

Usage: ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_live_throughput.py [--runs 1:10,10:60,60:180]
[--write-docs]`` after ``make run``'s bootstrap (the embedded default and its champions).

Every run starts from the same state: a private copy of the embedded default (``bench_live_load.copy_world``)
at the store's newest event (after ``make run``'s bootstrap: a weekday 10:00 in Beijing, the day shifts
on). The live run is a real ``bentoml serve`` and the live twin in process on one clock of ``speed``
reading that instant when the twin starts; the twin posts the arrivals, dispatches through ``/assign``,
its workers answer and report their work. The offline replay is the twin's own catch-up
(``simulator.catchup``: the same arrival process continued, the open tasks handed over, the legacy policy,
no service) of the same hours on another copy, once for the longest window. Counted on both sides:
completions stamped inside the window, per operation hour; ratio = live / replay (target >= 0.9). The
twin's lag behind the service's clock comes from its hourly lines (worst hour, and the final line).
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

import pandas as pd

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _docs import write_section  # noqa: E402
from bench_live_load import copy_world  # noqa: E402

from apps.live import LiveOptions, LivePlayer  # noqa: E402
from apps.live_client import LiveClient, read_keys  # noqa: E402
from opsmatch import event_admin, events  # noqa: E402
from opsmatch.clock import OpsClock  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from serving.runtime import launch  # noqa: E402
from simulator.catchup import catch_up, last_activity  # noqa: E402

SECTION = "## Live twin vs its offline replay: tasks done per operation hour (issue 21)"
LAG = re.compile(r"behind the clock by up to ([0-9.]+) operation min")
STARTUP_SECONDS = 150.0  # wall seconds the copy's service gets before the clock reads the start


def done_in(completions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> int:
    at = pd.to_datetime(completions["completed_at"], utc=True)
    return int(((at >= start) & (at < end)).sum())


def replay(source: Settings, root: Path, start: pd.Timestamp, hours: float) -> pd.DataFrame:
    """The twin's offline catch-up of ``hours`` from ``start`` on a copy (events + truth): its completions."""
    settings = source.model_copy(update={"data_dir": root / "data", "state_db_url": "", "events_url": ""})
    event_admin.backup(source, settings.events_dir)
    shutil.copytree(source.truth_dir, settings.truth_dir)
    began = time.process_time()
    catch_up(settings, (start + pd.Timedelta(hours=hours)).to_pydatetime())
    print(f"replay of {hours:g} h: {time.process_time() - began:.1f} CPU s", flush=True)
    return events.read_table(settings, "completions")


def live(source: Settings, root: Path, start: pd.Timestamp, speed: float, minutes: float) -> dict[str, Any]:
    """One live run of ``minutes`` operation minutes at ``speed`` from ``start`` on a fresh copy."""
    settings = copy_world(source, root)
    go = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=STARTUP_SECONDS)
    clock = OpsClock(anchor=go, speed=speed, start=start.to_pydatetime())
    env = launch.service_env(
        settings,
        root / "bentoml",
        OPSMATCH_CLOCK="wall",
        OPSMATCH_CLOCK_ANCHOR=go.isoformat(),
        OPSMATCH_CLOCK_START=start.isoformat(),
        OPSMATCH_CLOCK_SPEED=f"{speed:g}",
    )
    said: list[str] = []

    def hear(line: str) -> None:
        said.append(line)
        print(f"[x{speed:g}] {line}", flush=True)

    with launch.running(env, root / "service.log", timeout=900) as url:
        client = LiveClient(url, read_keys(settings.data_dir / "keys"))
        options = LiveOptions(hours=minutes / 60.0, drain_hours=0.0, log_dir=root / "live-log")
        player = LivePlayer(settings, client, clock, options, hear)
        time.sleep(max(0.0, (go - dt.datetime.now(dt.UTC)).total_seconds()))
        began = pd.Timestamp(clock())
        wall, cpu = time.perf_counter(), time.process_time()
        counts = player.run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        client.close()
    lags = [float(m.group(1)) for line in said if (m := LAG.search(line))]
    completions = pd.DataFrame(player.world.log.completions, columns=["task_id", "completed_at"])
    return {
        "speed": speed,
        "minutes": minutes,
        "began": began,
        "late_start_min": (began - start).total_seconds() / 60.0,
        "wall_s": wall,
        "twin_cpu_s": cpu,
        "counts": counts,
        "lag_max_min": max(lags, default=float("nan")),
        "lag_lines": lags,
        "slowed_said": any("fell up to" in line for line in said),
        "completions": completions,
        "calls": {k: [n, round(sum(client.latency.get(k, [])), 1)] for k, n in client.calls.items()},
    }


def render(rows: list[dict[str, Any]], argv: str, load: tuple[float, float]) -> str:
    lines = [
        SECTION,
        "",
        f"`OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_live_throughput.py {argv}`, "
        f"{dt.date.today().isoformat()}, load average {load[0]:.1f} before / {load[1]:.1f} after (shared "
        "2-core machine). The embedded default (scenario default, 90 days, seed 7), copied per run, from "
        "the store's newest event; live = a real `bentoml serve` + the live twin on one clock of that "
        "speed; replay = the twin's offline catch-up of the same hours (legacy policy, no service). Tasks "
        "done = completions stamped in the window, per operation hour.",
        "",
        "| speed | window (op min) | wall min | live done/h | replay done/h | live / replay | tasks in "
        "| assigned | rejected | refused | twin lag, worst hour (op min) | twin CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c = r["counts"]
        lines.append(
            f"| {r['speed']:g}x | {r['minutes']:g} | {r['wall_s'] / 60:.1f} | {r['live_per_h']:.0f} | "
            f"{r['replay_per_h']:.0f} | **{r['ratio']:.2f}** | {c['tasks']} | {c['assigned']} | "
            f"{c['rejected']} | {c['refused']} | {r['lag_max_min']:.1f}"
            f"{' (said so)' if r['slowed_said'] else ''} | {r['twin_cpu_s']:.0f} |"
        )
    late = ", ".join(f"{r['speed']:g}x {r['late_start_min']:.1f}" for r in rows)
    lines += ["", f"Twin start after the window's start (op min; the service's start-up): {late}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="1:10,10:60,60:180", help="speed:operation minutes, comma separated")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    runs = [(float(s), float(m)) for s, m in (p.split(":") for p in args.runs.split(","))]
    source = Settings()
    start = last_activity(source)
    assert start is not None, "no history: run make run's bootstrap first"
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="live-throughput-") as tmp:
        longest = max(m for _, m in runs) / 60.0 + 0.5  # the late start of a run still inside the replay
        replayed = replay(source, Path(tmp) / "replay", start, longest)
        for speed, minutes in runs:
            got = live(source, Path(tmp) / f"x{speed:g}", start, speed, minutes)
            began, end = got["began"], got["began"] + pd.Timedelta(minutes=minutes)
            got["live_per_h"] = done_in(got.pop("completions"), began, end) * 60.0 / minutes
            got["replay_per_h"] = done_in(replayed, began, end) * 60.0 / minutes
            got["ratio"] = got["live_per_h"] / max(got["replay_per_h"], 1e-9)
            rows.append(got)
            print(json.dumps(got, default=str), flush=True)
    text = render(rows, " ".join(sys.argv[1:]), (load_before, os.getloadavg()[0]))
    print(text)
    if args.write_docs:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
