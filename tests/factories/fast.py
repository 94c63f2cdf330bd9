"""Fast training parameters for tests that check behaviour, not accuracy: small boosters, few rounds.

``FAST`` overrides ``training/params/<model>.yaml`` (``train_model(..., overrides=FAST)``); ``fast_params``
writes the overridden files into a folder for code that reads ``training.params.PARAMS_DIR`` itself (the
retraining loop): point ``training.params.PARAMS_DIR`` there (``monkeypatch.setattr``).
"""

from __future__ import annotations

from pathlib import Path

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
