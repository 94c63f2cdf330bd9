"""Benchmark (issue 23, service half): ``/rank`` and ``/assign`` in process at a national-size roster.

On a built world (a PRIVATE copy: the engine reads its stores; nothing is written to them), the engine
is built in this process (no HTTP, no monitor) and its worker snapshot replaced by ``--copies`` replicas
of every worker (ids ``<worker>x<copy>``, the same features) all on shift at ``now`` (the feature
tables' ``as_of``) with no open task: the default's 600 workers x 10 = the national 6,000, every one
on shift. Then:

- ``/rank`` (``Engine.rank``, top 10) of ``--n`` waiting tasks in turn: p50 / p99 wall, CPU per call;
- one ``/assign`` of every waiting task (``Dispatcher.assign``, not committed): wall, CPU, pairs scored;
- ``--profile``: the cProfile top of the ``/rank`` calls.

Wall time on 2 shared cores measures the other sessions too: CPU time and the load average are printed
beside it.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_rank_scale.py /tmp/world --copies 10
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before LightGBM loads

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def replicate(snap: Any, copies: int, now: datetime) -> Any:
    """``snap`` with every worker ``copies`` times, all on shift at ``now`` with no open task."""
    from features.request_time import live_rows

    n = len(snap.worker_ids)
    ids = np.array([f"{w}x{c}" for c in range(copies) for w in snap.worker_ids])
    order = np.argsort(ids, kind="stable")  # the snapshot keeps ids sorted
    ids = ids[order]

    def tile(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a] * copies)[order]

    capacity = tile(snap.capacity)
    live = live_rows(np.ones(n * copies), np.zeros(n * copies), capacity)
    return replace(
        snap,
        worker_ids=ids,
        index={w: i for i, w in enumerate(ids)},
        id_index=pd.Index(ids),
        province_ids=tile(snap.province_ids),
        capacity=capacity,
        matrices={t: np.ascontiguousarray(tile(m)) for t, m in snap.matrices.items()},
        live=live,
        live_at=np.full(n * copies, int(pd.Timestamp(now).value // 1000), dtype=np.int64),
        last_qa=tile(snap.last_qa),
        last_qa_at=tile(snap.last_qa_at),
        worker_sums=tile(snap.worker_sums),
        pair_sums=tile(snap.pair_sums),
    )


def engine_on(root: Path, **config: object) -> Any:
    """The engine in this process on the world at ``root`` (in-memory state store), once ready."""
    import bench_service_scale as svc

    from serving.config import load_service_config
    from serving.runtime.components import build_runtime
    from serving.runtime.engine import Engine
    from serving.state.store import StateStore

    settings = svc.settings_of(root)
    cfg = load_service_config({"champion_poll_seconds": 3600, "prediction_log": False, **config})
    runtime = build_runtime(settings.model_copy(update={"state_db_url": "sqlite://"}), cfg)
    engine = Engine(settings, runtime, StateStore("sqlite://"), cfg)
    deadline = time.time() + 900
    while not engine.ready():
        if time.time() > deadline:
            raise RuntimeError("in-process runtime not ready")
        time.sleep(0.2)
    models = engine.runtime.scorer._models
    while cfg.compiled_trees and not all(type(m[0]).__name__ == "CompiledModel" for m in models.values()):
        if time.time() > deadline:  # the background compile (serving/runtime/compiled.py)
            raise RuntimeError("the champions were not compiled")
        time.sleep(0.5)
        models = engine.runtime.scorer._models
    return engine


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def rank_calls(engine: Any, ids: list[str], now: datetime, n: int) -> dict[str, Any]:
    from serving.api import schemas as s

    for t in ids[:5]:  # warm-up: blocks, task rows
        engine.rank(s.RankRequest(task_id=t, top_k=10, as_of=now))
    wall, eligible = [], []
    cpu = time.process_time()
    for i in range(n):
        t0 = time.perf_counter()
        got = engine.rank(s.RankRequest(task_id=ids[i % len(ids)], top_k=10, as_of=now))
        wall.append((time.perf_counter() - t0) * 1000)
        eligible.append(got.eligible)
    return {
        "rank_ms": (round(q(wall, 0.5), 1), round(q(wall, 0.99), 1)),
        "rank_cpu_ms": round(1000 * (time.process_time() - cpu) / n, 1),
        "eligible_median": float(np.median(eligible)),
    }


def assign_all(engine: Any, now: datetime) -> dict[str, Any]:
    from serving.api import schemas as s

    cpu, t0 = time.process_time(), time.perf_counter()
    got = engine.assign(s.AssignRequest(all_waiting=True, limit=1, as_of=now))
    return {
        "assign_s": round(time.perf_counter() - t0, 2),
        "assign_cpu_s": round(time.process_time() - cpu, 2),
        **{k: getattr(got, k) for k in ("n_tasks", "n_assigned", "scored_pairs", "solver_iterations")},
        "objective": got.objective,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path, help="a private copy of a built world")
    ap.add_argument("--copies", type=int, default=10, help="replicas of every worker (10: national)")
    ap.add_argument("--n", type=int, default=100, help="/rank calls")
    ap.add_argument("--no-assign", action="store_true")
    ap.add_argument("--no-rank", action="store_true")
    ap.add_argument("--profile", type=int, default=0, help="print this many cProfile rows of /rank")
    ap.add_argument("--set", action="append", default=[], help="service config KEY=VALUE (repeatable)")
    args = ap.parse_args()
    config = {k: json.loads(v) for k, v in (e.split("=", 1) for e in args.set)}
    from features.pipeline import read_manifest
    from serving.tasks.lifecycle import WAITING

    t0 = time.perf_counter()
    engine = engine_on(args.root.resolve(), **config)
    out: dict[str, Any] = {"ready_s": round(time.perf_counter() - t0, 1), "config": config}
    now = pd.Timestamp(read_manifest(engine.settings.feature_data_dir)["as_of"]).to_pydatetime()
    cache = engine.runtime.profiles.cache
    cache._snap = replicate(cache.snapshot, args.copies, now)
    out["workers"] = len(engine.loaded_pool())
    ids = [st.task_id for st in engine.book.states(WAITING)] or [t for t, _ in engine.book.open_tasks()]
    out["waiting"] = len(ids)
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    if not args.no_rank:
        out.update(rank_calls(engine, ids, now, args.n))
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
    if not args.no_assign:
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        out.update(assign_all(engine, now))
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
    out["load"] = round(os.getloadavg()[0], 1)
    engine.runtime.close()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
