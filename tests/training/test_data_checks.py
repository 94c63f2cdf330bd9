"""Data checks before training (pure): a training frame's reference profile and a new frame against it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.spec import VIEWS, feature_columns
from tests.factories.frames import WORKER_FEATURES, make_frame
from training.data_checks import (
    JOIN_GROUPS,
    CheckThresholds,
    check_frame,
    feature_psi,
    profile_frame,
    psi,
    psi_exempt,
)

MODEL = "complaint"
LABEL = "complaint_30d"


@pytest.fixture(scope="module")
def reference():
    synth = make_frame(n_rows=8000, days=90, seed=0)
    cols = synth.features(MODEL)
    return synth, cols, profile_frame(synth.frame, cols, LABEL, "binary", MODEL)


def _check(frame: pd.DataFrame, cols, ref, **kw):
    return check_frame(frame, cols, ref, CheckThresholds(**kw), MODEL)


def test_profile_is_json_and_holds_every_figure(reference) -> None:
    synth, cols, ref = reference
    again = json.loads(json.dumps(ref))
    assert again == ref and ref["rows"] == 8000 and set(ref["features"]) == set(cols)
    assert ref["join_coverage"] == {"worker": 1.0}  # synthetic frames have no worker x type columns
    assert ref["label_rate"] == pytest.approx(synth.frame[LABEL].mean())
    assert ref["features"]["channel"]["kind"] == "categorical"
    assert ref["features"]["amount"]["kind"] == "numeric" and len(ref["features"]["amount"]["edges"]) == 9
    assert sum(ref["features"]["amount"]["shares"]) == pytest.approx(1.0)


def test_the_same_process_with_new_draws_passes(reference) -> None:
    _, cols, ref = reference
    newer = make_frame(n_rows=9000, days=100, seed=7).frame  # more history, another sample
    report = _check(newer, cols, ref)
    assert report.ok, report.failures
    assert max(report.figures["psi"].values()) < 0.02


def test_worker_features_missing_for_a_third_of_the_rows_fail_join_coverage(reference) -> None:
    synth, cols, ref = reference
    broken = synth.frame.copy()
    lost = broken["worker_id"].isin(broken["worker_id"].drop_duplicates().sample(frac=1 / 3, random_state=1))
    broken.loc[lost, WORKER_FEATURES] = np.nan
    report = _check(broken, cols, ref)
    assert not report.ok
    coverage = report.figures["join_coverage"]["worker"]["new"]
    assert coverage == pytest.approx(1 - lost.mean())
    join = [f for f in report.failures if f.startswith("join coverage")]
    assert join == [
        f"join coverage: worker features found for {coverage:.1%} of rows vs 100.0% "
        f"(drop {1 - coverage:.1%} > 5%)"
    ]
    assert any(f.startswith("nulls: worker_qa_rate") for f in report.failures)


def test_a_doubled_label_rate_fails(reference) -> None:
    synth, cols, ref = reference
    doubled = synth.frame.copy()
    rate = doubled[LABEL].mean()
    zeros = doubled.index[doubled[LABEL] == 0]
    flip = np.random.default_rng(2).choice(zeros, int(round(rate * len(doubled))), replace=False)
    doubled.loc[flip, LABEL] = 1.0
    report = _check(doubled, cols, ref)
    assert [f for f in report.failures if f.startswith("label rate")] == [
        f"label rate: {LABEL} rate of the rarer class (1) {2 * rate:.4g} vs {rate:.4g} "
        "in the champion's frame "
        f"(ratio {report.figures['label_rate']['ratio']:.2f} outside [0.67, 1.50])"
    ]
    assert report.figures["label_rate"]["ratio"] == pytest.approx(2.0, abs=0.01)


def test_a_doubled_failure_rate_of_a_frequent_label_fails() -> None:
    synth = make_frame(n_rows=6000, seed=0)
    frame, cols = synth.frame, synth.features("qa_pass")
    ref = profile_frame(frame, cols, "qa_passed", "binary", "qa_pass")
    worse = frame.copy()
    checked = worse["qa_passed"].notna()
    passed = worse.index[checked & (worse["qa_passed"] == 1)]
    fail_rate = 1 - frame.loc[checked, "qa_passed"].mean()
    flip = np.random.default_rng(3).choice(passed, int(round(fail_rate * checked.sum())), replace=False)
    worse.loc[flip, "qa_passed"] = 0.0  # pass rate ~0.67 -> ~0.34: the failure rate doubles
    report = check_frame(worse, cols, ref, model="qa_pass")
    assert any(f.startswith("label rate: qa_passed rate of the rarer class (0)") for f in report.failures)


def test_shrunk_frames_shifted_features_and_missing_columns_fail(reference) -> None:
    synth, cols, ref = reference
    report = _check(synth.frame.tail(4000), cols, ref)
    assert (
        report.failures[0] == "rows: 4,000 labelled rows vs 8,000 in the champion's frame (ratio 0.50 < 0.7)"
    )
    shifted = synth.frame.assign(amount=synth.frame["amount"] * 3, channel="phone")
    report = _check(shifted, cols, ref)
    stability = [f for f in report.failures if f.startswith("stability")]
    assert {f.split(" PSI")[0] for f in stability} == {"stability: amount", "stability: channel"}
    assert report.figures["psi"]["amount"] > 0.25
    report = _check(synth.frame.drop(columns=["hours_to_sla"]), cols, ref)
    assert "schema: reference features missing from the frame: hours_to_sla" in report.failures


def test_moderate_shift_warns_without_failing(reference) -> None:
    synth, cols, ref = reference
    frame = synth.frame.copy()
    frame["hours_to_sla"] = frame["hours_to_sla"] * 1.15
    report = _check(frame, cols, ref)
    assert report.ok and any(w.startswith("stability: hours_to_sla") for w in report.warnings)


def test_without_a_reference_nothing_is_compared(reference) -> None:
    synth, cols, _ = reference
    report = check_frame(synth.frame, cols, None, model=MODEL)
    assert report.ok and not report.reference and "no reference profile" in report.warnings[0]


def test_psi_figures() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    assert psi(np.array([0.5, 0.5]), np.array([0.9, 0.1])) == pytest.approx(
        0.4 * np.log(1.8) - 0.4 * np.log(0.2)
    )
    ref = {"kind": "numeric", "edges": [1.0, 2.0], "shares": [1 / 3, 1 / 3, 1 / 3]}
    assert feature_psi(ref, pd.Series([0.5, 1.5, 2.5, np.nan])) == pytest.approx(0.0)


def test_join_groups_match_the_feature_views() -> None:
    worker, pair = VIEWS["worker_profile"].feature_names, VIEWS["worker_type_perf"].feature_names
    assert all(c.startswith(JOIN_GROUPS["worker"]) for c in worker)
    assert all(c.startswith(JOIN_GROUPS["worker_x_type"]) for c in pair)
    for model in ("handling_time", "qa_pass", "complaint"):
        cols = feature_columns(model)
        assert {c for c in cols if c.startswith(JOIN_GROUPS["worker"])} == set(worker) & set(cols)
        assert {c for c in cols if c.startswith(JOIN_GROUPS["worker_x_type"])} == set(pair)


def test_a_counter_of_the_history_so_far_is_never_a_stability_failure() -> None:
    rng = np.random.default_rng(3)
    old = pd.DataFrame({"cust_tasks_so_far": rng.poisson(3, 4000), "y": rng.integers(0, 2, 4000)})
    ref = profile_frame(old, ["cust_tasks_so_far"], "y", "binary", "complaint_pre")
    newer = old.assign(cust_tasks_so_far=old["cust_tasks_so_far"] + 10)  # a longer history counts more
    report = check_frame(newer, ["cust_tasks_so_far"], ref, model="complaint_pre")
    assert report.ok and "cust_tasks_so_far" not in report.figures["psi"]
    assert psi_exempt("cust_tasks_so_far") and not psi_exempt("cust_age_band")


def _snapshots(frame: pd.DataFrame, seed: int, most: int = 8) -> pd.DataFrame:
    """Open-task snapshots of ``frame``'s tasks: intake, then every 6 h while open (1 to ``most`` rows)."""
    n = np.random.default_rng(seed).integers(1, most + 1, len(frame))
    rows = frame.loc[frame.index.repeat(n)].copy()
    age = 6.0 * (np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n))
    rows["task_age_hours"] = age
    rows["hours_to_sla"] = rows["hours_to_sla"] - age
    rows["event_timestamp"] = rows["event_timestamp"] + pd.to_timedelta(age, unit="h")
    return rows.sample(frac=1.0, random_state=seed)  # an extract's order is not the tasks' order


def test_snapshot_frames_compare_tasks_by_their_intake_row() -> None:
    cols = make_frame(seed=0).features("complaint_pre")
    old = _snapshots(make_frame(n_rows=8000, days=90, seed=0).frame, seed=1)
    ref = profile_frame(old, cols, LABEL, "binary", "complaint_pre")
    assert ref["rows"] == 8000 and ref["features"]["task_age_hours"]["edges"] == [0.0]  # intake
    # Another sample whose tasks waited longer: more rows a task, more hours waited, same tasks' mix.
    newer = _snapshots(make_frame(n_rows=9000, days=100, seed=7).frame, seed=2, most=16)
    report = check_frame(newer, cols, ref, model="complaint_pre")
    assert report.ok, report.failures
    assert report.figures["rows"]["new"] == 9000 and max(report.figures["psi"].values()) < 0.02
    # A shifted mix of tasks still fails, snapshots or not.
    shifted = newer.assign(amount=newer["amount"] * 3, channel="phone")
    report = check_frame(shifted, cols, ref, model="complaint_pre")
    stability = {f.split(" PSI")[0] for f in report.failures if f.startswith("stability")}
    assert stability == {"stability: amount", "stability: channel"}
