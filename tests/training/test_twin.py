"""On the digital twin's ``small`` scenario: Feast training frames -> all models -> gate -> champion."""

from __future__ import annotations

import numpy as np
import pytest

MODELS = ("handling_time", "qa_pass", "complaint", "complaint_pre")


@pytest.mark.slow
def test_twin_history_trains_gates_and_serves_every_model(settings) -> None:
    from evaluation.oracle_truth import has_truth, oracle_for
    from features.pipeline import build_features
    from features.store import apply_repo
    from simulator.run import generate_history
    from training.frames import train_from_store
    from training.gate import promote
    from training.serving_form import load_champion

    generate_history(settings, "small", 45, seed=3)
    build_features(settings)
    apply_repo(settings)
    assert has_truth(settings)
    results = train_from_store(settings, MODELS, num_threads=1, truth=oracle_for(settings))

    ht, qa, cp = results["handling_time"].metrics, results["qa_pass"].metrics, results["complaint"].metrics
    assert ht["model_over_oracle_mae"] < 1.15 and ht["mean_pred"] == pytest.approx(ht["mean_label"], rel=0.1)
    assert qa["model_over_oracle_auc"] > 0.8 and qa["ece"] < 0.05
    assert cp["auc"] > 0.55 and cp["precision_at_capacity"] > cp["base_rate"]
    for model, result in results.items():
        decision = promote(settings, model)
        assert decision.promoted, decision.reasons
        champion = load_champion(settings, model)
        np.testing.assert_array_equal(champion.predict(champion.encode(result.holdout)), result.test_pred)
