"""Uplift@k and the Qini curve on the watchlist's holdout (evaluation.prevention)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.prevention import holdout_units, qini_points, uplift_figures


def _team(n: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Listed customers; the high-score half complains within 7 days unless contacted, the rest never."""
    rng = np.random.default_rng(5)
    score = np.linspace(1.0, 0.0, n)
    holdout = rng.random(n) < 0.3
    log = pd.DataFrame({"customer": np.arange(n), "at": 1000.0, "score": score, "holdout": holdout})
    complains = (score > 0.5) & holdout
    outcomes = pd.DataFrame(
        {
            "customer": np.r_[np.arange(n), np.arange(n)],
            "started": 0.0,
            "complaint": np.r_[complains, score > 0.5],
            # the first draw lands in the window, the second (everyone of the high half) 30 days later
            "filed_at": np.r_[np.full(n, 1000.0 + 3 * 1440), np.full(n, 1000.0 + 30 * 1440)],
        }
    )
    return log, outcomes


def test_the_ranked_list_reaches_the_complaints_it_prevents() -> None:
    log, outcomes = _team()
    units = holdout_units(log, outcomes, window_days=7.0)
    assert len(units) == len(log)
    assert units.loc[units["treated"] == 1, "prevented_y"].min() == 1  # contacted: none within 7 days
    got = uplift_figures(units)
    assert got["uplift_at_30"] > got["uplift_at_capacity"] > 0  # the top of the list gains most
    assert got["qini_auc"] > 0
    curve = qini_points(units)
    assert curve[0]["share"] == 0.0 and curve[-1]["share"] == 1.0
    assert curve[5]["qini"] > curve[5]["random"]  # above the random line half way down


def test_a_list_without_a_holdout_reports_no_uplift() -> None:
    log, outcomes = _team(20)
    units = holdout_units(log.assign(holdout=False), outcomes, window_days=7.0)
    assert np.isnan(uplift_figures(units)["qini_auc"]) and qini_points(units) == []
