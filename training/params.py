"""Versioned hyperparameters: ``training/params/<model>.yaml``, with overrides and a content hash."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PARAMS_DIR = Path(__file__).resolve().parent / "params"
_REQUIRED = ("version", "objective", "lightgbm")


@dataclass(frozen=True)
class TrainParams:
    """Effective parameters of one training: the YAML after overrides."""

    model: str
    version: str
    objective: str
    lightgbm: dict[str, Any]
    target_transform: str = "none"  # "none" or "log" (regression only)
    calibration: str = "none"  # "isotonic", "platt" or "none"
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.70, "valid": 0.15, "test": 0.15})
    num_boost_round: int = 2000
    early_stopping_rounds: int = 50
    num_threads: int = 0
    seed: int = 7
    capacity_per_day: int | None = None
    label_maturity_days: float = 0.0
    monotone: dict[str, int] = field(default_factory=dict)
    first_stage: list[str] = field(default_factory=list)  # boosted on these features alone first (fit.py)
    max_train_rows: int | None = None  # above it, a stratified task sample of the training slice (sample.py)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def hash(self) -> str:
        """Short sha256 of the canonical effective parameters (changes with any override)."""
        blob = json.dumps(self.raw, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def flat(self) -> dict[str, Any]:
        """Flat ``key -> value`` view for MLflow ``log_params``."""
        out: dict[str, Any] = {"params_version": self.version, "params_hash": self.hash}
        for key, value in self.raw.items():
            if isinstance(value, Mapping):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            elif key != "version":
                out[key] = value
        return out


def merge_params(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge_params(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def params_from_dict(model: str, raw: Mapping[str, Any]) -> TrainParams:
    """Validate a raw mapping (as read from YAML) into ``TrainParams``."""
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ValueError(f"params for {model!r} miss {', '.join(missing)}")
    known = {f for f in TrainParams.__dataclass_fields__ if f not in ("model", "raw")}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"params for {model!r}: unknown keys {', '.join(unknown)}")
    split = dict(raw.get("split", {"train": 0.70, "valid": 0.15, "test": 0.15}))
    if abs(sum(split.values()) - 1.0) > 1e-9 or set(split) != {"train", "valid", "test"}:
        raise ValueError(f"params for {model!r}: split must be train/valid/test fractions summing to 1")
    kwargs = {k: copy.deepcopy(v) for k, v in raw.items() if k in known}
    kwargs["version"] = str(raw["version"])
    kwargs["split"] = {k: float(v) for k, v in split.items()}
    return TrainParams(model=model, raw=copy.deepcopy(dict(raw)), **kwargs)


def load_params(
    model: str, overrides: Mapping[str, Any] | None = None, params_dir: Path | None = None
) -> TrainParams:
    """Read ``<params_dir>/<model>.yaml`` and apply ``overrides`` (nested dicts merge)."""
    path = Path(params_dir or PARAMS_DIR) / f"{model}.yaml"
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a mapping")
    return params_from_dict(model, merge_params(raw, overrides or {}))


def dump_params(params: TrainParams) -> str:
    """The effective parameters as YAML (e.g. the best trial of a tuning run)."""
    return yaml.safe_dump(params.raw, sort_keys=False)
