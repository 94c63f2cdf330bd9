"""Seeded and deterministic: the same seed gives the same event log, another seed another one."""

from __future__ import annotations

import pandas as pd

from simulator.arrivals import generate_arrivals
from simulator.engine import simulate
from simulator.outcomes import task_outcomes
from simulator.policies import LegacyPolicy
from simulator.tables import event_tables


def _log(config, seed: int, days: int = 5) -> dict[str, pd.DataFrame]:
    arrivals = generate_arrivals(config, days, seed)
    result = simulate(config, arrivals, LegacyPolicy(explore=True), seed)
    return event_tables(result, task_outcomes(result))


def test_same_seed_same_event_log(small) -> None:
    a, b = _log(small, 21), _log(small, 21)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_different_seed_different_event_log(small) -> None:
    a, b = _log(small, 21), _log(small, 22)
    assert len(a["tasks"]) != len(b["tasks"]) or not a["tasks"]["created_at"].equals(b["tasks"]["created_at"])
    assert not a["workers"]["skills"].equals(b["workers"]["skills"])
    n = min(len(a["completions"]), len(b["completions"]))
    assert not a["completions"]["handling_minutes"][:n].equals(b["completions"]["handling_minutes"][:n])
