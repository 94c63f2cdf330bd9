"""Validate the field estimator on the twin: alternating log estimate vs the full A/B difference.

Both sides use the estimator's own per-task KPI definitions (``field.task_table`` on the contract tables
read ``read_after_days`` after the end), so the only difference is the design: two full replays of the
same arrivals (the A/B truth) against one replay switching between the policies by slice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pandas as pd

from evaluation.alternating import alternating_log
from evaluation.field import KPIS, estimate_uplift, task_table
from evaluation.replay import EvalPeriod, run_policy
from simulator.clock import MINUTES_PER_DAY
from simulator.outcomes import task_outcomes
from simulator.policies import Policy
from simulator.tables import event_tables

PolicyFactory = Callable[[], Policy]


def ab_means(
    period: EvalPeriod, factory: PolicyFactory, kpis: Sequence[str] = KPIS, read_after_days: float = 30.0
) -> dict[str, float]:
    """Per-task KPI means of a full replay under one policy (the estimator's definitions)."""
    result = run_policy(period, factory())
    tables = event_tables(
        replace(result, end=result.end + read_after_days * MINUTES_PER_DAY), task_outcomes(result)
    )
    t = task_table(tables)
    return {k: float(t[k].mean()) for k in kpis}


def validate_uplift(
    period: EvalPeriod,
    on: PolicyFactory,
    off: PolicyFactory,
    *,
    slice_minutes: float = 60,
    settle_minutes: float = 15,
    attributions: Sequence[str] = ("created", "assigned"),
    kpis: Sequence[str] = KPIS,
    schedule: str = "alternate",
) -> pd.DataFrame:
    """Per KPI and attribution: the A/B difference (on - off), the alternating estimate with its
    interval, and whether the interval brackets the A/B difference."""
    a, b = ab_means(period, on, kpis), ab_means(period, off, kpis)
    p_on, p_off = on(), off()
    tables, _ = alternating_log(period, p_on, p_off, slice_minutes=slice_minutes, schedule=schedule)
    rows = []
    for attribution in attributions:
        est = estimate_uplift(
            tables,
            policy_on=p_on.name,
            policy_off=p_off.name,
            slice_minutes=slice_minutes,
            settle_minutes=settle_minutes,
            kpis=kpis,
            attribution=attribution,
        ).frame()
        est = est.set_index("kpi")
        for k in kpis:
            diff = a[k] - b[k]
            low, high = float(est.loc[k, "low"]), float(est.loc[k, "high"])
            rows.append(
                {
                    "kpi": k,
                    "attribution": attribution,
                    "ab_on": a[k],
                    "ab_off": b[k],
                    "ab_difference": diff,
                    "estimate": float(est.loc[k, "lift"]),
                    "low": low,
                    "high": high,
                    "bracketed": bool(low <= diff <= high),
                    "method": est.loc[k, "method"],
                    "slice_minutes": slice_minutes,
                }
            )
    return pd.DataFrame(rows)
