"""Training frames from the Feast store (``features.training_frame``), and training straight from it.

The feature stage must have run first (``features.pipeline.build_features`` + ``features.store.apply_repo``).
Model-vs-oracle figures are computed by the caller (evaluation reads the twin's truth) and handed in as
``truth``: training never reads the twin itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.specs import MODEL_NAMES

TruthFn = Callable[[str, pd.DataFrame], np.ndarray]
"""``(model, frame) -> true expectation per row``: evaluation's oracle, handed in by the caller."""

Frames = Mapping[str, tuple[pd.DataFrame, list[str]]]
"""``model -> (point-in-time frame, feature columns)``, as ``training_frames`` returns."""

if TYPE_CHECKING:
    from opsmatch.settings import Settings
    from training.train import TrainResult
    from training.tune import TuneResult


def training_frames(
    settings: Settings, models: Sequence[str] = MODEL_NAMES, assignments: pd.DataFrame | None = None
) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """``model -> (point-in-time frame, feature columns)`` with one historical retrieval for all models."""
    from features.spec import feature_columns
    from features.store import build_store
    from features.training_frame import build_training_frames

    built = build_training_frames(build_store(settings), settings, tuple(models), assignments)
    return {m: (built[m], feature_columns(m)) for m in models}


def train_from_store(
    settings: Settings,
    models: Sequence[str] = MODEL_NAMES,
    *,
    truth: TruthFn | None = None,
    frames: Frames | None = None,
    **kwargs: Any,
) -> dict[str, TrainResult]:
    """Build the frames and train every model in ``models`` (each a new ``challenger``).

    ``truth(model, frame)`` (from evaluation, when the twin's truth is present) gives each row's true
    expectation, so each run also logs model-vs-oracle figures.
    ``frames``: already built by ``training_frames`` (a caller that trains in several calls retrieves
    once). ``kwargs`` go to ``train_model`` (e.g. ``num_threads``, ``overrides``).
    """
    from training.train import train_all

    frames = {m: frames[m] for m in models} if frames is not None else training_frames(settings, models)
    truths = {m: truth(m, frame) for m, (frame, _) in frames.items()} if truth is not None else {}
    return train_all(settings, frames, truths, **kwargs)


def tune_from_store(
    settings: Settings, model: str, n_trials: int, *, frames: Frames | None = None, **kwargs: Any
) -> TuneResult:
    """``tune`` on the model's Feast training frame (taken from ``frames`` when given)."""
    from training.tune import tune

    frame, cols = (frames or training_frames(settings, [model]))[model]
    return tune(settings, model, frame, cols, n_trials, **kwargs)
