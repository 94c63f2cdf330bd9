"""The twin A/B on chosen policies of a bootstrapped world (``opsmatch evaluate`` replays all seven).

    python scripts/ab_policies.py <world root> --days 7 --seeds 1 2 3 --out /tmp/ab \\
        --policies legacy_fifo watchlist_random ml_watchlist_text

``<world root>`` holds ``data/`` and ``mlflow.db`` (the layout of ``tests.factories.serving_world``);
``ml_watchlist_text`` needs the text champions of ``opsmatch text train`` in that MLflow store. Writes the
report (Markdown, charts, ``summary.json``) and prints the targets.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from evaluation.ab import evaluate_policies
from evaluation.report import write_report
from opsmatch.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scenario", default="default")
    parser.add_argument(
        "--policies", nargs="+", default=["legacy_fifo", "watchlist_random", "ml_watchlist_text"]
    )
    args = parser.parse_args()
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
    path = write_report(report, args.out, html=False)
    for t in report.targets:
        print(f"{t.policy} | {t.name} | met {t.met} | robust {t.robust} | {t.measured}")
    print(f"report: {path}")


if __name__ == "__main__":
    main()
