"""The model monitor's pure figures: the log joined with outcomes, calibration, stability, skew, issues."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from serving.predictions.model_monitor import (
    MonitorThresholds,
    issues,
    labelled,
    model_figures,
    null_rates,
    skew,
    stability,
)
from serving.predictions.model_monitor import served_features as features_of
from training.data_checks import profile_frame

AS_OF = pd.Timestamp("2026-03-30T00:00Z")
V = json.dumps({"handling_time": "4", "qa_pass": "2", "complaint": "3"})


def _pred(pid: str, task: str, worker: str | None, at: str, **values: float | str | None) -> dict:
    row = {
        "prediction_id": pid,
        "decision_id": pid.split(":")[0],
        "at": pd.Timestamp(at),
        "endpoint": "risk" if worker is None else "rank",
        "task_id": task,
        "worker_id": worker,
        "model_versions": json.dumps({"complaint_pre": "7"}) if worker is None else V,
        "fallback": None,
        "features": None,
    }
    cols = ("predicted_minutes", "p_qa_pass", "p_complaint", "p_complaint_pre")
    row.update({c: values.get(c) for c in cols})
    row.update({k: v for k, v in values.items() if k not in cols})
    return row


def test_log_joins_outcomes_for_the_worker_who_did_the_task() -> None:
    preds = pd.DataFrame(
        [
            _pred(
                "d1:0", "T1", "W1", "2026-03-01T09:00Z", predicted_minutes=30, p_qa_pass=0.9, p_complaint=0.1
            ),
            _pred(
                "d1:1", "T1", "W2", "2026-03-01T09:00Z", predicted_minutes=20, p_qa_pass=0.8, p_complaint=0.2
            ),
            _pred(
                "d2:0", "T1", "W1", "2026-03-01T10:00Z", predicted_minutes=25, p_qa_pass=0.7, p_complaint=0.3
            ),
            _pred("d3:0", "T2", "W1", "2026-03-02T10:00Z", predicted_minutes=10, fallback="feature_store"),
            _pred("d4:0", "T3", "W2", "2026-03-25T10:00Z", p_complaint=0.05),  # too recent to know
            _pred("d5:0", "T1", None, "2026-03-01T08:00Z", p_complaint_pre=0.4),
        ]
    )
    completions = pd.DataFrame(
        {
            "task_id": ["T1", "T2", "T3"],
            "worker_id": ["W1", "W1", "W2"],
            "completed_at": pd.to_datetime(["2026-03-01T11:00Z", "2026-03-02T11:00Z", "2026-03-25T11:00Z"]),
            "handling_minutes": [28.0, 12.0, 9.0],
        }
    )
    qa = pd.DataFrame({"task_id": ["T1"], "worker_id": ["W1"], "passed": [True]})
    complaints = pd.DataFrame({"task_id": ["T1"], "filed_at": pd.to_datetime(["2026-03-05T00:00Z"])})
    rows = labelled(preds, completions, qa, complaints, AS_OF).set_index("model")
    assert rows.loc["handling_time", "pred"] == 25 and rows.loc["handling_time", "y"] == 28  # latest, W1
    assert rows.loc["qa_pass", "y"] == 1.0 and rows.loc["qa_pass", "version"] == "2"
    assert rows.loc["complaint", "y"] == 1.0 and rows.loc["complaint_pre", "pred"] == 0.4
    assert len(rows) == 4  # W2's pair, the fallback row and the unmatured complaint are left out
    figs = model_figures(labelled(preds, completions, qa, complaints, AS_OF))
    assert figs["handling_time"]["overall"]["mae"] == pytest.approx(3.0)
    assert list(figs["handling_time"]["daily"]) == ["2026-03-01"]


def test_calibration_figures_tell_calibrated_from_miscalibrated() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.6, 20_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    day = np.where(np.arange(p.size) % 2, "2026-03-01", "2026-03-02")
    good = pd.DataFrame({"model": "qa_pass", "version": "1", "at": 0, "day": day, "pred": p, "y": y})
    bad = good.assign(pred=np.clip(p + 0.15, 0, 1))
    g, b = model_figures(good)["qa_pass"]["overall"], model_figures(bad)["qa_pass"]["overall"]
    assert g["ece"] < 0.02 < 0.1 < b["ece"] and g["brier"] < b["brier"]
    assert g["auc"] == pytest.approx(b["auc"])  # a shift changes calibration, not the ordering
    tol = MonitorThresholds()
    assert issues({"models": {"qa_pass": {"overall": g}}}, tol) == []
    assert [i[1] for i in issues({"models": {"qa_pass": {"overall": b}}}, tol)] == ["calibration"]


def test_stability_flags_a_shifted_customer_mix_only() -> None:
    rng = np.random.default_rng(1)
    bands = np.array(["18-29", "30-44", "45-59", "60+"])
    train = pd.DataFrame(
        {
            "cust_age_band": rng.choice(bands, 5000, p=[0.25, 0.35, 0.25, 0.15]),
            "task_amount": rng.lognormal(7, 1, 5000),
            "y": rng.integers(0, 2, 5000),
        }
    )
    ref = profile_frame(train, ["cust_age_band", "task_amount"], "y", "binary", "complaint")

    def served(p: list[float], n: int = 1000) -> pd.DataFrame:
        rows = [
            {"cust_age_band": str(b), "task_amount": float(a)}
            for b, a in zip(rng.choice(bands, n, p=p), rng.lognormal(7, 1, n), strict=True)
        ]
        log = pd.DataFrame(
            {
                "task_id": [f"T{i}" for i in range(n)],
                "at": pd.Timestamp("2026-03-01T00:00Z"),
                "features": [json.dumps(r) for r in rows],
            }
        )
        return features_of(log)

    same = stability(served([0.25, 0.35, 0.25, 0.15]), ref)
    shifted = stability(served([0.05, 0.1, 0.25, 0.6]), ref)
    assert same["cust_age_band"] < 0.05 and same["task_amount"] < 0.05
    assert shifted["cust_age_band"] > 0.25 > shifted["task_amount"]
    found = issues({"stability": {"complaint": shifted}, "served_tasks": 1000}, MonitorThresholds())
    assert [(i[0], i[1]) for i in found] == [("complaint", "stability")] and "cust_age_band" in found[0][2]


def test_skew_is_the_share_of_differing_values() -> None:
    online = pd.DataFrame({"a": [1.0, 2.0, None, 4.0], "b": ["x", "y", "z", None]})
    offline = pd.DataFrame({"a": [1.0, 2.0000000001, None, 5.0], "b": ["x", "y", "z", None]})
    assert skew(online, offline, ["a", "b", "missing"]) == {"a": 0.25, "b": 0.0}
    found = issues({"skew": {"a": 0.25, "b": 0.0}}, MonitorThresholds())
    assert [i[1] for i in found] == ["skew:a"]


def test_history_counters_are_never_drift_and_missing_customers_are_seen() -> None:
    rng = np.random.default_rng(2)
    n = 1000
    train = pd.DataFrame(
        {
            "cust_tasks_so_far": rng.poisson(3, 5000),
            "cust_vip": rng.random(5000) < 0.1,
            "y": rng.integers(0, 2, 5000),
        }
    )
    ref = profile_frame(train, ["cust_tasks_so_far", "cust_vip"], "y", "binary", "complaint_pre")
    # Today's traffic: every customer has a longer history (counters grow), and 93 % of the customer
    # rows were not found.
    rows = [
        {"cust_tasks_so_far": int(c) + 20, "cust_vip": None if i % 100 < 93 else bool(v)}
        for i, (c, v) in enumerate(zip(rng.poisson(3, n), rng.random(n) < 0.1, strict=True))
    ]
    log = pd.DataFrame(
        {"task_id": [f"T{i}" for i in range(n)], "at": pd.Timestamp("2026-03-01T00:00Z"),
         "features": [json.dumps(r) for r in rows]}
    )  # fmt: skip
    served = features_of(log)
    assert "cust_tasks_so_far" not in stability(served, ref)
    nulls = null_rates(served, ref)
    assert nulls["cust_vip"]["served"] == pytest.approx(0.93) and nulls["cust_vip"]["reference"] == 0.0
    found = issues(
        {"stability": {"complaint_pre": stability(served, ref)}, "nulls": {"complaint_pre": nulls},
         "served_tasks": n},
        MonitorThresholds(),
    )  # fmt: skip
    assert [(i[0], i[1]) for i in found] == [("complaint_pre", "nulls")]
    assert "cust_vip 93%" in found[0][2] and "cust_tasks_so_far" not in found[0][2]
