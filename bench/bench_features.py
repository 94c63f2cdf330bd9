"""Feature-store benchmark: build, materialize, online reads (Feast SQLite/Redis) vs the ProfileCache.

Usage: ``.venv/bin/python bench/bench_features.py [--days 90] [--scenario default] [--data-dir DIR]``.
Generates the twin's history (reused when the data dir already holds the same scenario/days/seed),
then times one run of each stage and writes the "## Feature store" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _docs import DOC, write_section  # noqa: E402

from features.pipeline import build_features  # noqa: E402
from features.profile_cache import ProfileCache  # noqa: E402
from features.spec import VIEWS, tables_dir  # noqa: E402
from features.store import apply_repo, build_store, materialize  # noqa: E402
from features.training_frame import build_training_frames  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from tests.factories.events import start_redis  # noqa: E402

SIZES = (1, 100, 1000, 5000)
SECTION = "## Feature store"


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def _median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def ensure_history(settings: Settings, scenario: str, days: int, seed: int) -> dict:
    """Generate the history unless the data dir already holds this scenario/days/seed."""
    meta = Path(settings.truth_dir) / "meta.json"
    if meta.exists():
        m = json.loads(meta.read_text())
        if (m.get("scenario"), m.get("days"), m.get("seed")) == (scenario, days, seed):
            return {"seconds": None, "reused": True}
    from simulator.run import generate_history

    secs, summary = _timed(generate_history, settings, scenario, days, seed)
    return {"seconds": secs, "reused": False, "rows": summary.rows}


def online_reads(settings: Settings, worker_ids: np.ndarray, rng: np.random.Generator) -> dict[int, float]:
    """Median ms of get_online_features for the worker-side ranking features of n workers."""
    store = build_store(settings)
    refs = [
        f"{v}:{f}"
        for v in ("worker_profile", "worker_type_perf", "worker_status")
        for f in VIEWS[v].feature_names
    ]
    out = {}
    for n in SIZES:
        ids = rng.choice(worker_ids, n, replace=n > len(worker_ids))
        rows = [{"worker_id": w, "task_type": "renewal"} for w in ids]
        store.get_online_features(features=refs, entity_rows=rows[:1])  # warm the registry cache
        out[n] = _median_ms(
            lambda rows=rows: store.get_online_features(features=refs, entity_rows=rows),
            reps=max(3, 200 // max(1, n // 10)) if n < 1000 else 3,
        )
    return out


def cache_reads(cache: ProfileCache, rng: np.random.Generator) -> dict[str, float]:
    """Median µs of ProfileCache lookups (fancy-indexed rows for n workers, and the full view)."""
    n_workers = len(cache.snapshot.worker_ids)
    out = {}
    for n in SIZES:
        idx = rng.integers(0, n_workers, n)
        out[str(n)] = _median_ms(lambda idx=idx: cache.lookup("renewal", idx), reps=2000) * 1000
    out["all (view)"] = _median_ms(lambda: cache.lookup("renewal"), reps=2000) * 1000
    return out


def profile_run(settings: Settings, rng: np.random.Generator, worker_ids: np.ndarray) -> dict:
    """apply + materialize (full, then incremental no-op) + online reads for one online-store profile."""
    t_apply, _ = _timed(apply_repo, settings)
    t_mat, _ = _timed(materialize, settings, incremental=False)
    t_inc, _ = _timed(materialize, settings, incremental=True)
    return {
        "apply_s": t_apply,
        "materialize_s": t_mat,
        "materialize_incremental_s": t_inc,
        "online_ms": online_reads(settings, worker_ids, rng),
    }


def render(r: dict) -> str:
    """Markdown for the results."""
    sizes = [str(n) for n in SIZES]
    lines = [
        SECTION,
        "",
        f"`bench/bench_features.py` on {r['machine']}; scenario `{r['scenario']}`, {r['days']} days "
        f"(seed {r['seed']}): {r['rows']['tasks']:,} tasks, {r['rows']['assignments']:,} assignments, "
        f"{r['n_workers']:,} workers. One run, wall clock; the host was shared with other jobs.",
        "",
        "| stage | seconds |",
        "| --- | ---: |",
    ]
    if r["simulate_s"] is not None:
        lines.append(f"| twin history (simulate, for reference) | {r['simulate_s']:.1f} |")
    lines += [
        f"| feature build, cold (event log -> {sum(r['feature_rows'].values()):,} feature rows) | "
        f"{r['build_s']:.1f} |",
        f"| feature build, unchanged events (no-op) | {r['build_noop_s']:.2f} |",
        f"| training frames, all 4 models, one point-in-time retrieval ({r['rows']['assignments']:,} rows) "
        f"| {r['training_s']:.1f} |",
    ]
    for prof, p in r["profiles"].items():
        lines += [
            f"| {prof}: apply | {p['apply_s']:.1f} |",
            f"| {prof}: materialize, full | {p['materialize_s']:.1f} |",
            f"| {prof}: materialize, incremental (nothing new) | {p['materialize_incremental_s']:.1f} |",
        ]
    lines += [
        "",
        "Worker-side features for ranking one task (worker profile + worker x type + live status, "
        f"{r['n_features']} features), median per call:",
        "",
        "| workers | " + " | ".join(sizes) + " |",
        "| --- |" + " ---: |" * len(sizes),
    ]
    for prof, p in r["profiles"].items():
        lines.append(
            f"| Feast `get_online_features`, {prof} (ms) | "
            + " | ".join(f"{p['online_ms'][n]:.1f}" for n in SIZES)
            + " |"
        )
    lines.append(
        "| ProfileCache.lookup (ms) | " + " | ".join(f"{r['cache_us'][s] / 1000:.4f}" for s in sizes) + " |"
    )
    best = min(p["online_ms"][5000] for p in r["profiles"].values())
    lines += [
        "",
        f"ProfileCache returning the pre-built matrix of all workers (a view, no copy): "
        f"{r['cache_us']['all (view)']:.2f} µs. At 5,000 workers the cache is "
        f"{best / (r['cache_us']['5000'] / 1000):,.0f}x faster than the fastest Feast online read. "
        f"Sizes above the twin's {r['n_workers']} workers repeat workers (sampling with replacement).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "results" / "features-data")
    ap.add_argument("--no-doc", action="store_true", help="print the section instead of writing the doc")
    args = ap.parse_args()
    try:
        import simulator.run  # noqa: F401
    except ImportError:
        print("bench_features: the digital twin (simulator/) is not available; skipping.")
        return
    rng = np.random.default_rng(0)
    settings = Settings(data_dir=args.data_dir.resolve())
    history = ensure_history(settings, args.scenario, args.days, args.seed)
    shutil.rmtree(tables_dir(settings.feature_data_dir), ignore_errors=True)
    t_build, built = _timed(build_features, settings)
    t_noop, _ = _timed(build_features, settings)
    cache = ProfileCache(settings, refresh_seconds=None)
    worker_ids = cache.snapshot.worker_ids
    r = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "scenario": args.scenario,
        "days": args.days,
        "seed": args.seed,
        "simulate_s": history["seconds"],
        "build_s": t_build,
        "build_noop_s": t_noop,
        "feature_rows": {v: built["rows"][v] for v in VIEWS},
        "n_workers": len(worker_ids),
        "cache_us": cache_reads(cache, rng),
        "profiles": {},
        "n_features": sum(
            len(VIEWS[v].features) for v in ("worker_profile", "worker_type_perf", "worker_status")
        ),
    }
    from opsmatch.events import read_table

    r["rows"] = {t: len(read_table(settings, t)) for t in ("tasks", "assignments")}
    shutil.rmtree(settings.feature_data_dir / "repo", ignore_errors=True)  # fresh stores for each run
    for name in ("registry.db", "online.db"):
        (settings.feature_data_dir / name).unlink(missing_ok=True)
    r["profiles"]["SQLite"] = profile_run(settings, rng, worker_ids)
    r["training_s"], _ = _timed(build_training_frames, build_store(settings), settings)
    try:
        proc, url = start_redis(settings.data_dir)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"bench_features: {exc}; Redis profile skipped.")
    else:
        try:
            rs = Settings(data_dir=settings.data_dir, feast_profile="redis", redis_url=url)
            (rs.feature_data_dir / "registry.db").unlink(missing_ok=True)
            r["profiles"]["Redis"] = profile_run(rs, rng, worker_ids)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            (settings.feature_data_dir / "registry.db").unlink(missing_ok=True)
    text = render(r)
    print(text)
    print(json.dumps(r, indent=1, default=str))
    if not args.no_doc:
        write_section(SECTION, text)
        print(f"wrote {SECTION!r} into {DOC}")


if __name__ == "__main__":
    main()
