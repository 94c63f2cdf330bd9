"""Encoder, split, params, calibration and gate checks as units (no MLflow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.calibration import Calibrator, fit_calibrator
from training.encoder import FeatureEncoder
from training.gate import GateTolerances, compare, sanity_failures
from training.params import load_params
from training.specs import get_spec
from training.split import labelled_rows, time_split


def test_encoder_codes_are_sorted_and_unknown_is_nan(tmp_path) -> None:
    train = pd.DataFrame(
        {
            "channel": ["phone", "branch", "online", "phone"],
            "x": [1, 2, 3, 4],
            "vip": [True, False, True, False],
        }
    )
    enc = FeatureEncoder.fit(train, ["channel", "x", "vip"])
    assert enc.categories == {"channel": ["branch", "online", "phone"]}
    assert enc.categorical_indices == [0]
    X = enc.transform(
        pd.DataFrame({"channel": ["online", "fax", None], "x": [7, 8, 9], "vip": [True, False, True]})
    )
    assert X[0, 0] == 1.0 and np.isnan(X[1, 0]) and np.isnan(X[2, 0])
    assert X[:, 1].tolist() == [7.0, 8.0, 9.0] and X[:, 2].tolist() == [1.0, 0.0, 1.0]
    enc.save(tmp_path / "enc.json")
    again = FeatureEncoder.load(tmp_path / "enc.json")
    np.testing.assert_array_equal(again.transform(train), enc.transform(train))
    with pytest.raises(KeyError, match="x"):
        enc.transform(pd.DataFrame({"channel": ["online"], "vip": [True]}))


def test_encoder_fit_is_order_independent() -> None:
    a = pd.DataFrame({"c": ["b", "a", "c"]})
    assert FeatureEncoder.fit(a, ["c"]).categories == FeatureEncoder.fit(a.iloc[::-1], ["c"]).categories


def test_time_split_is_ordered_and_disjoint(synth) -> None:
    spec, params = get_spec("qa_pass"), load_params("qa_pass")
    rows, dropped = labelled_rows(synth.frame, spec)
    assert dropped["label_missing"] == int(synth.frame["qa_passed"].isna().sum())
    split = time_split(rows, params.split)
    assert split.train["event_timestamp"].max() < split.valid["event_timestamp"].min()
    assert split.valid["event_timestamp"].max() < split.test["event_timestamp"].min()
    assert sum(split.counts().values()) == len(rows)
    assert split.counts()["test"] == pytest.approx(0.15 * len(rows), rel=0.02)


def test_label_maturity_censors_recent_rows(synth) -> None:
    spec = get_spec("complaint")
    rows, dropped = labelled_rows(synth.frame, spec, maturity_days=30)
    horizon = synth.frame["event_timestamp"].max() - pd.Timedelta(days=30)
    assert rows["event_timestamp"].max() <= horizon
    assert dropped["label_censored"] == int((synth.frame["event_timestamp"] > horizon).sum())


def test_params_version_hash_and_validation() -> None:
    base = load_params("complaint")
    assert base.version == "1.0" and base.capacity_per_day == 100 and base.label_maturity_days == 30
    tuned = load_params("complaint", {"lightgbm": {"num_leaves": 7}})
    assert tuned.lightgbm["num_leaves"] == 7
    assert tuned.lightgbm["learning_rate"] == base.lightgbm["learning_rate"]
    assert tuned.hash != base.hash and load_params("complaint").hash == base.hash
    with pytest.raises(ValueError, match="unknown keys"):
        load_params("complaint", {"num_leafs": 7})


def test_isotonic_calibrator_matches_sklearn_and_roundtrips() -> None:
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(0)
    raw = rng.random(2000)
    y = (rng.random(2000) < raw**2).astype(float)
    cal = fit_calibrator("isotonic", raw, y)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(raw, y)
    probe = np.r_[-0.5, rng.random(500), 1.5]
    np.testing.assert_allclose(cal.apply(probe), iso.predict(probe), rtol=0, atol=1e-12)
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again.apply(probe), cal.apply(probe))
    platt = fit_calibrator("platt", raw, y)
    assert np.all(np.diff(platt.apply(np.linspace(0.01, 0.99, 50))) > 0)


def test_sanity_failures_name_the_problem() -> None:
    tol = GateTolerances()
    y = np.array([0.0, 1.0, 0.0, 1.0])
    assert sanity_failures("binary", y, np.array([0.0, 1.0, 0.01, 0.99]), tol) == []
    assert "non-finite" in sanity_failures("binary", y, np.array([0.1, np.nan, 0.2, 0.8]), tol)[0]
    assert any("outside" in r for r in sanity_failures("binary", y, np.array([0.1, 1.2, 0.2, 0.8]), tol))
    assert any("constant" in r for r in sanity_failures("binary", y, np.full(4, 0.5), tol))
    assert any("ece" in r for r in sanity_failures("binary", y, np.array([0.9, 0.1, 0.9, 0.1]), tol))
    assert any("outside" in r for r in sanity_failures("regression", y, np.array([-1.0, 2.0, 3.0, 4.0]), tol))


def test_compare_applies_tolerances() -> None:
    tol = GateTolerances(mae_rel=0.02, auc_abs=0.005, brier_abs=0.002)
    fail, ok = compare("regression", {"mae": 10.1}, {"mae": 10.0}, tol)
    assert not fail and ok[0].startswith("mae")
    fail, _ = compare("regression", {"mae": 10.5}, {"mae": 10.0}, tol)
    assert fail and "10.5000" in fail[0] and "10.0000" in fail[0]
    fail, _ = compare("binary", {"auc": 0.70, "brier": 0.1}, {"auc": 0.71, "brier": 0.1}, tol)
    assert len(fail) == 1 and fail[0].startswith("auc") and "0.7000" in fail[0] and "0.7100" in fail[0]
    fail, _ = compare("binary", {"auc": 0.71, "brier": 0.105}, {"auc": 0.71, "brier": 0.1}, tol)
    assert len(fail) == 1 and fail[0].startswith("brier")


def test_encoder_row_paths_equal_the_vectorised_path(synth) -> None:
    frame = synth.frame.head(200).copy()
    frame.loc[3, "channel"] = "fax"  # unknown category
    frame.loc[5, "task_type"] = None  # missing category
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[7, "amount"] = None  # missing number
    cols = synth.features("qa_pass")
    enc = FeatureEncoder.fit(synth.frame, cols)
    big = enc.transform(frame)  # > 64 rows: pandas path
    small = np.vstack([enc.transform(frame.iloc[i : i + 50]) for i in range(0, 200, 50)])  # per-value path
    records = enc.transform_records(frame[cols].to_dict("records"))
    np.testing.assert_array_equal(big, small)
    np.testing.assert_array_equal(big, records)
    assert np.isnan(big[3, cols.index("channel")]) and np.isnan(big[5, cols.index("task_type")])
    assert np.isnan(big[7, cols.index("amount")])
