"""Data checks at the edge: the champion's reference profile from MLflow, each challenger frame checked.

The checks themselves are pure (``training.data_checks``); this module only finds the reference (the
``data_profile.json`` artifact of the run behind the ``champion`` alias) and the rows a model would train
on (``training.pipeline.usable_rows``), so the comparison sees exactly what training would see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from training.data_checks import CheckReport, CheckThresholds, check_frame
from training.params import load_params
from training.pipeline import usable_rows
from training.registry import CHAMPION, client_for, load_profile, registered_name, version_for_alias
from training.specs import get_spec

if TYPE_CHECKING:
    from opsmatch.settings import Settings


def reference_profile(settings: Settings, model: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(profile, champion version)``; ``None`` for what is missing (no champion, or no stored profile)."""
    client = client_for(settings)
    champion = version_for_alias(client, registered_name(model), CHAMPION)
    if champion is None or champion.run_id is None:
        return None, None
    return load_profile(client, champion.run_id), str(champion.version)


def check_model_frame(
    settings: Settings,
    model: str,
    frame: pd.DataFrame,
    feature_cols: Sequence[str],
    thresholds: CheckThresholds | None = None,
) -> CheckReport:
    """Check the rows ``model`` would train on from ``frame`` against its champion's reference profile."""
    spec = get_spec(model)
    rows, _ = usable_rows(frame, spec, load_params(model))
    reference, version = reference_profile(settings, model)
    report = check_frame(rows, feature_cols, reference, thresholds, model)
    report.figures["champion_version"] = version
    return report


def check_frames(
    settings: Settings,
    frames: Mapping[str, tuple[pd.DataFrame, Sequence[str]]],
    thresholds: CheckThresholds | None = None,
) -> dict[str, CheckReport]:
    """``check_model_frame`` for every model in ``frames`` (``model -> (frame, feature columns)``)."""
    return {m: check_model_frame(settings, m, f, cols, thresholds) for m, (f, cols) in frames.items()}
