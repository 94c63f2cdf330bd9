"""The model monitor's figures: served predictions joined with the outcomes that came back (pure).

Inputs are frames of the event store (``predictions``, ``completions``, ``qa_results``,
``complaints``) and the champions' reference profiles (``training.data_checks``); nothing here reads
the twin's truth. ``labelled`` turns the log into one row per model and served (task, worker) pair
with its outcome: handling minutes (``handling_time``) and QA pass (``qa_pass``) for the worker who did
the task, a complaint within ``complaint_days`` of completion for the pair (``complaint``) and within
``complaint_days`` after the prediction for the open task (``complaint_pre``, as it is trained); rows
the rules served (``fallback``) are not the models' and are left out,
and when a pair was served several times the latest prediction counts. ``model_figures`` gives ECE,
Brier and AUC (classifiers) or MAE (handling time) per model, overall and per day of the decision;
``stability`` the PSI of the served task-level features against the reference bins (not of the features
``training.data_checks.PSI_EXEMPT`` names: counters of the history so far and the wait at scoring time
move with the history's length or the request's moment, never a sign of drift); ``nulls`` each served
feature's null rate against the reference's, so a join that stops finding customers is seen; ``skew`` the
share of sampled values that differ between what was served and what the online store holds;
``issues`` what is past the thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from serving.predictions.log import MODEL_OF
from training import metrics as m
from training.data_checks import feature_psi, psi_exempt

CLASSIFIERS: tuple[str, ...] = ("qa_pass", "complaint", "complaint_pre")


@dataclass(frozen=True)
class MonitorThresholds:
    """Where a figure raises a ``model_health`` alert."""

    psi_alert: float = 0.25  # the data checks' "major shift" line
    ece_max: float = 0.05  # the gate's calibration bar on the holdout
    ece_min_rows: int = 200  # fewer labelled rows: ECE is reported, never alerted on
    null_rise_max: float = 0.10  # the data checks' line: a feature's null rate above the reference's
    skew_max: float = 0.01  # share of served values differing from Feast's historical retrieval
    psi_min_rows: int = 200  # fewer served tasks: PSI is reported, never alerted on
    # Reported, never alerted on: calendar features (one day of traffic has one weekday, by
    # construction unlike the training history) and province snapshots (the state of the hour).
    psi_ignore: tuple[str, ...] = ("task_created_weekday", "task_created_hour", "prov_")


# Served, never compared by PSI: the wait at the moment of scoring (trained on every age of the open
# tasks, served mostly at intake), on top of the history counters of ``training.data_checks``.
WAIT_FEATURES: tuple[str, ...] = ("hours_to_sla", "task_age_hours")


def labelled(
    predictions: pd.DataFrame,
    completions: pd.DataFrame,
    qa_results: pd.DataFrame,
    complaints: pd.DataFrame,
    as_of: pd.Timestamp,
    complaint_days: float = 30.0,
) -> pd.DataFrame:
    """One row per (model, task, worker) served by the models with a known outcome:
    ``model, version, at, day, task_id, worker_id, pred, y``."""
    cols = ["model", "version", "at", "day", "task_id", "worker_id", "pred", "y"]
    served = predictions[predictions["fallback"].isna()] if len(predictions) else predictions
    if not len(served):
        return pd.DataFrame(columns=cols)
    versions = served["model_versions"].map(json.loads)
    done = completions.drop_duplicates("task_id", keep="last").set_index("task_id")
    first_complaint = complaints.groupby("task_id")["filed_at"].min() if len(complaints) else pd.Series()
    qa = qa_results.drop_duplicates(["task_id", "worker_id"], keep="last")
    qa_y = qa.set_index(["task_id", "worker_id"])["passed"].astype(float)
    frames = []
    for col, model in MODEL_OF.items():
        rows = served[served[col].notna()]
        if not len(rows):
            continue
        key = ["task_id"] if model == "complaint_pre" else ["task_id", "worker_id"]
        rows = rows.sort_values("at").drop_duplicates(key, keep="last")
        out = pd.DataFrame(
            {
                "model": model,
                "version": versions.loc[rows.index].map(lambda v, k=model: v.get(k, "unknown")),
                "at": rows["at"],
                "task_id": rows["task_id"].astype(str),
                "worker_id": rows["worker_id"],
                "pred": rows[col].astype(float),
            }
        )
        did = out["task_id"].map(done["worker_id"]) if len(done) else pd.Series(np.nan, index=out.index)
        finished = (
            out["task_id"].map(done["completed_at"]) if len(done) else pd.Series(pd.NaT, index=out.index)
        )
        finished = pd.to_datetime(finished, utc=True)
        if model == "handling_time":
            y = out["task_id"].map(done["handling_minutes"]).where(did == out["worker_id"])
        elif model == "qa_pass":
            idx = pd.MultiIndex.from_arrays([out["task_id"], out["worker_id"]])
            y = pd.Series(qa_y.reindex(idx).to_numpy(), index=out.index)
        elif model == "complaint_pre":  # an open task's risk: a complaint within the days after ``at``
            filed = pd.to_datetime(out["task_id"].map(first_complaint), utc=True)
            at = pd.to_datetime(out["at"], utc=True)
            end = at + pd.Timedelta(days=complaint_days)
            mature = end <= pd.Timestamp(as_of).tz_convert("UTC")
            y = pd.Series(np.where(filed <= end, 1.0, np.where(mature, 0.0, np.nan)), index=out.index)
            y = y.where(~(filed <= at))  # complained before it was scored: not an open risk
        else:
            filed = out["task_id"].map(first_complaint)
            mature = finished <= pd.Timestamp(as_of).tz_convert("UTC") - pd.Timedelta(days=complaint_days)
            y = pd.Series(np.where(filed.notna(), 1.0, np.where(mature, 0.0, np.nan)), index=out.index)
            y = y.where(finished.notna()).where(did == out["worker_id"])
        out["y"] = y.astype(float)
        frames.append(out[out["y"].notna()])
    if not frames:
        return pd.DataFrame(columns=cols)
    res = pd.concat(frames, ignore_index=True)
    res["day"] = pd.to_datetime(res["at"], utc=True).dt.strftime("%Y-%m-%d")
    return res[cols]


def _figures(model: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {"n": float(len(y))}
    if model in CLASSIFIERS:
        out.update(ece=m.ece(y, p), brier=m.brier(y, p), auc=m.auc(y, p), rate=float(y.mean()))
        out["mean_pred"] = float(p.mean())
    else:
        out.update(mae=m.mae(y, p), mean_y=float(y.mean()), mean_pred=float(p.mean()))
    return out


def model_figures(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """``{model: {"overall": figures, "version": latest served, "daily": {day: figures}}}``."""
    out: dict[str, dict[str, Any]] = {}
    for model, g in rows.groupby("model", sort=True):
        y, p = g["y"].to_numpy(float), g["pred"].to_numpy(float)
        daily = {
            str(day): _figures(str(model), d["y"].to_numpy(float), d["pred"].to_numpy(float))
            for day, d in g.groupby("day", sort=True)
        }
        version = str(g.sort_values("at")["version"].iloc[-1])
        out[str(model)] = {"overall": _figures(str(model), y, p), "version": version, "daily": daily}
    return out


def served_features(predictions: pd.DataFrame) -> pd.DataFrame:
    """The task-level feature values served, one row per decision row that carried them."""
    carried = predictions["features"].dropna() if len(predictions) else pd.Series(dtype=object)
    if not len(carried):
        return pd.DataFrame()
    frame = pd.DataFrame([json.loads(v) for v in carried], index=carried.index)
    frame["task_id"] = predictions.loc[carried.index, "task_id"].astype(str).to_numpy()
    frame["at"] = predictions.loc[carried.index, "at"].to_numpy()
    return frame


def stability(features: pd.DataFrame, reference: Mapping[str, Any] | None) -> dict[str, float]:
    """PSI of each reference feature found among the served ones (one value per task: its latest)."""
    if reference is None or not len(features):
        return {}
    latest = features.sort_values("at").drop_duplicates("task_id", keep="last")
    out = {}
    for name, ref in reference.get("features", {}).items():
        if name in latest.columns and not psi_exempt(name) and name not in WAIT_FEATURES:
            series = latest[name]
            if ref["kind"] == "numeric":
                series = pd.to_numeric(series, errors="coerce")
            out[name] = feature_psi(ref, series)
    return out


def null_rates(features: pd.DataFrame, reference: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """``{feature: {"served": null rate, "reference": null rate}}`` of each reference feature served (one
    value per task: its latest)."""
    if reference is None or not len(features):
        return {}
    latest = features.sort_values("at").drop_duplicates("task_id", keep="last")
    ref = reference.get("null_rate", {})
    return {
        name: {"served": float(latest[name].isna().mean()), "reference": float(ref[name])}
        for name in reference.get("features", {})
        if name in latest.columns and name in ref
    }


def skew(
    served: pd.DataFrame, offline: pd.DataFrame, features: Sequence[str], rtol: float = 1e-6
) -> dict[str, float]:
    """Share of rows (aligned by position) where the served value differs from the offline one; both
    null counts as equal, numbers compare within ``rtol``, other values as text."""
    out = {}
    for f in features:
        if f not in served.columns or f not in offline.columns or not len(served):
            continue
        a, b = served[f].reset_index(drop=True), offline[f].reset_index(drop=True)
        na, nb = a.isna(), b.isna()
        an, bn = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
        numeric = an.notna() & bn.notna()
        same_num = numeric & np.isclose(an.fillna(0), bn.fillna(0), rtol=rtol, atol=1e-9)
        same_txt = ~numeric & (a.astype(str) == b.astype(str))
        same = (na & nb) | (~na & ~nb & (same_num | same_txt))
        out[f] = float(1.0 - same.mean())
    return out


def issues(result: Mapping[str, Any], tol: MonitorThresholds) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(model, topic, message, details)`` for each figure past its threshold."""
    found = []
    for model, figs in result.get("models", {}).items():
        overall = figs["overall"]
        if model in CLASSIFIERS and overall["n"] >= tol.ece_min_rows and overall["ece"] > tol.ece_max:
            msg = (
                f"{model}: ECE {overall['ece']:.3f} on {int(overall['n'])} served predictions > {tol.ece_max}"
            )
            found.append((model, "calibration", msg, {"ece": overall["ece"], "n": overall["n"]}))
    for model, stab in result.get("stability", {}).items():
        n = result.get("served_tasks", 0)
        watched = {f: v for f, v in stab.items() if not f.startswith(tol.psi_ignore)}
        over = {f: v for f, v in watched.items() if v > tol.psi_alert}
        if over and n >= tol.psi_min_rows:
            shown = ", ".join(f"{f} {v:.3f}" for f, v in sorted(over.items(), key=lambda kv: -kv[1]))
            msg = f"{model}: served features shifted from the training reference (PSI > {tol.psi_alert}): "
            msg += shown
            found.append((model, "stability", msg, {"psi": over, "served_tasks": n}))
    for model, rates in result.get("nulls", {}).items():
        n = result.get("served_tasks", 0)
        risen = {f: r for f, r in rates.items() if r["served"] - r["reference"] > tol.null_rise_max}
        if risen and n >= tol.psi_min_rows:
            shown = ", ".join(
                f"{f} {r['served']:.0%} (training {r['reference']:.0%})" for f, r in sorted(risen.items())
            )
            msg = f"{model}: served features missing far more often than in training: {shown}"
            found.append((model, "nulls", msg, {"nulls": risen, "served_tasks": n}))
    for f, share in result.get("skew", {}).items():
        if share > tol.skew_max:
            msg = f"online/offline skew: {f} differs on {share:.1%} of sampled rows (> {tol.skew_max:.1%})"
            found.append(("features", f"skew:{f}", msg, {"share": share}))
    return found
