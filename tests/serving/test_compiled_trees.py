"""Compiled trees (serving/runtime/compiled.py): the compiled forest predicts what LightGBM predicts, within
a stated tolerance (the trees are summed in another order and the compiled code may fuse multiply-adds on
one CPU and not another: an exact float comparison would depend on the machine), on forests with
categorical splits and missing values, for a binary and a gamma (log-link) objective; a compile that
fails or disagrees leaves the booster serving."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from serving.runtime import compiled
from serving.runtime.scoring import MODELS, ChampionScorer
from training.calibration import Calibrator
from training.encoder import FeatureEncoder
from training.serving_form import ServingModel

FEATURES = ["a", "b", "c", "kind"]


def _model(objective: str, seed: int = 0) -> ServingModel:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 4))
    X[:, 3] = rng.integers(0, 5, 600)  # a categorical column (codes)
    X[rng.random(X.shape) < 0.1] = np.nan
    signal = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 3] == 2)
    y = (signal + rng.normal(size=600) > 0).astype(float) if objective == "binary" else np.exp(signal / 2 + 2)
    params = {"objective": objective, "num_leaves": 15, "verbose": -1, "min_data_in_leaf": 5, "seed": seed}
    data = lgb.Dataset(X, y, feature_name=FEATURES, categorical_feature=["kind"])
    booster = lgb.train(params, data, num_boost_round=25)
    meta = {"model": f"test_{objective}", "version": "3"}
    calibrator = Calibrator("scale", a=1.1) if objective == "gamma" else Calibrator()
    return ServingModel(booster, FeatureEncoder(FEATURES, {}), calibrator, meta)


@pytest.mark.parametrize("objective", ["binary", "gamma"])
def test_the_compiled_forest_predicts_what_lightgbm_predicts(objective: str, tmp_path: Path) -> None:
    model = _model(objective)
    fast = compiled.compile_model(model, tmp_path)
    assert fast is not None
    X = np.random.default_rng(1).normal(size=(2_000, 4)) * 2
    X[:, 3] = np.random.default_rng(2).integers(-1, 7, 2_000)  # unseen and negative codes too
    X[np.random.default_rng(3).random(X.shape) < 0.15] = np.nan
    want, got = model.predict(X), fast.predict(X)
    assert np.abs(got - want).max() <= compiled.TOLERANCE * 10  # the calibrator's scale may grow it
    assert fast.version == "3" and fast.feature_names == FEATURES  # the rest is the model's own
    assert len(list(tmp_path.glob("*.so"))) == 1  # cached: the next load reads it
    again = compiled.compile_model(model, tmp_path)
    assert again is not None and np.array_equal(again.predict(X), got)


def test_a_compile_that_fails_or_disagrees_keeps_lightgbm(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    model = _model("binary")
    monkeypatch.setattr(
        compiled.CompiledModel, "predict_raw", lambda self, X, num_threads=1: np.zeros(len(X))
    )
    assert compiled.compile_model(model, tmp_path / "wrong") is None
    assert not list((tmp_path / "wrong").glob("*.so"))  # a forest that disagrees is not kept
    monkeypatch.setenv("CC", "/nonexistent/cc")  # the child process cannot link
    assert compiled.compile_model(model, tmp_path / "broken") is None


def test_the_scorer_serves_the_compiled_forest_once_it_agrees(tmp_path: Path) -> None:
    model = _model("binary")
    scorer = ChampionScorer(lambda name: model, lambda name: "3", FEATURES, compile_dir=tmp_path)
    assert scorer.refresh() == list(MODELS)  # LightGBM serves first
    assert scorer.compile(["qa_pass"]) == ["qa_pass"]
    served = scorer._take()["qa_pass"][0]
    assert isinstance(served, compiled.CompiledModel) and served.model is model
    assert scorer.versions()["qa_pass"] == "3" and scorer.refresh() == []  # the same champion: no reload
    assert ChampionScorer(lambda name: model, lambda name: "3", FEATURES).compile(["qa_pass"]) == []
