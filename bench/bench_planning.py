"""Planning on the twin: a week replayed with the base roster, with the recommended sharing, and with as
much sharing at random (the control).

On a twin history in ``OPSMATCH_DATA_DIR`` (``opsmatch simulate``): the 7-day forecast, the staffing gaps
against the roster and the sharing recommendations (the service's planning code), then the next week
replayed under province-local FIFO without and with the recommended sharing windows, and with the same
windows' lengths at random hours and provinces, at equal staff hours (one roster), each run drained.
Prints SLA attainment, mean and p90 turnaround and overtime of each (``evaluation.planning_replay``).

Run (~2 min a seed on 2 cores after the history)::

    OPSMATCH_DATA_DIR=/tmp/plan/data .venv/bin/opsmatch simulate --scenario default --days 90
    OPSMATCH_DATA_DIR=/tmp/plan/data OPSMATCH_MLFLOW_TRACKING_URI=sqlite:////tmp/plan/mlflow.db \\
      .venv/bin/python bench/bench_planning.py --seeds 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

from evaluation.planning_replay import replay
from opsmatch.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seeds", type=int, default=1, help="Draws of the replayed week (arrivals, noise).")
    args = ap.parse_args()
    started, cpu = time.perf_counter(), time.process_time()
    out = replay(Settings(), days=args.days, seeds=args.seeds)
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["cpu_seconds"] = round(time.process_time() - cpu, 1)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
