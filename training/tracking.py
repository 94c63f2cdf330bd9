"""MLflow tracking at the edges: experiments per model, dataset lineage, the LightGBM model, artifacts."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.specs import TIMESTAMP_COL, ModelSpec
from training.split import TimeSplit

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models.model import ModelInfo

    from opsmatch.settings import Settings

SPLIT_CONTEXT = {"train": "training", "valid": "validation", "test": "testing"}


def experiment_id(client: MlflowClient, settings: Settings, spec: ModelSpec) -> str:
    """Id of ``opsmatch-<model>``; created with its artifacts under ``settings.mlflow_artifact_root``."""
    return experiment_named(client, settings, spec.registered_name)


def experiment_named(client: MlflowClient, settings: Settings, name: str) -> str:
    """Id of the experiment ``name``; created with its artifacts under ``settings.mlflow_artifact_root``."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = (Path(settings.mlflow_artifact_root).resolve() / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


def frame_digest(df: pd.DataFrame) -> str:
    """Content fingerprint of a frame (row hashes, vectorised; column names included)."""
    h = hashlib.sha256(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def log_lineage(
    split: TimeSplit, spec: ModelSpec, feature_cols: Sequence[str], feature_service: str, source: str
) -> None:
    """One ``mlflow.log_input`` per slice: feature service, time range, rows, content digest."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature

    cols = [TIMESTAMP_COL, *feature_cols, spec.label]
    schema = None
    for name, df in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        part = df[cols]
        with warnings.catch_warnings():  # source-resolution and integer-column hints
            warnings.simplefilter("ignore", UserWarning)
            ds = from_pandas(
                part,
                source=source,
                targets=spec.label,
                name=f"{feature_service}-{name}",
                digest=frame_digest(part),
            )
            # MLflow infers the schema row by row (seconds on 10^5 rows); the columns are the same in
            # every slice, so infer it once from a sample and hand it to the dataset's cached property.
            schema = schema or infer_signature(part.head(1000)).inputs
        ds.__dict__["schema"] = schema
        lo, hi = part[TIMESTAMP_COL].min(), part[TIMESTAMP_COL].max()
        mlflow.log_input(
            ds,
            context=SPLIT_CONTEXT[name],
            tags={"feature_service": feature_service, "rows": str(len(part)), "from": str(lo), "to": str(hi)},
        )


def log_lightgbm(
    booster: lgb.Booster, example: pd.DataFrame, output: np.ndarray, registered_name: str
) -> ModelInfo:
    """Log the booster as an MLflow LightGBM model (signature + input example) and register a version."""
    import mlflow
    from mlflow.models import infer_signature

    signature = infer_signature(example, output)
    requirements = [f"lightgbm=={lgb.__version__}", f"mlflow=={mlflow.__version__}", "numpy", "pandas"]
    return mlflow.lightgbm.log_model(
        booster,
        name="model",
        signature=signature,
        input_example=example,
        registered_model_name=registered_name,
        pip_requirements=requirements,
    )


def log_metrics(metrics: dict[str, Any]) -> None:
    """Log the finite numeric entries of ``metrics`` (NaN/None skipped)."""
    import mlflow

    clean = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float | np.floating | np.integer) and np.isfinite(v)
    }
    mlflow.log_metrics(clean)
