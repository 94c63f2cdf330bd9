"""The pure training pipeline (no MLflow): labels -> time split -> encode -> fit -> calibrate -> evaluate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.calibration import Calibrator, fit_calibrator
from training.encoder import FeatureEncoder
from training.evaluate import evaluate
from training.fit import FitResult, fit_booster, resolve_threads
from training.params import TrainParams
from training.sample import capped_rows
from training.serving_form import ServingModel
from training.specs import ENTITY_COLS, TIMESTAMP_COL, ModelSpec
from training.split import TimeSplit, day_index, labelled_rows, time_split

_TRUTH = "__truth__"


@dataclass
class Fitted:
    """Everything one fit produced, before tracking."""

    spec: ModelSpec
    params: TrainParams
    split: TimeSplit
    fit: FitResult
    serving: ServingModel
    test_pred: np.ndarray
    test_raw: np.ndarray
    metrics: dict[str, float]
    dropped: dict[str, int] = field(default_factory=dict)
    truth_test: np.ndarray | None = None

    @property
    def y_test(self) -> np.ndarray:
        return self.split.test[self.spec.label].to_numpy(dtype=np.float64)

    def holdout(self) -> pd.DataFrame:
        """The test slice as stored for the gate: entities, timestamp, raw features, label."""
        keep = [c for c in ENTITY_COLS if c in self.split.test]
        cols = list(dict.fromkeys([*keep, TIMESTAMP_COL, *self.serving.feature_names, self.spec.label]))
        return self.split.test[cols].reset_index(drop=True)


def usable_rows(
    frame: pd.DataFrame, spec: ModelSpec, params: TrainParams, as_of: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows ``spec`` trains on (label known, positive minutes, matured) and the drop counts."""
    return labelled_rows(
        frame,
        spec,
        positive_only=not spec.is_classifier,
        maturity_days=params.label_maturity_days,
        as_of=as_of,
    )


def prepare_split(
    frame: pd.DataFrame,
    spec: ModelSpec,
    params: TrainParams,
    truth: np.ndarray | pd.Series | None = None,
    as_of: pd.Timestamp | None = None,
) -> tuple[TimeSplit, dict[str, int]]:
    """Usable rows of ``frame`` split by time; ``truth`` (aligned with ``frame``) rides along."""
    if truth is not None:
        if len(truth) != len(frame):
            raise ValueError(f"truth has {len(truth)} values for {len(frame)} frame rows")
        frame = frame.assign(**{_TRUTH: np.asarray(truth, dtype=np.float64)})
    rows, dropped = usable_rows(frame, spec, params, as_of)
    if spec.is_classifier:
        y = rows[spec.label]
        if not y.isin([0.0, 1.0]).all():
            raise ValueError(f"{spec.label} must be 0/1 for {spec.name}")
    return time_split(rows, params.split), dropped


def fit_model(
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    spec: ModelSpec,
    params: TrainParams,
    truth: np.ndarray | pd.Series | None = None,
    *,
    categorical: Sequence[str] | None = None,
    num_threads: int | None = None,
    as_of: pd.Timestamp | None = None,
    feature_service: str | None = None,
) -> Fitted:
    """Fit ``spec`` on ``frame`` and evaluate it on the most recent slice."""
    split, dropped = prepare_split(frame, spec, params, truth, as_of)
    train = capped_rows(
        split.train, params.max_train_rows, spec.label if spec.is_classifier else None, params.seed
    )
    if len(train) < len(split.train):  # the cap's sample: recorded with the other dropped rows
        dropped["train_sampled_out"] = len(split.train) - len(train)
        split = replace(split, train=train)
    encoder = FeatureEncoder.fit(split.train, feature_cols, categorical)
    X_train, X_valid, X_test = (encoder.transform(s) for s in (split.train, split.valid, split.test))
    y_train, y_valid, y_test = (
        s[spec.label].to_numpy(dtype=np.float64) for s in (split.train, split.valid, split.test)
    )
    fit = fit_booster(
        X_train, y_train, X_valid, y_valid, encoder.features, encoder.categorical_indices, params, num_threads
    )
    ranges = split.ranges()
    meta = {
        "model": spec.name,
        "task": spec.task,
        "label": spec.label,
        "objective": params.objective,
        "target_transform": params.target_transform,
        "params_version": params.version,
        "params_hash": params.hash,
        "feature_service": feature_service or spec.feature_service,
        "train_from": ranges["train"][0],
        "train_to": ranges["train"][1],
        "valid_from": ranges["valid"][0],
        "test_from": ranges["test"][0],
        "test_to": ranges["test"][1],
        "best_iteration": fit.best_iteration,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "lightgbm": lgb.__version__,
        "version": None,
    }
    serving = ServingModel(fit.booster, encoder, Calibrator(), meta)
    threads = resolve_threads(params, num_threads, len(split.train))
    valid_raw = serving.predict_raw(X_valid, num_threads=threads)
    serving.calibrator = fit_calibrator(params.calibration, valid_raw, y_valid)
    test_raw = serving.predict_raw(X_test, num_threads=threads)
    test_pred = serving.calibrator.apply(test_raw)
    truth_test = split.test[_TRUTH].to_numpy() if truth is not None else None
    days = day_index(split.test[TIMESTAMP_COL])
    metrics = evaluate(spec, params, y_test, test_pred, test_raw, days, truth_test)
    return Fitted(spec, params, split, fit, serving, test_pred, test_raw, metrics, dropped, truth_test)
