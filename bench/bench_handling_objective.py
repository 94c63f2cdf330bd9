"""Why handling_time uses the gamma objective: gamma vs L2 on log minutes (with and without Duan's
smearing) on the same Feast training frame of the data dir's twin history, scored against the truth.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_handling_objective.py [--write-docs]

Needs a history with features applied (`make run` or `opsmatch bootstrap`) and the twin's truth.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _docs import write_section  # noqa: E402

from evaluation.oracle_truth import truth_for_frame  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from training.frames import training_frames  # noqa: E402
from training.params import load_params  # noqa: E402
from training.pipeline import fit_model  # noqa: E402
from training.specs import get_spec  # noqa: E402

SECTION = "## Handling-time objective"
CMD = "OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_handling_objective.py --write-docs"
VARIANTS = {
    "gamma (shipped)": {},
    "L2 on log minutes": {"objective": "regression", "target_transform": "log", "calibration": "none"},
    "L2 on log minutes + smearing": {
        "objective": "regression",
        "target_transform": "log",
        "calibration": "scale",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write-docs", action="store_true", help="Write the section into docs/benchmarks.md."
    )
    args = parser.parse_args()
    settings = Settings()
    frame, cols = training_frames(settings, ["handling_time"])["handling_time"]
    truth = truth_for_frame(settings, "handling_time", frame)
    spec = get_spec("handling_time")
    rows = []
    for name, overrides in VARIANTS.items():
        started = time.perf_counter()
        fitted = fit_model(frame, cols, spec, load_params("handling_time", overrides), truth)
        m = fitted.metrics
        rows.append(
            (
                name,
                m["mean_pred"],
                m["mean_label"],
                m["mae"],
                m["mae_vs_truth"],
                time.perf_counter() - started,
            )
        )
    lines = [
        SECTION,
        "",
        f"`{CMD}` on the data dir's history ({len(frame):,} rows; test = the latest 15 %).",
        "",
        "| objective | mean prediction min | mean label min | MAE | MAE vs true expectation | fit s |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {n} | {p:.1f} | {y:.1f} | {mae:.2f} | {mt:.2f} | {s:.0f} |" for n, p, y, mae, mt, s in rows],
        "",
        "Downstream sums expected minutes, so the estimand is the mean; log-L2 predicts the median.",
    ]
    print("\n".join(lines))
    if args.write_docs:
        write_section(SECTION, "\n".join(lines))


if __name__ == "__main__":
    main()
