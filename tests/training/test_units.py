"""Encoder, split, params, calibration and gate checks as units (no MLflow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.calibration import Calibrator, fit_calibrator
from training.encoder import FeatureEncoder
from training.gate import GateTolerances, sanity_failures
from training.gate_rules import champion_check, data_as_of, decide, same_rows, which_changed
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


def _paired(metric: str, diff: tuple[float, float, float], champion=(0.7, 0.68, 0.72)):
    from training.bootstrap import Interval, PairedResult

    chal = Interval(0.7, 0.68, 0.72)
    return PairedResult(metric, chal, Interval(*champion), Interval(*diff), 1000, 0, 0.95)


def test_decide_promotes_better_refuses_worse_and_needs_newer_data_when_tied() -> None:
    better = {"auc": _paired("auc", (0.02, 0.01, 0.03)), "brier": _paired("brier", (0.0, -0.001, 0.001))}
    fail, ok, verdict = decide("binary", better, (False, "same data"), 500)
    assert (fail, verdict) == ([], "better") and "interval [+0.0100, +0.0300]" in ok[0]
    worse = {"mae": _paired("mae", (-0.5, -0.8, -0.2))}
    fail, _, verdict = decide("regression", worse, (True, "newer"), 500)
    assert verdict == "worse" and fail[0].endswith("significantly worse")
    tied = {"mae": _paired("mae", (0.0, -0.1, 0.1))}
    assert decide("regression", tied, (True, "data_as_of b vs a"), 500)[0] == []
    fail, _, _ = decide("regression", tied, (False, "data_as_of a vs a"), 500)
    assert fail[0].endswith("not trained on newer data (data_as_of a vs a): nothing to gain")
    brier_worse = {**better, "brier": _paired("brier", (-0.01, -0.02, -0.005))}
    fail, _, _ = decide("binary", brier_worse, (True, "newer"), 500)
    assert len(fail) == 1 and fail[0].startswith("brier:")


def test_champion_check_needs_a_drop_beyond_the_threshold_and_the_interval() -> None:
    tol = GateTolerances()
    now = _paired("auc", (0, 0, 0), champion=(0.60, 0.58, 0.62))
    assert "drop 0.1400 > 0.05" in champion_check("binary", 0.74, now, tol)
    assert champion_check("binary", 0.64, now, tol) is None  # within the threshold
    wide = _paired("auc", (0, 0, 0), champion=(0.60, 0.45, 0.75))
    assert champion_check("binary", 0.74, wide, tol) is None  # recorded figure inside the interval
    mae = _paired("mae", (0, 0, 0), champion=(20.0, 19.0, 21.0))
    assert "rise 33.3% > 20%" in champion_check("regression", 15.0, mae, tol)
    assert champion_check("regression", 18.0, mae, tol) is None
    assert champion_check("binary", None, now, tol) is None


def test_data_as_of_prefers_the_loop_tag_when_both_runs_have_it() -> None:
    a = {"data_as_of": "2025-03-02T00:00:00+00:00", "frame_newest": "2025-03-01 10:00:00+00:00"}
    b = {"data_as_of": "2025-03-01T00:00:00+00:00", "frame_newest": "2025-03-01 12:00:00+00:00"}
    assert data_as_of(a, b) == (pd.Timestamp("2025-03-02", tz="UTC"), "data_as_of")
    c = {"data_as_of": "None", "frame_newest": "2025-03-01 12:00:00+00:00"}
    assert data_as_of(a, c) == (pd.Timestamp("2025-03-01 10:00", tz="UTC"), "frame_newest")


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


def test_same_rows_match_on_ids_and_time_and_count_what_differs() -> None:
    ts = pd.date_range("2025-01-01", periods=4, freq="h", tz="UTC")
    old = pd.DataFrame(
        {"task_id": list("abcd"), "event_timestamp": ts, "x": [1.0, 2.0, np.nan, 4.0], "y": 1.0}
    )
    new = pd.DataFrame(
        {
            "task_id": list("dcbe"),
            "event_timestamp": [ts[3], ts[2], ts[1], ts[3]],
            "x": [4.0, np.nan, 9.0, 5.0],
        }
    ).assign(y=1.0)
    then, now, share = same_rows(old, new, ["x", "y"])
    assert then["task_id"].tolist() == now["task_id"].tolist() == ["b", "c", "d"]
    assert share == pytest.approx(1 / 3)  # b's x changed; c's NaN stayed NaN
    assert same_rows(old, new.assign(task_id=list("wxyz")), ["x"])[2] == 0.0


def test_which_changed_tells_data_from_world() -> None:
    tol = GateTolerances()
    cause, text = which_changed("binary", 0.74, 0.55, 1200, 0.4, tol)
    assert cause == "data" and text.startswith("the data changed: on the 1,200 rows")
    assert "AUC 0.5500 vs 0.7400 then, and 40.0% of them differ" in text
    cause, text = which_changed("binary", 0.74, 0.735, 1200, 0.01, tol)
    assert cause == "world" and text.endswith("so the drop is in the newer rows")
    assert which_changed("regression", 15.0, 16.0, 10, 0.0, tol)[0] == "data"
    assert which_changed("regression", 15.0, 15.2, 10, 0.0, tol)[0] == "world"
    assert which_changed("binary", float("nan"), float("nan"), 0, 0.0, tol)[0] == "unknown"
