"""Fast training parameters for tests that check behaviour, not accuracy: small boosters, few rounds.

``FAST`` overrides ``training/params/<model>.yaml`` (``train_model(..., overrides=FAST)``); ``fast_params``
writes the overridden files into a folder for code that reads ``training.params.PARAMS_DIR`` itself (the
retraining loop): ``fast_training(folder)`` points ``training.params.PARAMS_DIR`` there for a block (a
module fixture's retrains); a child process (``apps.retrain`` run by a test) reads ``RUNNER_PRELUDE``.
Use them wherever a test checks the loop's behaviour (gate verdicts, locks, alerts), not a model's quality.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import training.params
from training.params import PARAMS_DIR, dump_params, load_params
from training.specs import MODEL_NAMES

FAST = {
    "num_boost_round": 60,
    "early_stopping_rounds": 10,
    "lightgbm": {"num_leaves": 15, "min_data_in_leaf": 20},
}


def fast_params(folder: Path) -> Path:
    """``<folder>/<model>.yaml`` for every model: the shipped parameters with ``FAST`` applied."""
    folder.mkdir(parents=True, exist_ok=True)
    for model in MODEL_NAMES:
        params = load_params(model, FAST, params_dir=PARAMS_DIR)
        (folder / f"{model}.yaml").write_text(dump_params(params))
    return folder


ENV = "OPSMATCH_TEST_PARAMS_DIR"
# Python code a test's child process runs first: the fast parameters of ``ENV`` (when set).
RUNNER_PRELUDE = (
    "import os, pathlib, training.params; "
    f"training.params.PARAMS_DIR = pathlib.Path(os.environ.get({ENV!r}) or training.params.PARAMS_DIR); "
)


@contextmanager
def fast_training(folder: Path) -> Iterator[Path]:
    """``training.params.PARAMS_DIR`` at ``fast_params(folder)`` for the block; yields that folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training.params, "PARAMS_DIR", fast_params(folder))
        yield folder
