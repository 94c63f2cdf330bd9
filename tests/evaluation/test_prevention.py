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
    alike = holdout_units(log, outcomes.assign(complaint=False), window_days=7.0)  # nobody complains
    got = uplift_figures(alike)
    assert got["uplift_at_capacity"] == 0.0 and np.isnan(got["qini_auc"]) and qini_points(alike) == []


def test_the_report_section_pairs_the_list_with_and_without_the_words() -> None:
    from evaluation.voice_report import voice_section

    runs = pd.DataFrame(
        {
            "policy": ["legacy_fifo", "legacy_fifo", "ml_watchlist_text", "ml_watchlist_text"],
            "seed": [1, 2, 1, 2],
            "complaint_rate": [0.03, 0.03, 0.018, 0.020],
            "escalated_rate": [0.006, 0.006, 0.003, 0.004],
            "complaint_rate_served_only": [np.nan, np.nan, 0.020, 0.025],
            "escalated_rate_served_only": [np.nan, np.nan, 0.004, 0.005],
            "uplift_at_capacity": [np.nan, np.nan, 0.02, 0.03],
            "uplift_at_30": [np.nan, np.nan, 0.04, 0.05],
            "qini_auc": [np.nan, np.nan, 0.01, 0.02],
        }
    )
    text = {"no_text": {"auc": 0.69, "brier": 0.03, "ece": 0.004}, "text": {"auc": 0.81}}
    md = "\n".join(voice_section(runs, text))
    assert "| no text | 0.6900 | 0.0300 | 0.0040 |" in md
    assert "| + text model score and flags | 0.8100 |  |  |" in md
    assert "| ml_watchlist_text | 0.850 [" in md  # 0.9 and 0.8 of the served-only list, paired by seed
    assert "legacy_fifo |" not in md.split("with the words vs without")[1]
    assert voice_section(runs.drop(columns=["complaint_rate_served_only", "qini_auc"]), {}) == []
