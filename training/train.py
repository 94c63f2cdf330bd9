"""Train one model (or all) and record it in MLflow: run, lineage, plots, model, serving form, challenger."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.data_checks import profile_frame
from training.evaluate import write_plots
from training.params import TrainParams, dump_params, load_params
from training.pipeline import Fitted, fit_model
from training.registry import CHALLENGER, HOLDOUT_ARTIFACT, PROFILE_ARTIFACT, client_for
from training.serving_form import ARTIFACT_DIR, ServingModel
from training.specs import TIMESTAMP_COL, get_spec
from training.tracking import experiment_id, log_lightgbm, log_lineage, log_metrics

if TYPE_CHECKING:
    from opsmatch.settings import Settings


@dataclass
class TrainResult:
    """One training: registry version, run, test metrics, and the in-memory serving model."""

    model: str
    version: str | None
    run_id: str
    metrics: dict[str, float]
    serving: ServingModel
    params: TrainParams
    counts: dict[str, int]
    holdout: pd.DataFrame
    test_pred: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)


def _log_run(
    settings: Settings,
    fitted: Fitted,
    feature_cols: Sequence[str],
    feature_service: str,
    source: str,
    register: bool,
    run_name: str | None,
    tags: Mapping[str, str] | None,
    parent_run_id: str | None = None,
) -> tuple[str, str | None]:
    """Log everything about ``fitted`` in one run; returns ``(run_id, registered version)``."""
    import mlflow

    spec, params, split = fitted.spec, fitted.params, fitted.split
    client = client_for(settings)
    exp_id = experiment_id(client, settings, spec)
    nested = parent_run_id is not None
    with (
        mlflow.start_run(
            experiment_id=exp_id, run_name=run_name, nested=nested, parent_run_id=parent_run_id
        ) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        tmpdir = Path(tmp)
        mlflow.set_tags(
            {
                "model": spec.name,
                "task": spec.task,
                "feature_service": feature_service,
                "params_version": params.version,
                "frame_newest": str(split.test[TIMESTAMP_COL].max()),
                **(tags or {}),
            }
        )
        counts = split.counts()
        mlflow.log_params(
            {
                **params.flat(),
                "feature_service": feature_service,
                "n_features": len(feature_cols),
                "best_iteration": fitted.fit.best_iteration,
                "valid_from": str(split.valid_from),
                "test_from": str(split.test_from),
                **{f"rows_{k}": v for k, v in counts.items()},
                **{f"dropped_{k}": v for k, v in fitted.dropped.items()},
            }
        )
        log_lineage(split, spec, feature_cols, feature_service, source)
        log_metrics({f"test_{k}": v for k, v in fitted.metrics.items()})
        log_metrics({f"valid_{k}": v for k, v in fitted.fit.best_score.items()})
        log_metrics({"fit_seconds": fitted.fit.seconds})
        write_plots(
            spec, fitted.serving.booster, fitted.y_test, fitted.test_pred, fitted.test_raw, tmpdir / "plots"
        )
        mlflow.log_artifacts(str(tmpdir / "plots"), "plots")
        mlflow.log_text(dump_params(params), "params.yaml")
        rows = pd.concat([split.train, split.valid, split.test], ignore_index=True)
        profile = profile_frame(rows, feature_cols, spec.label, spec.task, spec.name)
        mlflow.log_dict(profile, PROFILE_ARTIFACT)
        holdout_path = tmpdir / Path(HOLDOUT_ARTIFACT).name
        fitted.holdout().to_parquet(holdout_path, index=False)
        mlflow.log_artifact(str(holdout_path), str(Path(HOLDOUT_ARTIFACT).parent))
        example = fitted.serving.encoder.frame(split.test.head(5))
        version = None
        if register:
            output = np.asarray(fitted.serving.booster.predict(example.to_numpy()))
            info = log_lightgbm(fitted.serving.booster, example, output, spec.registered_name)
            version = str(info.registered_model_version)
        fitted.serving.meta.update(version=version, run_id=run.info.run_id)
        mlflow.log_artifacts(str(fitted.serving.save(tmpdir / ARTIFACT_DIR)), ARTIFACT_DIR)
    if version is not None:
        client.set_registered_model_alias(spec.registered_name, CHALLENGER, version)
        client.set_model_version_tag(spec.registered_name, version, "params_version", params.version)
    return run.info.run_id, version


def _events_lineage(settings: Settings) -> dict[str, str]:
    """The event-store version the feature tables (so this frame) were built from, as MLflow tags."""
    from features.pipeline import read_manifest

    version = read_manifest(settings.feature_data_dir).get("events_version")
    return {} if version is None else {"events_version": str(version)}


def train_model(
    settings: Settings,
    model: str,
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    truth: np.ndarray | pd.Series | None = None,
    *,
    params: TrainParams | None = None,
    overrides: Mapping[str, Any] | None = None,
    categorical: Sequence[str] | None = None,
    num_threads: int | None = None,
    as_of: pd.Timestamp | None = None,
    feature_service: str | None = None,
    source: str | None = None,
    register: bool = True,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainResult:
    """Fit ``model`` on ``frame``, log the run, register a version and point ``challenger`` at it.

    ``truth`` (optional, aligned with ``frame`` rows) holds the twin's true expectations for oracle
    figures. ``params`` defaults to ``training/params/<model>.yaml`` with ``overrides`` applied.
    """
    started = time.perf_counter()
    spec = get_spec(model)
    params = params or load_params(model, overrides)
    service = feature_service or spec.feature_service
    fitted = fit_model(
        frame,
        feature_cols,
        spec,
        params,
        truth,
        categorical=categorical,
        num_threads=num_threads,
        as_of=as_of,
        feature_service=service,
    )
    fit_done = time.perf_counter()
    if source is None:
        from features.store import repo_dir  # the generated Feast repo the frame came from

        source = str(repo_dir(settings))
    tags = {**_events_lineage(settings), **(tags or {})}
    run_id, version = _log_run(settings, fitted, feature_cols, service, source, register, run_name, tags)
    return TrainResult(
        model,
        version,
        run_id,
        fitted.metrics,
        fitted.serving,
        params,
        fitted.split.counts(),
        fitted.holdout(),
        fitted.test_pred,
        {"fit": fitted.fit.seconds, "pipeline": fit_done - started, "total": time.perf_counter() - started},
    )


def train_all(
    settings: Settings,
    frames: Mapping[str, tuple[pd.DataFrame, Sequence[str]]],
    truths: Mapping[str, np.ndarray | pd.Series] | None = None,
    **kwargs: Any,
) -> dict[str, TrainResult]:
    """Train every model in ``frames`` (``model -> (frame, feature columns)``) in a fixed order."""
    truths = truths or {}
    return {
        model: train_model(settings, model, frame, cols, truths.get(model), **kwargs)
        for model, (frame, cols) in frames.items()
    }
