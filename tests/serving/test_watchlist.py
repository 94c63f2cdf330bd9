"""The watchlist's pure parts: holdout draw, capacity, ranking per customer and the walk to capacity."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from serving.config import RiskTeam
from serving.risk.watchlist import daily_capacity, held_out, holdout_draw, rank_customers, walk, walk_drawn

DAY = date(2026, 3, 2)


def test_holdout_is_deterministic_per_customer_and_date_and_near_its_share() -> None:
    ids = [f"C{i}" for i in range(20_000)]
    a, b = held_out(ids, DAY, 0.10), held_out(ids, DAY, 0.10)
    assert (a == b).all()
    sd = np.sqrt(0.1 * 0.9 / len(ids))
    assert abs(a.mean() - 0.10) < 4 * sd
    other = held_out(ids, date(2026, 3, 3), 0.10)
    assert abs(other.mean() - 0.10) < 4 * sd
    # A fresh draw every day: the overlap of two days is that of independent draws (0.1 x 0.1).
    assert abs((a & other).mean() - 0.01) < 4 * np.sqrt(0.01 * 0.99 / len(ids))
    assert 0.0 <= holdout_draw("C1", DAY) < 1.0 and not held_out(ids[:50], DAY, 0.0).any()


def test_capacity_national_province_share_and_own_team() -> None:
    team = RiskTeam()
    assert daily_capacity(team, None, 4000.0, 4000.0) == 120  # 3 % of the expected arrivals
    assert daily_capacity(team, "P01", 4000.0, 400.0) == 12  # the province's share of the national team
    team = RiskTeam(calls_per_day=50, province_calls_per_day={"P02": 7})
    assert daily_capacity(team, None, 4000.0, 4000.0) == 50
    assert daily_capacity(team, "P01", 4000.0, 1000.0) == 12  # round(12.5): banker's rounding
    assert daily_capacity(team, "P02", 4000.0, 1.0) == 7
    assert daily_capacity(RiskTeam(), "P03", 0.0, 0.0) == 0


def test_rank_is_one_row_per_customer_by_complaints_prevented() -> None:
    scored = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "C", "C", "C"],
            "task_id": ["t1", "t2", "t3", "t4", "t5", "t6"],
            "p_complaint": [0.30, 0.10, 0.35, 0.05, 0.05, 0.05],
        }
    )
    r = rank_customers(scored, effect=0.5)
    assert r["customer_id"].tolist() == ["A", "B", "C"]
    assert r["prevented"].tolist() == pytest.approx([0.20, 0.175, 0.075])
    assert r["task_id"].tolist() == ["t1", "t3", "t4"]  # each customer's riskiest task
    assert r["n_tasks"].tolist() == [2, 1, 3]
    assert r.loc[0, "p_any"] == pytest.approx(1 - 0.7 * 0.9)
    assert rank_customers(scored.iloc[:0], 0.5).empty


def test_walk_lists_capacity_contacts_plus_the_held_out_rows_among_them() -> None:
    ranked = pd.DataFrame({"customer_id": list("abcdefgh"), "prevented": np.linspace(1, 0.1, 8)})
    hold = np.array([False, True, False, True, False, False, True, False])
    out = walk(ranked, 3, hold)
    assert out["customer_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert (~out["held_out"]).sum() == 3 and out["held_out"].sum() == 2
    assert out["rank"].tolist() == [1, 2, 3, 4, 5]
    assert len(walk(ranked, 0, hold)) == 0
    everyone = walk(ranked, 100, hold)
    assert len(everyone) == 8 and (~everyone["held_out"]).sum() == 5


def test_drawing_the_holdout_for_the_reachable_rows_only_lists_the_same() -> None:
    ranked = pd.DataFrame(
        {"customer_id": [f"C{i:04d}" for i in range(2000)], "prevented": np.linspace(1, 0, 2000)}
    )
    day, drawn = date(2026, 3, 2), []

    def draw(ids: list[str]) -> np.ndarray:
        drawn.append(len(ids))
        return held_out(ids, day, 0.3)

    for capacity in (0, 1, 40, 1500, 5000):
        full = walk(ranked, capacity, held_out(ranked["customer_id"].tolist(), day, 0.3))
        pd.testing.assert_frame_equal(walk_drawn(ranked, capacity, draw), full)
    assert drawn[2] == 80  # 40 contacts: the holdout of 80 rows drawn, not of 2,000


def test_the_listed_customers_history_is_read_by_index_as_the_whole_tables_say(tmp_path) -> None:
    from opsmatch import events
    from serving.risk import history

    where, t0 = tmp_path / "events", pd.Timestamp("2026-03-02 09:00", tz="UTC")
    rng = np.random.default_rng(3)
    n = 300

    def stamps() -> pd.Series:  # 5 days ahead to 60 days back, in whole seconds (the store keeps µs)
        return (t0 - pd.to_timedelta(rng.uniform(-5, 60, n), unit="D")).floor("s")

    filed = pd.DataFrame({"complaint_id": [f"K{i}" for i in range(n)], "task_id": [f"T{i}" for i in range(n)],
                          "customer_id": [f"C{i}" for i in rng.integers(0, 40, n)],
                          "filed_at": stamps(),
                          "severity": "low", "reason": "timeliness"})  # fmt: skip
    met = pd.DataFrame({"intervention_id": [f"I{i}" for i in range(n)], "task_id": None,
                        "customer_id": [f"C{i}" for i in rng.integers(0, 40, n)],
                        "at": stamps(), "kind": "proactive",
                        "outcome": "resolved", "note": None, "actor": "risk-1"})  # fmt: skip
    events.append(where, "complaints", filed)
    events.append(where, "interventions", met)
    listed = ["C1", "C7", "C39", "C-none"]
    past = filed[(filed["filed_at"] <= t0) & filed["customer_id"].isin(listed)]
    assert history.complaints_filed(where, listed, t0) == past.groupby("customer_id").size().to_dict()
    seen = met[(met["at"] <= t0) & met["customer_id"].isin(listed)]
    assert history.last_contacts(where, listed, t0) == seen.groupby("customer_id")["at"].max().to_dict()
    window = history.contacts_between(where, t0 - pd.Timedelta(days=30), t0)
    inside = met[(met["at"] > t0 - pd.Timedelta(days=30)) & (met["at"] <= t0)]
    assert sorted(zip(window["customer_id"], window["at"], strict=True)) == sorted(
        zip(inside["customer_id"], inside["at"], strict=True)
    )
    assert (
        history.complaints_filed(where, [], t0) == {} and history.last_contacts(where, ["C-none"], t0) == {}
    )
