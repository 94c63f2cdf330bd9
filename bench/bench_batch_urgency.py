"""ML batch dispatch (``/assign`` through ``MLBatchPolicy``) against the oracle, by dispatch variant.

Usage: ``.venv/bin/python bench/bench_batch_urgency.py [--days 7] [--seeds 1,2] [--variants near0,near2]``
on the embedded default (champions and profiles of ``Settings()``). Every variant replays the same
arrivals per seed as the oracle (``evaluation.replay``); printed per (seed, variant): true cost / oracle's,
SLA attainment, and the gap of each true-cost part (per started task) to the oracle. A variant is ``+``-
joined parts: ``nearH`` (``dispatch.sla_near_hours = H``; 0 = no near-SLA level), ``adv`` / ``cost``
(``dispatch.task_choice``), ``wX`` (complaint weight X), ``tickM`` (``/assign`` every M minutes instead
of 5), ``shiftX`` (``dispatch.shift_end = X``: exclude, penalise or off), ``tpwN`` (at most N of the
oldest waiting tasks per free worker enter a solve; default: all, up to 400 per type), ``events`` (also
``/assign`` as soon as a task arrives with a free worker for it or a worker frees up with work waiting).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.kpis import COST_PARTS, compute_kpis  # noqa: E402
from evaluation.ml_policies import MLBatchPolicy  # noqa: E402
from evaluation.replay import evaluation_period, run_policy  # noqa: E402
from evaluation.twin_service import ServingModels  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from serving.config import default_policy, merge_policy  # noqa: E402
from simulator.oracle import OraclePolicy  # noqa: E402


def variant(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(policy patch, MLBatchPolicy keyword arguments) of a variant name."""
    patch: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    for part in name.split("+"):
        if part.startswith("near"):
            patch.setdefault("dispatch", {})["sla_near_hours"] = float(part[4:])
        elif part in ("adv", "cost"):
            patch.setdefault("dispatch", {})["task_choice"] = "advantage" if part == "adv" else "cost"
        elif part.startswith("shift"):
            patch.setdefault("dispatch", {})["shift_end"] = part[5:]
        elif part == "events":
            kwargs["on_events"] = True
        elif part.startswith("tpw"):
            kwargs["tasks_per_worker"] = int(part[3:])
        elif part.startswith("tick"):
            kwargs["every_minutes"] = float(part[4:])
        elif part.startswith("w"):
            patch["weights"] = {"complaint": float(part[1:])}
        else:
            raise SystemExit(f"unknown variant part {part!r}")
    return patch, kwargs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--variants", default="near0,near2")
    args = ap.parse_args()
    settings = Settings()
    models = ServingModels.from_settings(settings)
    for seed in (int(s) for s in args.seeds.split(",")):
        period = evaluation_period(settings, args.days, seed)
        oracle = compute_kpis(run_policy(period, OraclePolicy(period.workforce.truth))).values
        for name in args.variants.split(","):
            patch, kwargs = variant(name)
            started = time.perf_counter()
            policy = MLBatchPolicy(models, merge_policy(default_policy(), patch), **kwargs)
            k = compute_kpis(run_policy(period, policy)).values
            gaps = ", ".join(f"{p} {k[p] - oracle[p]:+.1f}" for p in COST_PARTS)
            print(
                f"seed {seed} {name}: cost {k['true_cost_total'] / oracle['true_cost_total']:.4f}x oracle, "
                f"SLA {k['sla_attainment']:.4f} (oracle {oracle['sla_attainment']:.4f}); per task {gaps} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
