"""Alert precision at capacity: the list by current risk against the list by intake risk (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.alert_quality import alert_precision
from simulator.risk_team import daily_capacity
from simulator.scenario import load_scenario


def test_precision_counts_listed_customers_who_complained_within_seven_days() -> None:
    config = load_scenario("small")
    share = 2.0 / (daily_capacity(config, 0, 1.0))  # the team calls 2 customers on day 0
    at = 9 * 60.0
    lists = pd.DataFrame(
        {
            "day": 0,
            "at": at,
            "task": [0, 1, 2, 3, 4],
            "customer": [10, 10, 11, 12, 13],
            # now: the long waiters 12 and 13 on top; at intake: 10 (two tasks) and 11 on top
            "p_now": [0.05, 0.05, 0.10, 0.60, 0.40],
            "p_intake": [0.30, 0.30, 0.35, 0.05, 0.05],
        }
    )
    outcomes = pd.DataFrame(
        {
            "customer": [12, 13, 10, 11],
            "complaint": [True, True, True, False],
            "filed_at": [at + 3 * 1440, at + 8 * 1440, at - 60, at + 60],  # 13: too late; 10: before the list
        }
    )
    got = alert_precision(lists, outcomes, config, capacity_share=share)
    assert got["alerted"] == 2
    assert got["alert_precision_now"] == pytest.approx(0.5)  # 12 yes, 13 after the 7 days
    assert got["alert_precision_intake"] == pytest.approx(0.0)  # 10 complained before the list, 11 never
    empty = alert_precision(lists.iloc[:0], outcomes, config)
    assert empty["alerted"] == 0
