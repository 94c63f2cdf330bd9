"""The paired bootstrap behind the gate (pure): weighted AUC, intervals, verdicts, a fixed seed."""

from __future__ import annotations

import numpy as np
import pytest

from training import metrics
from training.bootstrap import paired_bootstrap, weighted_auc


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal(n)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * signal))).astype(float)
    good = 1 / (1 + np.exp(-(1.5 * signal + 0.3 * rng.standard_normal(n))))
    weak = 1 / (1 + np.exp(-(0.5 * signal + 1.0 * rng.standard_normal(n))))
    return y, good, weak


def test_weighted_auc_with_unit_and_count_weights_matches_sklearn() -> None:
    y, good, _ = _data(500)
    uniq, group = np.unique(np.round(good, 2), return_inverse=True)  # ties included
    assert weighted_auc(y, group, len(uniq), np.ones(len(y))) == pytest.approx(
        metrics.auc(y, np.round(good, 2))
    )
    idx = np.random.default_rng(1).integers(0, len(y), len(y))
    w = np.bincount(idx, minlength=len(y)).astype(float)
    expected = metrics.auc(y[idx], np.round(good, 2)[idx])
    assert weighted_auc(y, group, len(uniq), w) == pytest.approx(expected)


def test_a_clearly_better_model_is_better_and_the_reverse_is_worse() -> None:
    y, good, weak = _data()
    out = paired_bootstrap(y, good, weak, ("auc", "brier"), draws=300)
    assert out["auc"].verdict == "better" and out["auc"].diff.lo > 0
    assert out["auc"].diff.value == pytest.approx(metrics.auc(y, good) - metrics.auc(y, weak))
    assert out["brier"].diff.value == pytest.approx(metrics.brier(y, weak) - metrics.brier(y, good))
    back = paired_bootstrap(y, weak, good, ("auc",), draws=300)
    assert back["auc"].verdict == "worse" and back["auc"].diff.hi < 0


def test_identical_predictions_are_indistinguishable_with_a_zero_interval() -> None:
    y, good, _ = _data()
    out = paired_bootstrap(y, good, good.copy(), ("auc", "mae"), draws=100)
    for r in out.values():
        assert (r.diff.value, r.diff.lo, r.diff.hi) == (0.0, 0.0, 0.0) and r.verdict == "indistinguishable"


def test_same_seed_same_interval_other_seed_other_draws() -> None:
    y, good, weak = _data()
    a = paired_bootstrap(y, good, weak, ("mae",), draws=200, seed=4)["mae"]
    b = paired_bootstrap(y, good, weak, ("mae",), draws=200, seed=4)["mae"]
    c = paired_bootstrap(y, good, weak, ("mae",), draws=200, seed=5)["mae"]
    assert a == b and a.diff.lo != c.diff.lo
    assert a.champion.lo <= a.champion.value <= a.champion.hi


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_bootstrap(np.array([1.0, 0.0]), np.array([0.5]), np.array([0.5, 0.1]), ("auc",))
    with pytest.raises(KeyError, match="no bootstrap for metric 'r2'"):
        paired_bootstrap(np.array([1.0, 0.0]), np.array([0.5, 0.2]), np.array([0.5, 0.1]), ("r2",))
