"""The only door from training to the twin's hidden truth -- for evaluation, never for fitting.

``truth_for_frame`` asks ``simulator.truth.expected_outcomes`` for the true expectations of the rows of a
training frame and returns the array ``train_model(..., truth=...)`` takes (aligned with the frame's rows).
Nothing else in ``training/`` imports ``simulator``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from opsmatch.settings import Settings

# Column of ``expected_outcomes``' result holding each model's true expectation.
TRUTH_COLUMN: dict[str, str] = {
    "handling_time": "expected_minutes",
    "qa_pass": "p_pass",
    "complaint": "p_complaint",
    "complaint_pre": "p_complaint",
}


def truth_for_frame(settings: Settings, model: str, frame: pd.DataFrame) -> np.ndarray:
    """True expected minutes / P(pass) / P(complaint) for each row of ``frame`` (same order)."""
    from simulator.truth import expected_outcomes  # evaluation only

    # Only the pair: the truth then uses the realised conditions of the worker who did the task, and no
    # frame column that happens to share a name with one of its optional inputs can override them.
    expected = expected_outcomes(settings, frame[["task_id", "worker_id"]])
    if len(expected) != len(frame):
        raise ValueError(f"truth has {len(expected)} rows for a frame of {len(frame)}")
    return expected[TRUTH_COLUMN[model]].to_numpy(dtype=np.float64)
