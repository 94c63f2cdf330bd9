"""Serving benchmarks: /assign 1,000 tasks x 2,000 workers and /rank latency, on the real scoring path.

The boosters are real LightGBM models (300 trees x 63 leaves, the size the design budgets for) trained
on synthetic rows with the production feature names, wrapped in ``training.serving_form.ServingModel``
and served by ``serving.scoring.ChampionScorer`` from a profile snapshot of the production shape. What
is not measured here (no trained history in this run): /rank over HTTP against the naive path
(Feast ``get_online_features`` for every candidate + MLflow pyfunc per request).

Run: ``.venv/bin/python bench/bench_serving.py [--write-docs]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.profile_cache import PAIR_COLUMNS, WORKER_COLUMNS  # noqa: E402
from features.spec import CATEGORICAL_COLUMNS, feature_columns  # noqa: E402
from opsmatch.contract import TASK_TYPES  # noqa: E402
from serving.assignment import solve_assignment  # noqa: E402
from serving.config import Policy  # noqa: E402
from serving.protocols import TaskRecord, WorkerPool  # noqa: E402
from serving.ranking import assign_tasks, rank_task  # noqa: E402
from serving.scoring import MODELS, ChampionScorer  # noqa: E402
from training.calibration import Calibrator  # noqa: E402
from training.encoder import FeatureEncoder  # noqa: E402
from training.serving_form import ServingModel  # noqa: E402

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
PROVINCES = [f"P{i:02d}" for i in range(1, 37)]


def synthetic_model(name: str, rng: np.random.Generator, trees: int = 300, leaves: int = 63) -> ServingModel:
    features = feature_columns(name)
    n = 20_000
    frame = pd.DataFrame(
        {
            f: (rng.choice(["a", "b", "c", "d"], n) if f in CATEGORICAL_COLUMNS else rng.normal(size=n))
            for f in features
        }
    )
    enc = FeatureEncoder.fit(frame, features, [f for f in features if f in CATEGORICAL_COLUMNS])
    X = enc.transform(frame)
    y = X[:, : min(5, X.shape[1])].sum(axis=1) + rng.normal(size=n)
    binary = name != "handling_time"
    params = {
        "objective": "binary" if binary else "regression",
        "num_leaves": leaves,
        "verbose": -1,
        "min_data_in_leaf": 5,
        "num_threads": 2,
    }
    label = (y > 0).astype(int) if binary else np.exp(y / 4) * 20
    booster = lgb.train(params, lgb.Dataset(X, label, feature_name=enc.features), num_boost_round=trees)
    return ServingModel(booster, enc, Calibrator(), {"model": name, "version": "bench"})


def synthetic_pool(m: int, rng: np.random.Generator) -> WorkerPool:
    cols = WORKER_COLUMNS + PAIR_COLUMNS
    mats = {t: rng.random((m, len(cols))) for t in TASK_TYPES}
    live = np.column_stack([np.ones(m), rng.integers(0, 3, m).astype(float), rng.random(m)])
    return WorkerPool(
        worker_ids=np.array([f"W{i:05d}" for i in range(m)], dtype=object),
        province_ids=np.array([PROVINCES[i % len(PROVINCES)] for i in range(m)], dtype=object),
        task_types=TASK_TYPES,
        skills=rng.integers(2, 6, (m, len(TASK_TYPES))),
        capacity=np.full(m, 8),
        open_tasks=live[:, 1].astype(int),
        on_shift=np.ones(m, bool),
        active=np.ones(m, bool),
        type_median_minutes=dict.fromkeys(TASK_TYPES, 30.0),
        handle=SimpleNamespace(matrices=mats, live=live),
    )


def task(i: int, rng: np.random.Generator) -> TaskRecord:
    hours = float(rng.uniform(-2, 24))
    return TaskRecord(
        task_id=f"T{i}",
        task_type=TASK_TYPES[i % len(TASK_TYPES)],
        province_id=PROVINCES[i % len(PROVINCES)],
        created_at=NOW - timedelta(hours=3),
        sla_due_at=NOW + timedelta(hours=hours),
        complexity=3,
        features={"task_complexity": 3, "task_channel": "online", "task_log_amount": 7.0},
    )


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(0.99 * len(s)))] * 1000


def bench_rank(
    scorer: ChampionScorer,
    rng: np.random.Generator,
    sizes: tuple[int, ...] = (500, 2000, 5000),
    n: int = 200,
    prescreen: int = 0,
) -> list:
    rows = []
    policy = Policy()
    for m in sizes:
        pool = synthetic_pool(m, rng)
        t = task(3, rng)
        rank_task(t, pool, scorer, policy, NOW, 10, prescreen=prescreen)  # warm-up
        times = []
        for _ in range(n):
            start = time.perf_counter()
            res = rank_task(t, pool, scorer, policy, NOW, 10, prescreen=prescreen)
            times.append(time.perf_counter() - start)
        p50, p99 = percentiles(times)
        rows.append((m, int(res.eligibility.mask.sum()), p50, p99, 1000 / p50))
    return rows


def bench_assign(scorer: ChampionScorer, rng: np.random.Generator) -> dict:
    pool = synthetic_pool(2000, rng)
    tasks = [task(i, rng) for i in range(1000)]
    policy = Policy()
    start = time.perf_counter()
    plan = assign_tasks(tasks, pool, scorer, policy, NOW)
    seconds = time.perf_counter() - start
    res = plan.result
    return {
        "seconds": seconds,
        "assigned": res.n_assigned,
        "objective": res.objective,
        "iterations": res.iterations,
        "scored_pairs": plan.scored_pairs,
    }


def bench_solver_exact(rng: np.random.Generator, n: int = 1000, m: int = 2000) -> dict:
    """Solver alone on a dense 1,000 x 2,000 cost with capacities 1-4: slot doubling vs full expansion."""
    base = rng.gamma(2.0, 1.0, (n, m))
    eligible = rng.random((n, m)) < 0.5
    remaining = rng.integers(1, 5, m)
    slope = rng.random(m) * 0.3

    def cost(cols: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return base[:, cols] + (slope[cols] * slots)[None, :]

    priority = (rng.random(n) < 0.1).astype(int)
    t0 = time.perf_counter()
    grown = solve_assignment(cost, eligible, remaining, priority)
    t1 = time.perf_counter()
    full = solve_assignment(cost, eligible, remaining, priority, initial_slots=int(remaining.max()))
    t2 = time.perf_counter()
    assert abs(grown.objective - full.objective) < 1e-6 * max(1.0, abs(full.objective))
    return {
        "seconds": t1 - t0,
        "iterations": grown.iterations,
        "assigned": grown.n_assigned,
        "objective": grown.objective,
        "full_seconds": t2 - t1,
        "full_objective": full.objective,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    models = {name: synthetic_model(name, rng) for name in MODELS}
    print(f"trained 4 synthetic boosters in {time.perf_counter() - t0:.1f}s")
    scorer = ChampionScorer(models.__getitem__, lambda m: "bench", WORKER_COLUMNS + PAIR_COLUMNS)
    scorer.refresh()
    rank_rows = [("1", "all", *r) for r in bench_rank(scorer, rng)]
    rank_rows += [("1", "300", *r) for r in bench_rank(scorer, rng, prescreen=300)]
    scorer.num_threads = 2
    rank_rows += [("2", "all", *r) for r in bench_rank(scorer, rng)]
    scorer.num_threads = 1
    for threads, screened, m, eligible, p50, p99, rps in rank_rows:
        print(
            f"rank threads={threads} scored={screened}: {m} workers ({eligible} eligible): "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {rps:.0f}/s"
        )
    assign = bench_assign(scorer, rng)
    print(f"assign 1000 x 2000: {assign}")
    solver = bench_solver_exact(rng)
    print(f"solver only: {solver}")
    if args.write_docs:
        write_docs(rank_rows, assign, solver)


def write_docs(rank_rows: list, assign: dict, solver: dict) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = [
        "## Serving",
        "",
        "`bench/bench_serving.py` on this machine (2 cores), real LightGBM boosters of the budgeted size",
        "(300 trees x 63 leaves, synthetic training rows with the production feature names) served by",
        "`serving.scoring.ChampionScorer` from a profile snapshot of the production shape (LightGBM threads",
        "per prediction call as listed). In-process engine time (no HTTP):",
        "",
        "| /rank eligible workers | LightGBM threads | scored by the models | p50 ms | p99 ms | req/s |",
        "| --- | --- | --- | --- | --- | --- |",
        *[
            f"| {e} | {th} | {sc} | {p50:.1f} | {p99:.1f} | {rps:.0f} |"
            for th, sc, m, e, p50, p99, rps in rank_rows
        ],
        "",
        "`scored = 300`: `service.rank_prescreen: 300` keeps the 300 cheapest eligible workers by the",
        "profile prior (worker x type shrunk rates, no task features) and scores only those with the models.",
        "",
        f"/assign 1,000 tasks x 2,000 workers (36 provinces, capacity 8, 3 models scored on "
        f"{assign['scored_pairs']:,} candidate pairs, exact solver): **{assign['seconds']:.2f} s**, "
        f"{assign['assigned']} assigned, {assign['iterations']} solver iteration(s).",
        "",
        f"Solver alone, dense 1,000 x 2,000 (50 % eligible, capacities 1-4, 10 % overdue): "
        f"{solver['seconds']:.2f} s in {solver['iterations']} iteration(s) of slot doubling;",
        f"offering every slot up front gives the same objective ({solver['full_objective']:.4f})",
        f"in {solver['full_seconds']:.2f} s. Exactness is a test, not a benchmark:",
        "`tests/serving/test_serving_assignment.py` checks the objective against scipy's",
        "`linear_sum_assignment`, brute force, and the full slot expansion.",
        "",
        "Not measured in this run (no trained history was available): /rank over HTTP and the naive",
        "path (Feast `get_online_features` for every candidate + MLflow pyfunc per request).",
        "",
    ]
    start = text.find("## Serving")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + "\n".join(lines) + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
