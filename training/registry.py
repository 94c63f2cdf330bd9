"""MLflow model-registry helpers: names, aliases, and the artifacts a registered version points to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from training.specs import get_spec

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from opsmatch.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"
HOLDOUT_ARTIFACT = "holdout/test.parquet"
PROFILE_ARTIFACT = "data_profile.json"  # reference profile of the rows a run trained on (data_checks)


def registered_name(model: str) -> str:
    """``opsmatch-<model>`` (registered model and experiment name)."""
    return get_spec(model).registered_name


def client_for(settings: Settings) -> MlflowClient:
    """A client on the settings' tracking/registry store (also made the process-wide default)."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return mlflow.MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri
    )


def experiment_named(client: MlflowClient, settings: Settings, name: str) -> str:
    """Id of the experiment ``name``; created with its artifacts under ``settings.mlflow_artifact_root``."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    location = (Path(settings.mlflow_artifact_root).resolve() / name).as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def version_for_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version behind ``alias``, or ``None`` when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def delete_alias(client: MlflowClient, name: str, alias: str) -> None:
    """Remove ``alias`` if it is set."""
    if version_for_alias(client, name, alias) is not None:
        client.delete_registered_model_alias(name, alias)


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """``alias -> version`` of a registered model (empty when it does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}
    except MlflowException:
        return {}


def load_profile(client: MlflowClient, run_id: str) -> dict[str, Any] | None:
    """The data profile a run stored, or ``None`` when it has none (runs from before profiles)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, PROFILE_ARTIFACT, tmp)
            loaded = json.loads(Path(local).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError):
            return None
    return loaded if isinstance(loaded, dict) else None


def load_holdout(client: MlflowClient, run_id: str, dst: Path) -> pd.DataFrame:
    """The test slice a run was evaluated on (raw features, labels, timestamps)."""
    local = client.download_artifacts(run_id, HOLDOUT_ARTIFACT, str(dst))
    return pd.read_parquet(local)
