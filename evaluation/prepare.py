"""From nothing to champions: twin history -> feature tables -> Feast -> training frames -> gate.

A convenience for the twin studies (and their tests): every step is the product's own public function
(``simulator.run.generate_history``, ``features.pipeline.build_features``, ``features.store.apply_repo``,
``features.training_frame.build_training_frames``, ``training.train.train_model``,
``training.gate.promote``); nothing here re-implements them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsmatch.settings import Settings

MODELS: tuple[str, ...] = ("handling_time", "qa_pass", "complaint", "complaint_pre")
Progress = Callable[[float, float], None]


@dataclass
class Prepared:
    """What ``prepare_models`` did: history summary, champion versions, test metrics, timings."""

    scenario: str
    days: int
    seed: int
    versions: dict[str, str | None] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)


def prepare_models(
    settings: Settings,
    scenario: str = "default",
    days: int = 90,
    seed: int | None = None,
    *,
    models: Sequence[str] = MODELS,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    num_threads: int | None = None,
    progress: Progress | None = None,
) -> Prepared:
    """Generate ``days`` of history, build and apply the features, train ``models`` and promote them.

    ``overrides`` maps a model to training-parameter overrides (e.g. fewer rounds in tests).
    ``progress(done, total)`` counts the steps (history, features, frames, one per model).
    """
    from features.pipeline import build_features
    from features.spec import feature_columns
    from features.store import apply_repo, build_store
    from features.training_frame import build_training_frames
    from simulator.run import generate_history
    from training.gate import promote
    from training.train import train_model

    seed = settings.seed if seed is None else seed
    total = 3.0 + len(models)
    step = (lambda d: progress(d, total)) if progress else (lambda d: None)
    out = Prepared(scenario, days, seed)
    t = time.perf_counter()

    def lap(name: str, done: float) -> None:
        nonlocal t
        now = time.perf_counter()
        out.seconds[name] = round(now - t, 2)
        t = now
        step(done)

    step(0.0)
    out.history = generate_history(settings, scenario, days, seed=seed).to_dict()
    lap("history", 1.0)
    build_features(settings)
    apply_repo(settings)
    lap("features", 2.0)
    frames = build_training_frames(build_store(settings), settings, tuple(models))
    lap("frames", 3.0)
    for i, model in enumerate(models):
        result = train_model(
            settings,
            model,
            frames[model],
            feature_columns(model),
            overrides=(overrides or {}).get(model),
            num_threads=num_threads,
        )
        decision = promote(settings, model)
        out.versions[model] = result.version if decision.promoted else decision.champion_version
        out.metrics[model] = {k: float(v) for k, v in result.metrics.items()}
        lap(f"train_{model}", 4.0 + i)
    return out


def eval_settings(root: str, **kwargs: Any) -> Settings:
    """Settings with the data dir and a separate MLflow sqlite store under ``root``."""
    from pathlib import Path

    base = Path(root)
    return Settings(
        data_dir=base / "data",
        mlflow_tracking_uri=f"sqlite:///{base}/mlflow.db",
        mlflow_artifact_root=base / "artifacts",
        **kwargs,
    )
