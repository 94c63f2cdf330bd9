"""Does what customers say add to complaint risk? The text model measured on a time holdout.

Rows are the open-task snapshots ``complaint_pre`` trains on (``features.training_frame.snapshot_frame``:
intake, then every 6 h while open; label: a complaint within 30 days). Four models on the same rows,
each a LightGBM on the task and customer inputs, the wait, and:
- ``no_text``: nothing said;
- ``keywords``: how many words of a keyword list the customer's recent contacts contain (negation blind);
- ``text``: the text model's score (out-of-fold on the training slice) and the interpretable flags.
Reported: AUC, Brier and ECE on the last ``test_share`` of time, and each text-only score's own AUC;
``late_*``: the text-aware risk (``training.voice_risk``: the no-text risk updated by the words) fitted
on the holdout's first half, against the no-text and text models on its second half; ``late_voice_offset``
is the form served on ``complaint_pre`` (the no-text risk moved by what the words add, unchanged for a
customer who said nothing).
Every document holds only contacts before the row's time (``features.contact_text.documents``).
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.contact_text import FLAG_NAMES, documents, flags, keyword_hits
from features.pipeline import event_time_range
from features.spec import COMPLAINT_LABEL_DAYS
from features.training_frame import snapshot_frame
from training import metrics
from training.text_model import fit_text_model, out_of_fold_scores, text_scores
from training.voice_risk import fit_voice_risk, silent_inputs, voice_inputs, with_words, words_shift

BASE = ("task_type", "channel", "complexity", "amount", "age_band", "policy_value_band", "vip",
        "prior_complaints", "age_hours", "hours_to_sla")  # fmt: skip
CATEGORIES = ("task_type", "channel", "age_band", "policy_value_band")
LGB = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 200,
       "feature_fraction": 0.9, "verbose": -1, "seed": 7, "num_threads": 1}  # fmt: skip
ROUNDS = 300


def snapshot_rows(events: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Labelled snapshots with the task and customer inputs and the contacts' documents before ``now``."""
    ent, labels = snapshot_frame(events)
    rows = ent.assign(label=labels["complaint_30d"].to_numpy())
    # Only rows whose whole 30-day window lies in the log: a complaint is known early, its absence only
    # at the window's end, so younger rows would be enriched in positives (censoring bias).
    horizon = pd.Timestamp(event_time_range(events)[1], unit="us", tz="UTC")  # type: ignore[index]
    matured = pd.to_datetime(rows["now"], utc=True) + pd.Timedelta(days=COMPLAINT_LABEL_DAYS) <= horizon
    rows = rows[rows["label"].notna() & matured.to_numpy()].reset_index(drop=True)
    tk = events["tasks"].astype({"task_id": str}).set_index("task_id")
    cu = events["customers"].astype({"customer_id": str}).set_index("customer_id")
    t = tk.loc[rows["task_id"]]
    for c in ("channel", "complexity", "amount"):
        rows[c] = t[c].to_numpy()
    for c in ("age_band", "policy_value_band", "vip", "prior_complaints"):
        rows[c] = cu.loc[rows["customer_id"], c].to_numpy()
    now = pd.to_datetime(rows["now"], utc=True)
    rows["age_hours"] = (now - pd.to_datetime(t["created_at"].to_numpy(), utc=True)).dt.total_seconds() / 3600
    rows["hours_to_sla"] = (
        pd.to_datetime(t["sla_due_at"].to_numpy(), utc=True) - now
    ).dt.total_seconds() / 3600
    rows["vip"] = rows["vip"].astype(float)
    for c in CATEGORIES:
        rows[c] = rows[c].astype("category")
    docs = documents(rows, events["contacts"].astype({"customer_id": str}))
    return pd.concat([rows, docs], axis=1)


def _fit_predict(train: pd.DataFrame, test: pd.DataFrame, cols: list[str]) -> np.ndarray:
    booster = lgb.train(LGB, lgb.Dataset(train[cols], train["label"].to_numpy()), num_boost_round=ROUNDS)
    return np.asarray(booster.predict(test[cols], num_threads=1))


def _figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": metrics.auc(y, p), "brier": metrics.brier(y, p), "ece": metrics.ece(y, p)}


def text_holdout(
    events: dict[str, pd.DataFrame], test_share: float = 0.3, max_train: int = 150_000
) -> dict[str, Any]:
    """The AUC table (see the module docstring) and the text model fitted on the whole training slice."""
    rows = snapshot_rows(events)
    cut = rows["now"].quantile(1 - test_share)
    train, test = rows[rows["now"] < cut], rows[rows["now"] >= cut].copy()
    train = train[train["task_id"].isin(set(train["task_id"]) - set(test["task_id"]))]  # one slice a task
    if len(train) > max_train:
        train = train.sample(max_train, random_state=7).sort_index()
    train = train.copy()
    y_train, y_test = train["label"].to_numpy(dtype=int), test["label"].to_numpy(dtype=int)
    train["text_score"] = out_of_fold_scores(train["document"], y_train, train["customer_id"].to_numpy())
    model = fit_text_model(train["document"], y_train)
    test["text_score"] = text_scores(model, test["document"])
    for frame in (train, test):
        frame[list(FLAG_NAMES)] = flags(frame["document"]).to_numpy()
        frame["keyword_hits"] = keyword_hits(frame["document"])
    base = list(BASE)
    sets = {
        "no_text": base,
        "keywords": [*base, "keyword_hits"],
        "text": [*base, "text_score", "contacts_30d", *FLAG_NAMES],
    }
    preds = {name: _fit_predict(train, test, cols) for name, cols in sets.items()}
    table = {name: _figures(y_test, p) for name, p in preds.items()}
    voice = _voice_risk(test, y_test, preds, float(text_scores(model, pd.Series([""]))[0]))
    table.update(voice["table"])
    table["keywords_only"] = {"auc": metrics.auc(y_test, test["keyword_hits"].to_numpy())}
    table["text_only"] = {"auc": metrics.auc(y_test, test["text_score"].to_numpy())}
    return {
        "table": table,
        "rows": {"train": len(train), "test": len(test), "test_positives": int(y_test.sum())},
        "auc_gain": table["text"]["auc"] - table["no_text"]["auc"],
        "model": model,
        "voice_model": voice["model"],
    }


def _voice_risk(
    test: pd.DataFrame, y: np.ndarray, preds: dict[str, np.ndarray], empty_score: float
) -> dict[str, Any]:
    """The text-aware risk (``training.voice_risk``) over the no-text model's holdout predictions: fitted
    on the holdout's first half in time, measured on the second against the no-text and text models on
    the same rows, then refitted on the whole holdout for serving."""
    x = voice_inputs(preds["no_text"], test["text_score"].to_numpy(), test)
    early = (test["now"] < test["now"].quantile(0.5)).to_numpy()
    late = ~early
    fitted = fit_voice_risk(x[early], y[early])
    shift = words_shift(fitted, x, silent_inputs(preds["no_text"], empty_score))
    shift = np.where(test["contacts_30d"].to_numpy(dtype=float) > 0, shift, 0.0)
    offset = np.where(shift != 0, with_words(preds["no_text"], shift), preds["no_text"])
    table = {
        "late_no_text": _figures(y[late], preds["no_text"][late]),
        "late_text": _figures(y[late], preds["text"][late]),
        "late_voice_risk": _figures(y[late], fitted.predict_proba(x[late])[:, 1]),
        "late_voice_offset": _figures(y[late], offset[late]),
    }
    return {"table": table, "model": fit_voice_risk(x, y)}
