"""Benchmark: training time of the models on a default-scenario-sized frame, and predict latency of the
native serving form vs the MLflow pyfunc wrapper, measured in the same run.

Uses the real Feast training frame (default scenario, 90 days) when ``features/`` and its data exist;
otherwise a synthetic frame of ~350k rows with a comparable number of features, and says which.
Writes the "## Training" section of ``docs/benchmarks.md`` (other sections are left alone).

OpenMP threads spin at barriers by default; on a small shared machine another busy process then slows a
2-thread LightGBM fit up to ~10×. This script therefore defaults ``OMP_WAIT_POLICY=PASSIVE`` (set before
LightGBM loads) and reports the load average around the run.

    .venv/bin/python bench/bench_training.py [--rows 350000] [--features 40] [--threads 0]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before numpy/LightGBM load libgomp

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _docs import DOC, write_section  # noqa: E402

MODELS = ("handling_time", "qa_pass", "complaint", "complaint_pre")


def real_frames(settings) -> tuple[dict, dict, str] | None:  # noqa: ANN001
    """``model -> (frame, features)`` and oracle truths from Feast, or None without an event log."""
    from opsmatch.events import has_rows

    if not has_rows(settings, "tasks"):
        return None
    try:
        from evaluation.oracle_truth import truth_for_frame
        from features.pipeline import build_features
        from features.store import apply_repo
        from training.frames import training_frames

        build_features(settings)
        apply_repo(settings)
        frames = training_frames(settings, MODELS)
        truths = {m: truth_for_frame(settings, m, frame) for m, (frame, _) in frames.items()}
    except Exception as exc:  # noqa: BLE001 - report and fall back to the synthetic frame
        print(f"real training frame unavailable ({type(exc).__name__}: {exc}); using synthetic")
        return None
    n = len(frames["handling_time"][0])
    meta_path = settings.truth_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    history = ", ".join(f"{k} {meta[k]}" for k in ("scenario", "days", "seed") if k in meta) or "unknown"
    return (
        frames,
        truths,
        (
            f"real Feast training frame of the twin's history ({history}; "
            f"{n:,} assignment rows; oracle = the twin's hidden truth)"
        ),
    )


def synthetic_frames(rows: int, n_features: int) -> tuple[dict, dict, str]:
    from tests.factories.frames import PRE_FEATURES, WORKER_FEATURES, make_frame

    n_noise = max(0, n_features - len(PRE_FEATURES) - len(WORKER_FEATURES))
    synth = make_frame(n_rows=rows, days=90, seed=0, n_noise=n_noise)
    frames = {m: (synth.frame, synth.features(m)) for m in MODELS}
    truths = {m: synth.truth(m) for m in MODELS}
    note = (
        f"synthetic frame (tests/factories/frames.py): {rows:,} rows over 90 days, "
        f"{len(synth.features('qa_pass'))} features ({n_noise} of them noise)"
    )
    return frames, truths, note


def per_call_us(fn, repeat: int) -> float:  # noqa: ANN001
    fn()
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1e6


def bench_predict(settings, result) -> dict[str, float]:  # noqa: ANN001
    import mlflow

    sm = result.serving
    X = sm.encode(result.holdout)
    one = X[:1]
    batch = X[:2000]
    pyfunc = mlflow.pyfunc.load_model(f"models:/opsmatch-{result.model}/{result.version}")
    df_one = sm.encoder.frame(result.holdout.head(1))
    df_batch = sm.encoder.frame(result.holdout.head(2000))
    record = result.holdout.head(1).to_dict("records")
    return {
        "rows": len(batch),
        "native_one": per_call_us(lambda: sm.predict(one), 3000),
        "native_batch_row": per_call_us(lambda: sm.predict(batch), 20) / len(batch),
        "pyfunc_one": per_call_us(lambda: pyfunc.predict(df_one), 200),
        "pyfunc_batch_row": per_call_us(lambda: pyfunc.predict(df_batch), 10) / len(batch),
        "encode_one": per_call_us(lambda: sm.encode(result.holdout.head(1)), 300),
        "encode_record": per_call_us(lambda: sm.encode_records(record), 3000),
        "trees": sm.booster.num_trees(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data dir holding the twin's history (default: settings.data_dir)",
    )
    parser.add_argument("--rows", type=int, default=350_000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--threads", type=int, default=0, help="training threads (0 = all cores)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()

    from opsmatch.settings import Settings
    from training.gate import promote
    from training.train import train_model

    load_before = os.getloadavg()[0]
    data = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
    started = time.perf_counter()
    frames, truths, note = real_frames(data) or synthetic_frames(args.rows, args.features)
    note += f"; building the frames took {time.perf_counter() - started:.0f} s (not counted below)"
    print(note)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            mlflow_tracking_uri=f"sqlite:///{tmp}/mlflow.db",
            mlflow_artifact_root=Path(tmp) / "artifacts",
        )
        from training.registry import client_for

        client_for(settings).search_experiments()  # create the store outside the timings
        results = {}
        for model in MODELS:
            frame, cols = frames[model]
            results[model] = train_model(
                settings, model, frame, cols, truths[model], num_threads=args.threads
            )
            r = results[model]
            print(
                f"{model:14s} rows {r.counts} fit {r.seconds['fit']:.1f}s total {r.seconds['total']:.1f}s "
                f"trees {r.serving.booster.num_trees()} metrics "
                + ", ".join(
                    f"{k}={v:.4g}"
                    for k, v in r.metrics.items()
                    if k
                    in (
                        "mae",
                        "mape",
                        "r2",
                        "auc",
                        "brier",
                        "ece",
                        "precision_at_capacity",
                        "oracle_mae",
                        "oracle_auc",
                    )
                )
            )
        promote(settings, "qa_pass")
        latency = {m: bench_predict(settings, results[m]) for m in ("qa_pass", "handling_time")}
    load_after = os.getloadavg()[0]
    three = sum(results[m].seconds["total"] for m in MODELS[:3])
    four = sum(r.seconds["total"] for r in results.values())
    for m, lat in latency.items():
        print(m, {k: round(v, 2) for k, v in lat.items()})

    cpu = (
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average {load_before:.1f} before / "
        f"{load_after:.1f} after"
    )
    rows = [
        "| model | train / valid / test rows | trees | fit s | fit + MLflow s | test figures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m, r in results.items():
        keys = (
            "mae",
            "mape",
            "r2",
            "auc",
            "brier",
            "ece",
            "precision_at_capacity",
            "base_rate",
            "oracle_mae",
            "oracle_auc",
            "mae_vs_truth",
        )
        figures = ", ".join(f"{k} {r.metrics[k]:.3f}" for k in keys if k in r.metrics)
        c = r.counts
        rows.append(
            f"| {m} | {c['train']:,} / {c['valid']:,} / {c['test']:,} "
            f"| {r.serving.booster.num_trees()} | {r.seconds['fit']:.1f} | {r.seconds['total']:.1f} "
            f"| {figures} |"
        )
    lat_rows = [
        "| model (trees) | native 1 row µs | native batched µs/row | pyfunc 1 row µs | "
        "pyfunc batched µs/row | pyfunc / native (1 row) | encode 1 row: frame / record µs |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m, lat in latency.items():
        lat_rows.append(
            f"| {m} ({lat['trees']:.0f}) | {lat['native_one']:.1f} "
            f"| {lat['native_batch_row']:.2f} "
            f"| {lat['pyfunc_one']:.0f} | {lat['pyfunc_batch_row']:.2f} "
            f"| {lat['pyfunc_one'] / lat['native_one']:.0f}× "
            f"| {lat['encode_one']:.0f} / {lat['encode_record']:.0f} |"
        )
    section = "\n".join(
        [
            "## Training",
            "",
            f"`bench/bench_training.py` on {cpu}; data: {note}.",
            f"Training threads: {args.threads or 'all cores'}; early stopping on the validation slice; "
            "MLflow sqlite store in a temp dir (run, lineage, plots, model, serving form, registration).",
            "",
            f"**All three models (handling_time, qa_pass, complaint): {three:.1f} s** (target ≤ 180 s); "
            f"with complaint_pre: {four:.1f} s.",
            "",
            *rows,
            "",
            "Predict latency, serving form (`ServingModel.predict`: native booster on numpy, 1 thread, "
            "calibrated) vs the MLflow pyfunc wrapper of the same booster (pandas in, raw output), same "
            "process, batch of "
            f"{latency['qa_pass']['rows']:.0f} rows:",
            "",
            *lat_rows,
            "",
            "Native is pinned to 1 thread (what a request gets); pyfunc runs LightGBM with its default "
            "threads (all cores), which is why its batched figure can be lower. Single rows: serving should "
            "build rows with `ServingModel.encode_records` (plain dict lookups), not a one-row DataFrame.",
            "",
        ]
    )
    print(section)
    if not args.no_write:
        write_section("## Training", section)
        print(f"wrote the Training section of {DOC}")


if __name__ == "__main__":
    main()
