"""Model behaviour on synthetic data whose truth is known (pure pipeline, no MLflow)."""

from __future__ import annotations

import numpy as np
import pytest

from training.params import load_params
from training.pipeline import Fitted, fit_model
from training.specs import get_spec


def _fit(synth, model: str, overrides: dict | None = None, truth: bool = True) -> Fitted:
    return fit_model(
        synth.frame,
        synth.features(model),
        get_spec(model),
        load_params(model, overrides),
        synth.truth(model) if truth else None,
        num_threads=1,
    )


@pytest.fixture(scope="module")
def qa(synth) -> Fitted:
    return _fit(synth, "qa_pass")


@pytest.mark.parametrize(
    ("feature", "low", "high"), [("worker_qa_rate", 0.65, 0.97), ("worker_skill_level", 1, 5)]
)
def test_pass_probability_rises_with_true_drivers(qa: Fitted, feature: str, low: float, high: float) -> None:
    rows = qa.split.test.copy()
    p_low = qa.serving.predict_frame(rows.assign(**{feature: low}))
    p_high = qa.serving.predict_frame(rows.assign(**{feature: high}))
    assert p_high.mean() - p_low.mean() > 0.1
    assert np.mean(p_high >= p_low) > 0.9


def test_truth_stays_aligned_with_rows_through_filter_sort_split(qa: Fitted) -> None:
    np.testing.assert_array_equal(qa.truth_test, qa.split.test["true_p_pass"].to_numpy())
    assert 0.9 < qa.metrics["model_over_oracle_auc"] <= 1.02


def test_calibration_repairs_a_miscalibrated_booster(synth) -> None:
    fitted = _fit(synth, "qa_pass", {"lightgbm": {"scale_pos_weight": 4.0}})
    assert fitted.metrics["ece_raw"] > 0.1  # the weighting pushes raw probabilities up
    assert fitted.metrics["ece"] < min(fitted.metrics["ece_raw"] / 2, 0.06)
    assert fitted.metrics["brier"] < fitted.metrics["brier_raw"]


def test_calibrated_probabilities_are_calibrated_by_default(qa: Fitted) -> None:
    assert qa.metrics["ece"] < 0.06
    assert qa.metrics["mean_pred"] == pytest.approx(qa.metrics["mean_label"], abs=0.04)


def test_handling_time_estimates_the_mean_close_to_truth(synth) -> None:
    fitted = _fit(synth, "handling_time")
    m = fitted.metrics
    assert m["mean_pred"] == pytest.approx(m["mean_label"], rel=0.05)  # gamma/log link: the mean, unbiased
    assert m["mae_vs_truth"] / np.mean(fitted.truth_test) < 0.1
    assert m["model_over_oracle_mae"] < 1.05
    assert m["r2"] > 0.6


def test_complaint_ranks_risk_and_reports_capacity(synth) -> None:
    fitted = _fit(synth, "complaint", {"capacity_per_day": 10})
    m = fitted.metrics
    assert m["auc"] > 0.6
    assert m["precision_at_capacity"] > m["base_rate"]  # the flagged list beats random picks
    assert m["flagged_per_day"] == pytest.approx(10, abs=0.5)


def test_training_is_deterministic(synth) -> None:
    a = _fit(synth, "qa_pass", truth=False)
    b = _fit(synth, "qa_pass", truth=False)
    assert a.serving.booster.model_to_string() == b.serving.booster.model_to_string()
    np.testing.assert_array_equal(a.test_pred, b.test_pred)


def test_contributions_add_up_to_the_raw_score(qa: Fitted) -> None:
    X = qa.serving.encode(qa.split.test.head(50))
    contrib = qa.serving.contributions(X)
    assert contrib.shape == (50, len(qa.serving.feature_names) + 1)
    raw = qa.serving.booster.predict(X, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=1e-9, atol=1e-9)
