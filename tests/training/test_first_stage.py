"""A first boosting stage on named features alone: its trees come first and split only on them."""

from __future__ import annotations

import numpy as np
import pytest

from training.fit import fit_booster
from training.params import load_params


def _splits(tree: dict) -> set[int]:
    if "split_feature" not in tree:
        return set()
    return {tree["split_feature"], *_splits(tree["left_child"]), *_splits(tree["right_child"])}


def test_the_first_trees_use_the_first_stage_features_only() -> None:
    rng = np.random.default_rng(0)
    n = 6000
    backlog = rng.gamma(2.0, 20.0, n)
    late = np.clip(rng.normal(backlog / 10 - 4, 3), -24, 48)  # long waits go with big backlogs
    logit = -3.5 + 0.05 * np.clip(late, 0, 48)  # the wait is the cause
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X = np.column_stack([-late, backlog, late + 24 + rng.normal(size=n)])
    names = ["hours_to_sla", "prov_backlog", "task_age_hours"]
    wait = {0, 2}
    fast = {"num_boost_round": 60, "early_stopping_rounds": 10, "lightgbm": {"min_data_in_leaf": 100}}
    params = load_params("complaint_pre", {**fast, "first_stage": ["hours_to_sla", "task_age_hours"]})
    fit = fit_booster(X[:5000], y[:5000], X[5000:], y[5000:], names, [], params, num_threads=1)
    trees = fit.booster.dump_model()["tree_info"]
    first = [_splits(t["tree_structure"]) for t in trees[:3]]
    assert first and all(s and s <= wait for s in first), first
    with pytest.raises(KeyError, match="first_stage"):
        bad = load_params("complaint_pre", {**fast, "first_stage": ["churn"]})
        fit_booster(X[:5000], y[:5000], X[5000:], y[5000:], names, [], bad, num_threads=1)
