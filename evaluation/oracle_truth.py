"""The twin's hidden truth for the rows of a training frame: the oracle side of model-vs-oracle figures.

Only evaluation reads the truth. Callers that train (the retrain loop, the CLI) ask ``oracle_for`` for a
``(model, frame) -> true expectations`` function and hand it to ``training.frames.train_from_store``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.truth import expected_outcomes

if TYPE_CHECKING:
    from opsmatch.settings import Settings

# Column of ``expected_outcomes``' result holding each model's true expectation.
TRUTH_COLUMN: dict[str, str] = {
    "handling_time": "expected_minutes",
    "qa_pass": "p_pass",
    "complaint": "p_complaint",
    "complaint_pre": "p_complaint",
}


def has_truth(settings: Settings) -> bool:
    """Whether the data dir holds the twin's hidden truth (so oracle figures can be computed)."""
    return settings.truth_dir.is_dir() and any(settings.truth_dir.iterdir())


def truth_for_frame(settings: Settings, model: str, frame: pd.DataFrame) -> np.ndarray:
    """True expected minutes / P(pass) / P(complaint) for each row of ``frame`` (same order)."""
    # Only the pair: the truth then uses the realised conditions of the worker who did the task, and no
    # frame column that happens to share a name with one of its optional inputs can override them.
    expected = expected_outcomes(settings, frame[["task_id", "worker_id"]])
    if len(expected) != len(frame):
        raise ValueError(f"truth has {len(expected)} rows for a frame of {len(frame)}")
    return expected[TRUTH_COLUMN[model]].to_numpy(dtype=np.float64)


def oracle_for(settings: Settings) -> Callable[[str, pd.DataFrame], np.ndarray] | None:
    """The truth function for ``train_from_store(truth=...)``, or None when there is no twin truth."""
    if not has_truth(settings):
        return None
    return lambda model, frame: truth_for_frame(settings, model, frame)
