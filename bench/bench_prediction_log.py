"""The prediction log's cost on /rank: p50 and p99 with logging on vs off, in the same process.

What runs: a source world (``--source``: a data dir built by ``tests.factories.serving_world.build_world``,
the twin's ``small`` scenario with its four champions; built under ``--work`` when missing), replicated
to 2,000 eligible workers by ``bench_serving.build_bench_world``; one in-process engine on the real
runtime (profile cache, Feast task rows, champions). Requests alternate in rounds of ``--round``
between logging off (no log) and on (the service's :class:`~serving.predictions.log.PredictionLog`
writing the top-k rows to the bench's own event store), so drift in machine load hits both sides.
The request time includes only what /rank does on the request thread; the writer's own work runs on
its background thread in the same process (the CPU it takes is part of what is measured).

Run: ``OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_prediction_log.py [--write-docs] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before LightGBM loads

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _docs import write_section  # noqa: E402
from bench_serving import TASK_TYPE, build_bench_world, engine_for, pending_tasks, stats  # noqa: E402

from features.pipeline import read_manifest  # noqa: E402

SECTION = "## Prediction log"


def source_world(path: Path):  # noqa: ANN201
    """The settings of the small twin world at ``path`` (built there first when missing)."""
    from tests.factories.serving_world import build_world, world_settings

    if not (path / "mlflow.db").exists():
        build_world(path)
    return world_settings(path)


def measure(engine, task_ids: list[str], as_of, n: int, rounds: int, log) -> dict:  # noqa: ANN001
    """Alternate blocks of ``rounds`` requests with logging off and on; the two samples."""
    from serving.api import schemas as s

    samples: dict[str, list[float]] = {"off": [], "on": []}
    for t in task_ids[:10]:
        engine.rank(s.RankRequest(task_id=t, as_of=as_of))
    i = 0
    while len(samples["on"]) < n:
        for mode in ("off", "on"):
            engine.predictions = log if mode == "on" else None
            for _ in range(rounds):
                req = s.RankRequest(task_id=task_ids[i % len(task_ids)], top_k=10, as_of=as_of)
                i += 1
                t0 = time.perf_counter()
                engine.rank(req)
                samples[mode].append(time.perf_counter() - t0)
    return {mode: stats(v) for mode, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/opsmatch-bench-predlog"))
    parser.add_argument("--source", type=Path, default=None, help="source world (default: <work>/world)")
    parser.add_argument("--round", type=int, default=20, help="requests per alternating block")
    parser.add_argument("--docs-from", type=Path, help="write the docs from a saved results.json only")
    args = parser.parse_args()
    if args.docs_from:
        write_docs(json.loads(args.docs_from.read_text()))
        return
    from opsmatch import events
    from serving.predictions.log import TABLE, PredictionLog

    n = 200 if args.quick else 1500
    args.work.mkdir(parents=True, exist_ok=True)
    src = source_world(args.source or args.work / "world")
    as_of = pd.Timestamp(read_manifest(src.feature_data_dir)["as_of"]).to_pydatetime()
    pend = pending_tasks(src)
    task_ids = pend[pend["task_type"] == TASK_TYPE]["task_id"].astype(str).tail(50).tolist()
    settings = build_bench_world(src, args.work, 2000)
    engine = engine_for(settings)
    log = PredictionLog(lambda rows: events.append(settings, TABLE, rows)).start()
    load_before = os.getloadavg()[0]
    t0 = time.time()
    res = measure(engine, task_ids, as_of, n, args.round, log)
    assert log.flush(60)
    res["log"] = log.stats()
    res["stored_rows"] = events.row_count(settings, TABLE)
    log.stop()
    engine.runtime.close()
    res["ratio_p50"] = res["on"]["p50"] / res["off"]["p50"]
    res["ratio_p99"] = res["on"]["p99"] / res["off"]["p99"]
    res["meta"] = {
        "eligible": 2000,
        "requests_per_side": n,
        "round": args.round,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "seconds": time.time() - t0,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }
    print(json.dumps(res, indent=1, default=float))
    (args.work / "results.json").write_text(json.dumps(res, indent=1, default=float))
    if args.write_docs:
        write_docs(res)


def write_docs(res: dict) -> None:
    off, on, meta = res["off"], res["on"], res["meta"]
    verdict = "met" if max(res["ratio_p50"], res["ratio_p99"]) <= 1.10 else "NOT met"
    lines = [
        SECTION,
        "",
        "Cost of logging every served /rank decision (top-10 rows: model versions, inputs hash, predicted",
        "values, the task's features once) to the event store's `predictions` table, measured by",
        "`OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_prediction_log.py --write-docs`: one",
        "in-process engine on the real runtime (twin `small` world, champions, Feast task rows) with",
        f"{meta['eligible']:,} eligible workers; blocks of {meta['round']} requests alternate logging",
        f"off/on, {meta['requests_per_side']:,} requests a side. The writer is the service's: a bounded",
        "queue and one batching thread per worker (its CPU is in the same process, so it counts).",
        "",
        "| /rank (in process) | p50 ms | p99 ms | req/s |",
        "| --- | --- | --- | --- |",
        f"| logging off | {off['p50']:.2f} | {off['p99']:.2f} | {off['rps']:.0f} |",
        f"| logging on | {on['p50']:.2f} | {on['p99']:.2f} | {on['rps']:.0f} |",
        f"| ratio on/off | {res['ratio_p50']:.3f} | {res['ratio_p99']:.3f} | |",
        "",
        f"Target (≤ 10 % on p50 and p99): **{verdict}**. Rows stored: {res['stored_rows']:,}; overflow",
        f"{res['log']['overflow_decisions']}, failed rows {res['log']['failed_rows']} (both counted in",
        f"/metrics and /info). Load average {meta['load_before']:.1f} before, {meta['load_after']:.1f} after",
        f"(2 cores shared with other work); Python {meta['python']}, {meta['cores']} cores.",
        "",
        "Reading: with the machine this loaded, run-to-run noise (which side a load spike lands on) is",
        "larger than the log's cost; a ratio below 1 means the cost is inside that noise, not that logging",
        "speeds /rank up. What the request thread does for the log is one `queue.put_nowait` of",
        "references; rows, JSON and hashes are built on the writer thread, which appends at most once a",
        "second (an earlier version appending per decision cost 2.3x on p50 in a quick run: batching is",
        "what makes it cheap).",
    ]
    write_section(SECTION, "\n".join(lines))


if __name__ == "__main__":
    main()
