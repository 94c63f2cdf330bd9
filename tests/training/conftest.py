"""Fixtures for training tests: synthetic frames and throw-away MLflow stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opsmatch.settings import Settings
from tests.factories.frames import SynthFrame, make_frame


def store_settings(root: Path) -> Settings:
    """Settings whose MLflow store and data dir live under ``root``."""
    return Settings(
        data_dir=root,
        mlflow_tracking_uri=f"sqlite:///{root}/mlflow.db",
        mlflow_artifact_root=root / "artifacts",
    )


@pytest.fixture(scope="session")
def synth() -> SynthFrame:
    return make_frame(n_rows=8000, days=90, seed=0)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow sqlite database (creating one costs seconds; copying it, nothing)."""
    from training.registry import client_for

    root = tmp_path_factory.mktemp("mlflow-template")
    client_for(store_settings(root)).search_experiments()
    return root / "mlflow.db"


@pytest.fixture
def settings(tmp_path: Path, empty_store: Path) -> Settings:
    """A fresh MLflow store for one test."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    return store_settings(tmp_path)
