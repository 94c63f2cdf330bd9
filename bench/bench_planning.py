"""Planning on the twin: a week replayed with the base roster and with the recommended sharing.

On a twin history in ``OPSMATCH_DATA_DIR`` (``opsmatch simulate``): the 7-day forecast, the staffing gaps
against the roster and the sharing recommendations (the service's planning code), then the next week
replayed under province-local FIFO without and with the recommended sharing windows, at equal staff
hours. Prints SLA attainment, mean and p90 turnaround and overtime of both (``evaluation.planning_replay``).

Run (~1 min on 2 cores after the history)::

    OPSMATCH_DATA_DIR=/tmp/plan/data .venv/bin/opsmatch simulate --scenario default --days 90
    OPSMATCH_DATA_DIR=/tmp/plan/data OPSMATCH_MLFLOW_TRACKING_URI=sqlite:////tmp/plan/mlflow.db \\
      .venv/bin/python bench/bench_planning.py
"""

from __future__ import annotations

import json
import time

from evaluation.planning_replay import replay
from opsmatch.settings import Settings


def main() -> None:
    started = time.perf_counter()
    out = replay(Settings(), days=7)
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
