"""Operating indicators per province (pure): values from the windows' counts, thresholds, hysteresis."""

from __future__ import annotations

import pytest

from serving.alerts.indicator_feed import Readings
from serving.alerts.indicators import evaluate, values
from serving.config import Indicators, Threshold


def readings(**kw: dict) -> Readings:  # type: ignore[type-arg]
    return Readings(**kw)


def test_values_are_ratios_of_the_window_counts() -> None:
    r = readings(
        arrivals={"P1": 30}, expected={"P1": 10.0, "P2": 0.0}, arrivals_day={"P1": 100},
        surrenders={"P1": 25},
        renewals={"P1": 4}, completed={"P1": 50}, within_sla={"P1": 40}, qa_checked={"P1": 20},
        qa_passed={"P1": 15}, complaints={"P1": 3}, completed_long={"P1": 60},
    )  # fmt: skip
    got = values(r)
    assert got["arrivals"] == {"P1": (3.0, 30)}  # no expected level in P2: not judged
    assert got["sla_attainment"]["P1"] == (0.8, 50) and got["qa_pass_rate"]["P1"] == (0.75, 20)
    assert got["complaint_rate"]["P1"] == (0.05, 60) and got["surrender_share"]["P1"] == (0.25, 100)
    assert got["renewal_share"]["P1"] == (0.04, 100)


def test_an_indicator_raises_past_its_threshold_and_clears_only_past_the_band() -> None:
    rules = Indicators(qa_pass_rate=Threshold(direction="below", raise_at=0.8, clear_at=0.9, min_count=10))

    def qa(passed: int, active: set[tuple[str, str]] | None = None) -> list[str]:
        r = readings(qa_checked={"P1": 100, "P2": 5}, qa_passed={"P1": passed, "P2": 0})
        return [a.message for a in evaluate(r, rules, active or set()) if a.kind == "qa_pass_rate"]

    (msg,) = qa(70)  # 70 % < 80 %: raised (P2: 5 checks, too few to judge)
    assert msg.startswith("P1: QA pass rate 70% below 80%") and "clears at 90%" in msg
    assert qa(85) == []  # between the levels, not open: nothing new
    assert len(qa(85, {("qa_pass_rate", "P1")})) == 1  # between the levels, open: stays open
    assert qa(91, {("qa_pass_rate", "P1")}) == []  # back past the clear level: resolved


def test_the_band_must_lie_on_the_normal_side() -> None:
    with pytest.raises(ValueError, match="hysteresis"):
        Threshold(direction="above", raise_at=0.1, clear_at=0.2)
    rule = Threshold(direction="above", raise_at=2.0, clear_at=1.5)
    got = evaluate(readings(arrivals={"P1": 90}, expected={"P1": 20.0}), Indicators(arrivals=rule), set())
    assert [(a.kind, a.severity, a.details["expected"]) for a in got] == [("arrivals", "critical", 20.0)]


def test_with_a_forecast_arrivals_inside_its_interval_raise_nothing() -> None:
    rules = Indicators(arrivals=Threshold(direction="above", raise_at=1.5, clear_at=1.2))
    inside = readings(arrivals={"P1": 40}, expected={"P1": 20.0}, expected_band={"P1": (10.0, 45.0)})
    assert evaluate(inside, rules, set()) == []  # twice the expected level, but inside the interval
    outside = readings(arrivals={"P1": 50}, expected={"P1": 20.0}, expected_band={"P1": (10.0, 45.0)})
    (one,) = [a for a in evaluate(outside, rules, set()) if a.kind == "arrivals"]
    assert "interval 10-45" in one.message


def test_a_province_backlog_per_worker_on_shift_clears_only_below_its_band() -> None:
    from serving.alerts.rules import backlog_alerts
    from serving.config import AlertRules

    rule = AlertRules(backlog_min_tasks=20, backlog_per_worker=3.0, backlog_clear_per_worker=2.0)

    def raised(pending: int, active: set[str] | None = None) -> list[str]:
        return [a.subject_id for a in backlog_alerts({"P1": pending}, {"P1": 10}, rule, active or set())]

    assert raised(30) == ["P1"] and raised(25) == []  # 3.0 per worker raises; 2.5 raises nothing new
    assert raised(25, {"P1"}) == ["P1"]  # 2.5, open: stays (no resolve and re-open at the line)
    assert raised(19, {"P1"}) == []  # 1.9 per worker: below the clear level, resolved
    (one,) = backlog_alerts({"P1": 40}, {"P1": 10}, rule)
    assert (
        one.details["threshold"] == 3.0 and one.details["clear_at"] == 2.0 and "clears below 2" in one.message
    )
    assert AlertRules(backlog_per_worker=3.0).backlog_clear == 2.0  # default: two thirds of the raise level
    with pytest.raises(ValueError, match="hysteresis"):
        AlertRules(backlog_per_worker=3.0, backlog_clear_per_worker=4.0)
