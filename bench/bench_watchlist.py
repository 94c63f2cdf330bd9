"""Benchmark: the national watchlist and the complaint risk that moves with the wait, on a built world.

On the data dir of a bootstrapped world (default scenario: ``opsmatch bootstrap`` or any folder with
``data/``, ``mlflow.db``), an engine on the real runtime with its clock at the history's end:

- the ``complaint_pre`` champion's test figures (AUC, ECE, precision at capacity) recorded by training;
- one inline task scored at intake and at 0, 24, 48 and 62 h past its SLA (probability, tier, reasons);
- ``GET /watchlist`` (national) timed in-process: the first call (the task book loads, every open task
  is enriched once), ``--repeat`` warm calls (p50, max) and as many with the risk cache emptied before
  each call (every open task predicted and the page explained again: the path before the cache).

Writes the "## Watchlist and wait-aware risk" section of ``docs/benchmarks.md`` with ``--write``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_watchlist.py /path/to/world [--repeat 10] [--write]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from _docs import write_section  # noqa: E402

from features.pipeline import read_manifest  # noqa: E402
from opsmatch import events  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from serving.api import schemas as s  # noqa: E402
from serving.config import load_service_config  # noqa: E402
from serving.risk.cache import RiskCache  # noqa: E402
from serving.risk.desk import warm as warm_up  # noqa: E402
from serving.runtime.components import build_runtime, row_validator  # noqa: E402  # noqa: E402
from serving.runtime.engine import Engine  # noqa: E402  # noqa: E402
from serving.state.event_index import EventIndex  # noqa: E402  # noqa: E402
from serving.state.store import StateStore  # noqa: E402  # noqa: E402

SECTION = "## Watchlist and wait-aware risk"
SHOWN = ("auc", "ece", "brier", "precision_at_capacity")


def _settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        mlflow_artifact_root=root / "artifacts",
        state_db_url=f"sqlite:///{root / 'bench-watchlist-state.db'}",
    )


def _test_figures(settings: Settings) -> dict[str, float]:
    from training.registry import CHAMPION, client_for, registered_name, version_for_alias

    client = client_for(settings)
    mv = version_for_alias(client, registered_name("complaint_pre"), CHAMPION)
    metrics = client.get_run(mv.run_id).data.metrics if mv is not None and mv.run_id else {}
    return {k[5:]: v for k, v in metrics.items() if k.startswith("test_")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--write", action="store_true")
    ap.add_argument(
        "--warm-up",
        action="store_true",
        help="run the service's start-up warm-up (serving.risk.desk.warm) before the first call, timed apart",
    )
    args = ap.parse_args()
    settings = _settings(args.root)
    load0 = os.getloadavg()[0]
    as_of = pd.Timestamp(read_manifest(settings.feature_data_dir)["as_of"]).to_pydatetime()
    config = load_service_config({"policy_ttl_seconds": 0, "champion_poll_seconds": 3600})
    index = EventIndex(settings.events_dir)
    runtime = build_runtime(settings, config, index)
    store = StateStore(settings.resolved_state_db_url)
    engine = Engine(
        settings, runtime, store, config, validate_rows=row_validator(settings, index), clock=lambda: as_of
    )
    deadline = time.time() + 600
    while not engine.ready() and time.time() < deadline:
        time.sleep(0.5)
    figs = _test_figures(settings)
    src = events.read_table(settings, "tasks").iloc[-1]
    created = as_of - timedelta(days=6)
    due = created + (src["sla_due_at"] - src["created_at"])
    task = dict(
        task_id="BENCH-WAIT", task_type=str(src["task_type"]), province_id=str(src["province_id"]),
        created_at=created, sla_due_at=due, complexity=int(src["complexity"]),
        customer_id=str(src["customer_id"]),
    )  # fmt: skip
    wait_rows = []
    for label, at in [("intake", created), ("at SLA", due)] + [
        (f"{h} h past SLA", due + timedelta(hours=h)) for h in (24, 48, 62)
    ]:
        item = engine.risk(s.RiskRequest(tasks=[s.InlineTask(**task)], as_of=at)).items[0]
        wait_rows.append((label, item.probability, item.tier, "; ".join(r.text for r in item.reasons)))
    warmed = None
    if args.warm_up:  # what the service does in a background thread once the champion is served
        started = time.perf_counter()
        warm_up(engine, threading.Event())
        warmed = time.perf_counter() - started
    started, used = time.perf_counter(), time.process_time()
    first = engine.watchlist(None, None, actor="bench")
    cold, cold_first_cpu = time.perf_counter() - started, time.process_time() - used
    warm, cpu = [], []
    for _ in range(args.repeat):
        started, used = time.perf_counter(), time.process_time()
        engine.watchlist(None, None, actor="bench")
        warm.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)  # CPU of this process: less sensitive to other load
    cold_cache, cold_cpu = (
        [],
        [],
    )  # the path before the risk cache: every open task predicted, the page explained
    for _ in range(args.repeat):
        engine.risk_cache = RiskCache()
        started, used = time.perf_counter(), time.process_time()
        engine.watchlist(None, None, actor="bench")
        cold_cache.append(time.perf_counter() - started)
        cold_cpu.append(time.process_time() - used)
    load = os.getloadavg()[0]
    runtime.close()
    store.close()
    first_what = (
        "after the warm-up" if warmed is not None else "task book load, every open task enriched once"
    )
    lines = [
        SECTION,
        "",
        f"World: `{args.root}` (history to {as_of:%Y-%m-%d %H:%M} UTC), {first.open_tasks:,} open tasks, "
        f"{len(first.rows)} rows listed. Command: `OMP_WAIT_POLICY=PASSIVE .venv/bin/python "
        f"bench/bench_watchlist.py <world> --repeat {args.repeat} --write` (engine in process, clock at the "
        "history's end; 2 shared cores).",
        "",
        "complaint_pre champion on its holdout (open-task snapshots, the most recent slice): "
        + ", ".join(
            f"{k} {figs[k]:.4f}" for k in ("auc", "ece", "brier", "precision_at_capacity") if k in figs
        ),
        "",
        "| national watchlist | seconds |",
        "| --- | --- |",
        *([f"| start-up warm-up (background, after ready) | {warmed:.3f} |"] if warmed is not None else []),
        f"| first call ({first_what}) | {cold:.3f} (CPU {cold_first_cpu:.3f}) |",
        f"| warm p50 over {args.repeat} | {statistics.median(warm):.3f} |",
        f"| warm max | {max(warm):.3f} |",
        f"| warm p50, CPU seconds of the process | {statistics.median(cpu):.3f} |",
        f"| risk cache emptied before each call: p50 / CPU p50 | {statistics.median(cold_cache):.3f} / "
        f"{statistics.median(cold_cpu):.3f} |",
        f"| CPU ratio, cache emptied / warm | {statistics.median(cold_cpu) / statistics.median(cpu):.1f}x |",
        "",
        f"Load average at the start / end of the run: {load0:.1f} / {load:.1f} (other sessions, 2 cores).",
        "",
        "One inline task (a world task's type, province, customer) scored by `POST /risk` with `as_of`:",
        "",
        "| when | P(complaint) | tier | reasons |",
        "| --- | --- | --- | --- |",
        *[f"| {w} | {p:.3f} | {t} | {r} |" for w, p, t, r in wait_rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
