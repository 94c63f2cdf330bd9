"""The serving form: what serving loads fast, without MLflow pyfunc.

One folder with ``model.txt`` (native LightGBM booster), ``encoder.json`` (feature order + category
codes), ``calibrator.json`` (plain threshold arrays) and ``meta.json`` (model, registry version, params
version, training time range). ``ServingModel.predict`` runs the booster on numpy with one thread and
applies the calibrator with numpy only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.calibration import Calibrator
from training.encoder import FeatureEncoder

if TYPE_CHECKING:
    from opsmatch.settings import Settings

FORMAT_VERSION = 1
ARTIFACT_DIR = "serving_form"  # run-artifact folder that holds the serving form
_FILES = ("model.txt", "encoder.json", "calibrator.json", "meta.json")


@dataclass
class ServingModel:
    """Booster + encoder + calibrator: ``predict`` gives calibrated probabilities or expected minutes."""

    booster: lgb.Booster
    encoder: FeatureEncoder
    calibrator: Calibrator
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return list(self.encoder.features)

    @property
    def version(self) -> str | None:
        """Registry version (``None`` for a model not registered yet)."""
        return self.meta.get("version")

    @property
    def model(self) -> str:
        return str(self.meta.get("model", ""))

    @property
    def task(self) -> str:
        return str(self.meta.get("task", "binary"))

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The float64 matrix for raw feature columns (categories -> training-time codes)."""
        return self.encoder.transform(frame)

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The matrix for rows given as mappings (``feature -> raw value``), e.g. cached profiles."""
        return self.encoder.transform_records(records)

    def predict_raw(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Uncalibrated output on the label's scale (probability, or minutes)."""
        pred = np.asarray(self.booster.predict(np.asarray(X, dtype=np.float64), num_threads=num_threads))
        return np.exp(pred) if self.meta.get("target_transform") == "log" else pred

    def predict(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Calibrated probability (classifiers) or expected minutes (handling time)."""
        return self.calibrator.apply(self.predict_raw(X, num_threads))

    def predict_frame(self, frame: pd.DataFrame, num_threads: int = 1) -> np.ndarray:
        return self.predict(self.encode(frame), num_threads)

    def contributions(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """SHAP contributions in raw-score space: ``(rows, features + 1)``, last column the bias."""
        X = np.asarray(X, dtype=np.float64)
        return np.asarray(self.booster.predict(X, pred_contrib=True, num_threads=num_threads))

    def save(self, path: Path) -> Path:
        """Write the four files into ``path`` (created) and return it."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path / "model.txt"))
        self.encoder.save(path / "encoder.json")
        (path / "calibrator.json").write_text(json.dumps(self.calibrator.to_dict()))
        meta = {**self.meta, "format_version": FORMAT_VERSION, "feature_names": self.feature_names}
        (path / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
        return path


def load_serving_model(path: Path) -> ServingModel:
    """Load a serving-form folder; checks the booster's features match the encoder's order."""
    path = Path(path)
    missing = [f for f in _FILES if not (path / f).exists()]
    if missing:
        raise FileNotFoundError(f"{path} is not a serving form: missing {', '.join(missing)}")
    booster = lgb.Booster(model_file=str(path / "model.txt"))
    encoder = FeatureEncoder.load(path / "encoder.json")
    calibrator = Calibrator.from_dict(json.loads((path / "calibrator.json").read_text()))
    meta = json.loads((path / "meta.json").read_text())
    if booster.feature_name() != encoder.features:
        raise ValueError(f"{path}: booster features differ from the encoder's feature order")
    return ServingModel(booster, encoder, calibrator, meta)


def _download_once(client: Any, run_id: str, target: Path) -> Path:
    """Download the run's serving form into ``target`` atomically (tmp dir + rename)."""
    if (target / "meta.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=target.parent))
    try:
        local = Path(client.download_artifacts(run_id, ARTIFACT_DIR, str(tmp)))
        try:
            os.replace(local, target)
        except OSError:  # another process won the race
            if not (target / "meta.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_alias(settings: Settings, model: str, alias: str, cache_dir: Path | None = None) -> ServingModel:
    """The serving form of the version behind ``alias``, cached locally by version and run."""
    from training.registry import client_for, registered_name, version_for_alias

    client = client_for(settings)
    name = registered_name(model)
    mv = version_for_alias(client, name, alias)
    if mv is None or mv.run_id is None:
        raise LookupError(f"{name} has no {alias!r} version with a run")
    cache = Path(cache_dir or settings.data_dir / "model_cache")
    target = cache / name / f"v{mv.version}-{mv.run_id[:12]}"
    sm = load_serving_model(_download_once(client, mv.run_id, target))
    sm.meta["version"] = str(mv.version)
    sm.meta["alias"] = alias
    return sm


def load_champion(settings: Settings, model: str, cache_dir: Path | None = None) -> ServingModel:
    """The current champion's serving form (downloaded once per version, then read from the cache)."""
    return load_alias(settings, model, "champion", cache_dir)
