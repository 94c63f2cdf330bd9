"""Test-slice evaluation of a fitted model: the metric set per task and the plots, as plain files."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from training import metrics as m
from training import plots
from training.params import TrainParams
from training.specs import ModelSpec


def evaluate(
    spec: ModelSpec,
    params: TrainParams,
    y: np.ndarray,
    pred: np.ndarray,
    raw: np.ndarray,
    days: np.ndarray,
    truth: np.ndarray | None = None,
) -> dict[str, float]:
    """The metric set of ``spec`` on the test slice; ``raw`` is the uncalibrated output."""
    if spec.is_classifier:
        out = m.classifier_metrics(y, pred)
        out["ece_raw"] = m.ece(y, raw)
        out["brier_raw"] = m.brier(y, raw)
        if params.capacity_per_day:
            out.update(m.precision_recall_at_capacity(y, pred, days, params.capacity_per_day))
            out["base_rate"] = float(np.mean(y))
    else:
        out = m.regression_metrics(y, pred)
    if truth is not None:
        out.update(m.oracle_comparison(spec.task, y, pred, truth))
    return out


def write_plots(
    spec: ModelSpec, booster: lgb.Booster, y: np.ndarray, pred: np.ndarray, raw: np.ndarray, folder: Path
) -> list[Path]:
    """PNG plots for ``spec`` into ``folder``: importance always; calibration, residuals, gain by task."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = [plots.plot_importance(booster, folder / "feature_importance.png")]
    if spec.is_classifier:
        out.append(plots.plot_calibration(y, pred, folder / "calibration.png", p_raw=raw))
        if spec.name.startswith("complaint"):
            out.append(plots.plot_gain(y, pred, folder / "lift_gain.png"))
    else:
        out.append(plots.plot_residuals(y, pred, folder / "residuals.png"))
    return out
