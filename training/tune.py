"""Hyperparameter search with Optuna: each trial is a nested MLflow run; the best params are logged as YAML.

Trials fit on the train slice and are scored on the validation slice with the early-stopping metric
(the first ``metric`` of the params), never on the test slice, which stays for the final model and the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.encoder import FeatureEncoder
from training.fit import fit_booster
from training.params import TrainParams, dump_params, load_params, merge_params, params_from_dict
from training.pipeline import prepare_split
from training.registry import client_for
from training.specs import get_spec
from training.tracking import experiment_id

if TYPE_CHECKING:
    import optuna

    from opsmatch.settings import Settings


@dataclass
class TuneResult:
    """The best trial's effective params (a new YAML version), its validation score and the parent run."""

    best_params: TrainParams
    best_value: float
    metric: str
    n_trials: int
    run_id: str


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space (LightGBM knobs that matter most for tabular data of this size)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 1000, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


def tune(
    settings: Settings,
    model: str,
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    n_trials: int,
    *,
    base: TrainParams | None = None,
    num_threads: int | None = None,
    write_to: Path | None = None,
) -> TuneResult:
    """Run ``n_trials`` seeded TPE trials under one parent run; return (optionally write) the best params."""
    import mlflow
    import optuna

    spec = get_spec(model)
    base = base or load_params(model)
    split, _ = prepare_split(frame, spec, base)
    encoder = FeatureEncoder.fit(split.train, feature_cols)
    X_train, X_valid = encoder.transform(split.train), encoder.transform(split.valid)
    y_train = split.train[spec.label].to_numpy(np.float64)
    y_valid = split.valid[spec.label].to_numpy(np.float64)
    client = client_for(settings)
    exp_id = experiment_id(client, settings, spec)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    metric_holder: dict[str, str] = {}

    def objective(trial: optuna.Trial) -> float:
        params = params_from_dict(model, merge_params(base.raw, {"lightgbm": suggest(trial)}))
        with mlflow.start_run(experiment_id=exp_id, run_name=f"trial-{trial.number}", nested=True):
            fit = fit_booster(
                X_train,
                y_train,
                X_valid,
                y_valid,
                encoder.features,
                encoder.categorical_indices,
                params,
                num_threads,
            )
            metric, value = next(iter(fit.best_score.items()))
            metric_holder["metric"] = metric
            mlflow.log_params({**trial.params, "trial": trial.number})
            mlflow.log_metrics({f"valid_{metric}": value, "best_iteration": fit.best_iteration})
        trial.set_user_attr("best_iteration", fit.best_iteration)
        return value

    with mlflow.start_run(experiment_id=exp_id, run_name=f"tune-{model}") as parent:
        mlflow.set_tags({"model": model, "kind": "tuning", "base_params_version": base.version})
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=base.seed))
        study.optimize(objective, n_trials=n_trials)
        tuned = merge_params(
            base.raw,
            {"lightgbm": study.best_params, "version": f"{base.version}-tuned-{parent.info.run_id[:8]}"},
        )
        best = params_from_dict(model, tuned)
        metric = metric_holder.get("metric", "")
        mlflow.log_params({f"best.{k}": v for k, v in study.best_params.items()})
        mlflow.log_metrics({f"best_valid_{metric}": study.best_value, "n_trials": len(study.trials)})
        mlflow.log_text(dump_params(best), "best_params.yaml")
    if write_to is not None:
        Path(write_to).write_text(dump_params(best))
    return TuneResult(best, float(study.best_value), metric, len(study.trials), parent.info.run_id)
