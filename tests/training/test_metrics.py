"""Metric functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from training import metrics as m


def test_ece_hand_computed() -> None:
    # bin [0.1,0.2): p=0.1,0.1 observed 0,1 -> |0.5-0.1|=0.4, weight 2/5
    # bin [0.8,0.9): p=0.8,0.8,0.8 observed 1,1,0 -> |0.6667-0.8|=0.1333, weight 3/5
    y = np.array([0, 1, 1, 1, 0])
    p = np.array([0.1, 0.1, 0.8, 0.8, 0.8])
    expected = 2 / 5 * 0.4 + 3 / 5 * abs(2 / 3 - 0.8)
    assert m.ece(y, p) == pytest.approx(expected)


def test_ece_edges_and_perfect_calibration() -> None:
    # p = 1.0 falls in the last bin, p = 0.0 in the first; both perfectly calibrated here.
    assert m.ece([1, 1, 0, 0], [1.0, 1.0, 0.0, 0.0]) == pytest.approx(0.0)
    # one bin with mean 0.25 and observed 0.25 -> 0; a miscalibrated copy -> 0.25
    assert m.ece([1, 0, 0, 0], [0.25] * 4) == pytest.approx(0.0)
    assert m.ece([0, 0, 0, 0], [0.25] * 4) == pytest.approx(0.25)


def test_precision_recall_at_capacity_hand_computed() -> None:
    days = np.array([0, 0, 0, 0, 1, 1, 1])
    p = np.array([0.9, 0.2, 0.8, 0.1, 0.3, 0.7, 0.6])
    y = np.array([1, 1, 0, 0, 0, 1, 0])
    out = m.precision_recall_at_capacity(y, p, days, capacity_per_day=2)
    # day 0 flags rows 0,2 (1 hit); day 1 flags rows 5,6 (1 hit): precision 2/4; recall 2/3
    assert out["precision_at_capacity"] == pytest.approx(0.5)
    assert out["recall_at_capacity"] == pytest.approx(2 / 3)
    assert out["flagged_per_day"] == pytest.approx(2.0)


def test_top_k_per_day_ties_and_small_days() -> None:
    days = np.array([5, 5, 5, 9])
    mask = m.top_k_per_day(np.array([0.5, 0.5, 0.5, 0.1]), days, 2)
    assert mask.tolist() == [True, True, False, True]  # ties keep earlier rows; a short day flags all


def test_regression_metrics_hand_computed() -> None:
    y, pred = np.array([10.0, 20.0, 30.0]), np.array([12.0, 18.0, 33.0])
    assert m.mae(y, pred) == pytest.approx(7 / 3)
    assert m.mape(y, pred) == pytest.approx((0.2 + 0.1 + 0.1) / 3)
    assert m.r2(y, pred) == pytest.approx(1 - (4 + 4 + 9) / 200)


def test_classifier_metrics_hand_computed() -> None:
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    assert m.auc(y, p) == pytest.approx(0.75)
    assert m.brier(y, p) == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert np.isnan(m.auc([1, 1], [0.2, 0.3]))


def test_oracle_comparison() -> None:
    y = np.array([0, 0, 1, 1])
    truth = np.array([0.1, 0.2, 0.8, 0.9])  # perfect ranking
    model = np.array([0.1, 0.6, 0.4, 0.9])  # AUC 0.75
    out = m.oracle_comparison("binary", y, model, truth)
    assert out["oracle_auc"] == pytest.approx(1.0)
    assert out["model_over_oracle_auc"] == pytest.approx(0.75)
    assert out["mae_vs_truth"] == pytest.approx((0 + 0.4 + 0.4 + 0) / 4)
    y, model, truth = np.array([10.0, 20.0]), np.array([12.0, 20.0]), np.array([11.0, 19.0])
    reg = m.oracle_comparison("regression", y, model, truth)
    assert reg["oracle_mae"] == pytest.approx(1.0)
    assert reg["model_over_oracle_mae"] == pytest.approx(1.0)
    assert reg["mae_vs_truth"] == pytest.approx(1.0)
