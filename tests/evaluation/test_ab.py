"""Twin A/B on the small scenario with the baselines and the oracle (no models needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evaluation.ab as ab
from evaluation.ab import evaluate_policies
from evaluation.replay import evaluation_period, history_info
from evaluation.report import render_markdown, write_report
from simulator.truth import TASK_TRUTH_FILE

POLICIES = ["legacy_fifo", "national_least_busy", "oracle"]


@pytest.fixture(scope="module")
def recorded(small_history):
    """An A/B of three policies over two seeds, recording what each replay was given."""
    seen: list[tuple[str, int, object]] = []
    original = ab.run_policy

    def spy(period, policy, **kwargs):
        seen.append((policy.name, period.seed, period.arrivals))
        return original(period, policy, **kwargs)

    ab.run_policy = spy
    try:
        report = evaluate_policies(small_history, "small", days=2, seeds=(1, 2), policies=POLICIES)
    finally:
        ab.run_policy = original
    return report, seen


def test_every_policy_replays_the_same_arrivals(recorded, small_history) -> None:
    report, seen = recorded
    assert [(p, s) for p, s, _ in seen] == [(p, s) for s in (1, 2) for p in POLICIES]
    for seed in (1, 2):
        arrivals = [a for _, s, a in seen if s == seed]
        assert all(a is arrivals[0] for a in arrivals)
        assert arrivals[0].start_day == history_info(small_history).days  # right after the history
    first = next(a for _, s, a in seen if s == 1).tasks
    second = next(a for _, s, a in seen if s == 2).tasks
    assert not first["t"].equals(second["t"])  # fresh arrivals per seed
    counts = report.runs.groupby("seed")["tasks"].nunique()
    assert (counts == 1).all()


def test_oracle_beats_legacy_on_true_cost(recorded) -> None:
    report, _ = recorded
    cost = report.runs.pivot(index="seed", columns="policy", values="true_cost_total")
    assert (cost["oracle"] < cost["legacy_fifo"]).all()
    handling = report.runs.pivot(index="seed", columns="policy", values="mean_handling_min")
    assert (handling["oracle"] < handling["legacy_fifo"]).all()
    assert report.comparisons == [] and report.targets == []  # no ML policy replayed


def test_report_is_written(recorded, tmp_path) -> None:
    report, _ = recorded
    path = write_report(report, tmp_path / "report")
    files = {p.name for p in path.parent.iterdir()}
    assert {
        "report.md",
        "report.html",
        "runs.csv",
        "turnaround.png",
        "sla_qa_complaints.png",
        "utilisation_by_province.png",
        "true_cost.png",
    } <= files
    text = path.read_text()
    assert "## KPIs per policy" in text and "oracle" in text
    assert pd.read_csv(path.parent / "runs.csv").shape[0] == len(POLICIES) * 2
    charts = {"turnaround": path.parent / "turnaround.png"}
    assert "![turnaround](turnaround.png)" in render_markdown(report, charts)


def test_evaluation_period_carries_the_history_experience(small_history) -> None:
    period = evaluation_period(small_history, days=1, seed=4)
    fresh = evaluation_period(small_history, days=1, seed=4, carry_experience=False)
    gained = period.workforce.truth.experience0 - fresh.workforce.truth.experience0
    assert (gained >= 0).all()
    truth = pd.read_parquet(small_history.truth_dir / TASK_TRUTH_FILE)
    end = pd.Timestamp(period.config.start_utc) + pd.Timedelta(days=14)
    finished = (pd.to_datetime(truth["finish_at"], utc=True) <= end).sum()
    assert gained.sum() == finished
    np.testing.assert_array_equal(period.workforce.truth.speed, fresh.workforce.truth.speed)


def test_unknown_policy_is_refused(small_history) -> None:
    with pytest.raises(ValueError, match="unknown policies"):
        evaluate_policies(small_history, "small", days=1, seeds=(1,), policies=["legacy_fifo", "psychic"])
