"""The serving cost's defaults in minute-equivalents (issue 15) against the previous unit-free weights.

Usage: ``.venv/bin/python bench/bench_cost_weights.py [--days 7] [--seeds 3]`` on the embedded default
(champions and profiles of ``Settings()``, i.e. after ``opsmatch bootstrap``). Replays the same arrivals
per seed under ``legacy_fifo``, ``ml_ranking_prev`` / ``ml_ranking`` (the previous weights /
the defaults of ``serving/defaults.yaml``), ``ml_watchlist_prev`` / ``ml_watchlist`` and the oracle
(``evaluation.ab.evaluate_policies``); prints the paired ratios (95 % t CI over the seeds) of each to FIFO
and the true cost to the oracle's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.ab import evaluate_policies  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402

POLICIES = ("legacy_fifo", "ml_ranking_prev", "ml_ranking", "ml_watchlist_prev", "ml_watchlist", "oracle")
KPIS = ("complaint_rate", "escalated_rate", "mean_turnaround_h", "qa_pass_rate", "sla_attainment")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    started = time.perf_counter()
    report = evaluate_policies(
        Settings(), days=args.days, seeds=tuple(range(1, args.seeds + 1)), policies=POLICIES
    )
    print(f"| policy | {' | '.join(KPIS)} | true cost / oracle |")
    print("| --- |" + " --- |" * (len(KPIS) + 1))
    for policy in POLICIES[1:-1]:
        cells = [report.ratio(policy, "legacy_fifo", k).fmt() for k in KPIS]
        cells.append(report.ratio(policy, "oracle", "true_cost_total").fmt())
        print(f"| {policy} | {' | '.join(cells)} |")
    print(report.summary()[[*KPIS, "true_cost_per_task"]].round(4).to_string())
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
