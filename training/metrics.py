"""Evaluation as pure functions of arrays: regression, classification, capacity and oracle figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def _arrays(*xs: Sequence[float] | np.ndarray) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float64) for x in xs]


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    y, pred = _arrays(y, pred)
    return float(np.mean(np.abs(y - pred)))


def mape(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error (as a fraction) over rows with ``y > 0``."""
    y, pred = _arrays(y, pred)
    ok = y > 0
    return float(np.mean(np.abs(y[ok] - pred[ok]) / y[ok]))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    y, pred = _arrays(y, pred)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC; NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    y, p = _arrays(y, p)
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve)."""
    from sklearn.metrics import average_precision_score  # type: ignore[import-untyped]

    y, p = _arrays(y, p)
    return float(average_precision_score(y, p)) if y.sum() > 0 else float("nan")


def brier(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2))


def calibration_bins(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins on [0, 1] (the last one closed): count, mean prediction, observed rate."""
    y, p = _arrays(y, p)
    idx = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(idx, weights=p, minlength=n_bins) / count
        rate = np.bincount(idx, weights=y, minlength=n_bins) / count
    return pd.DataFrame(
        {
            "lo": np.arange(n_bins) / n_bins,
            "hi": np.arange(1, n_bins + 1) / n_bins,
            "count": count,
            "mean_pred": mean_p,
            "observed": rate,
        }
    )


def ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: sum over bins of (share of rows) × |observed rate − mean prediction|."""
    bins = calibration_bins(y, p, n_bins)
    used = bins[bins["count"] > 0]
    return float(np.sum(used["count"] / used["count"].sum() * np.abs(used["observed"] - used["mean_pred"])))


def top_k_per_day(p: np.ndarray, days: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` highest scores of each day (ties keep the earlier row)."""
    p = np.asarray(p, dtype=np.float64)
    order = np.lexsort((np.arange(len(p)), -p, np.asarray(days)))  # by day, score desc, position
    sorted_days = np.asarray(days)[order]
    starts = np.r_[0, np.flatnonzero(sorted_days[1:] != sorted_days[:-1]) + 1]
    rank = np.arange(len(p)) - np.repeat(starts, np.diff(np.r_[starts, len(p)]))
    mask = np.zeros(len(p), dtype=bool)
    mask[order[rank < k]] = True
    return mask


def precision_recall_at_capacity(
    y: np.ndarray, p: np.ndarray, days: np.ndarray, capacity_per_day: int
) -> dict[str, float]:
    """The risk team calls back the top ``capacity_per_day`` tasks of each day: precision and recall."""
    y = np.asarray(y, dtype=np.float64)
    flagged = top_k_per_day(p, days, capacity_per_day)
    hits = float(y[flagged].sum())
    return {
        "precision_at_capacity": hits / float(flagged.sum()) if flagged.any() else float("nan"),
        "recall_at_capacity": hits / float(y.sum()) if y.sum() > 0 else float("nan"),
        "flagged_per_day": float(flagged.sum() / max(len(np.unique(days)), 1)),
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "mae": mae(y, pred),
        "mape": mape(y, pred),
        "r2": r2(y, pred),
        "mean_pred": float(np.mean(pred)),
        "mean_label": float(np.mean(y)),
    }


def classifier_metrics(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    return {
        "auc": auc(y, p),
        "pr_auc": pr_auc(y, p),
        "brier": brier(y, p),
        "ece": ece(y, p, n_bins),
        "mean_pred": float(np.mean(p)),
        "mean_label": float(np.mean(y)),
    }


def oracle_comparison(task: str, y: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Model vs the twin's true expectations on the same rows.

    ``truth`` holds true expected minutes (regression) or true probabilities (binary). Reports the
    oracle's own figure, the model/oracle ratio and how far the model is from the truth itself.
    """
    y, pred, truth = _arrays(y, pred, truth)
    if task == "regression":
        model_mae, oracle_mae = mae(y, pred), mae(y, truth)
        return {
            "oracle_mae": oracle_mae,
            "model_over_oracle_mae": model_mae / oracle_mae,
            "oracle_r2": r2(y, truth),
            "mae_vs_truth": mae(truth, pred),
        }
    model_auc, oracle_auc = auc(y, pred), auc(y, truth)
    return {
        "oracle_auc": oracle_auc,
        "model_over_oracle_auc": model_auc / oracle_auc,
        "oracle_brier": brier(y, truth),
        "mae_vs_truth": mae(truth, pred),
    }
