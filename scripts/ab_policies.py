"""The twin A/B on chosen policies of a bootstrapped world (``opsmatch evaluate`` replays all seven).

    python scripts/ab_policies.py <world root> --days 7 --seeds 1 2 3 --out /tmp/ab \\
        --policies legacy_fifo watchlist_random ml_watchlist_text

``<world root>`` holds ``data/`` and ``mlflow.db`` (the layout of ``tests.factories.serving_world``);
``ml_watchlist_text`` needs the text champions of ``opsmatch text train`` in that MLflow store. Writes the
report (Markdown, charts, ``summary.json``) and prints the targets.

One process per seed (two cores run two seeds at once), then one report over them:

    python scripts/ab_policies.py <world root> --seeds 1 --out /tmp/ab/s1 --save /tmp/ab/s1.pkl  # x 3
    python scripts/ab_policies.py --combine /tmp/ab/s1.pkl /tmp/ab/s2.pkl /tmp/ab/s3.pkl --out /tmp/ab
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import pandas as pd

from evaluation.ab import ABReport, compare, evaluate_policies
from evaluation.report import write_report
from evaluation.targets import check_targets
from opsmatch.settings import Settings


def combine(parts: list[ABReport]) -> ABReport:
    """One report over per-seed reports of the same world, days and policies (paired by seed)."""
    report = parts[0]
    report.seeds = tuple(s for p in parts for s in p.seeds)
    for name in ("runs", "province_util", "frontier"):
        setattr(report, name, pd.concat([getattr(p, name) for p in parts], ignore_index=True))
    report.comparisons = compare(report.runs, report.policies)
    report.targets = check_targets(report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scenario", default="default")
    parser.add_argument(
        "--policies", nargs="+", default=["legacy_fifo", "watchlist_random", "ml_watchlist_text"]
    )
    parser.add_argument("--save", type=Path, help="also pickle the report here (for --combine)")
    parser.add_argument("--combine", type=Path, nargs="+", help="per-seed pickles: report over them")
    args = parser.parse_args()
    if args.combine:
        report = combine([pickle.loads(p.read_bytes()) for p in args.combine])
        _write(report, args.out)
        return
    settings = Settings(
        data_dir=args.root / "data",
        mlflow_tracking_uri=f"sqlite:///{args.root / 'mlflow.db'}",
        mlflow_artifact_root=args.root / "artifacts",
    )
    started = time.perf_counter()
    report = evaluate_policies(
        settings,
        args.scenario,
        days=args.days,
        seeds=tuple(args.seeds),
        policies=args.policies,
        progress=lambda d, n: print(
            f"{d:.0f}/{n:.0f} replays, {time.perf_counter() - started:.0f} s", flush=True
        ),
    )
    if args.save:
        args.save.write_bytes(pickle.dumps(report))
    _write(report, args.out)


def _write(report: ABReport, out: Path) -> None:
    path = write_report(report, out, html=False)
    for t in report.targets:
        print(f"{t.policy} | {t.name} | met {t.met} | robust {t.robust} | {t.measured}")
    print(f"report: {path}")


if __name__ == "__main__":
    main()
