"""Evaluation plots as PNG files (matplotlib ``Figure`` objects with the Agg canvas; no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from training.metrics import calibration_bins


def new_figure(width: float = 7.0, height: float = 4.5, cols: int = 1):  # noqa: ANN202 - matplotlib types
    """A Figure on the Agg canvas (no pyplot, no global backend switch) and its ``cols`` axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, cols)


def plot_importance(booster: lgb.Booster, path: Path, top: int = 25) -> Path:
    """Horizontal bars of total split gain per feature (the ``top`` largest)."""
    gain = booster.feature_importance(importance_type="gain")
    names = np.asarray(booster.feature_name())
    order = np.argsort(gain)[::-1][:top][::-1]
    fig, ax = new_figure(7, max(3.0, 0.28 * len(order) + 1))
    ax.barh(names[order], gain[order], color="#3b6ea5")
    ax.set_xlabel("total gain")
    ax.set_title("feature importance (gain)")
    fig.savefig(path)
    return Path(path)


def plot_calibration(y: np.ndarray, p_cal: np.ndarray, path: Path, p_raw: np.ndarray | None = None) -> Path:
    """Reliability diagram (10 equal-width bins): observed rate vs mean prediction, raw and calibrated."""
    fig, ax = new_figure(5.5, 5)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    curves = [("calibrated", p_cal, "#c0392b")] + ([("raw", p_raw, "#7f8c8d")] if p_raw is not None else [])
    for label, p, color in curves:
        bins = calibration_bins(y, p)
        bins = bins[bins["count"] > 0]
        ax.plot(bins["mean_pred"], bins["observed"], marker="o", color=color, label=label)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("calibration (test slice)")
    ax.legend()
    fig.savefig(path)
    return Path(path)


def plot_residuals(y: np.ndarray, pred: np.ndarray, path: Path, max_points: int = 20_000) -> Path:
    """Predicted vs actual minutes (log-log) and the distribution of log residuals."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(y), size=min(len(y), max_points), replace=False)
    fig, (ax1, ax2) = new_figure(10, 4.5, cols=2)
    ax1.scatter(pred[idx], y[idx], s=3, alpha=0.25, color="#3b6ea5")
    lo, hi = max(min(pred.min(), y.min()), 1e-2), max(pred.max(), y.max())
    ax1.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=1)
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="predicted minutes",
        ylabel="actual minutes",
        title="predicted vs actual",
    )
    ax2.hist(np.log(np.maximum(y, 1e-2) / np.maximum(pred, 1e-2)), bins=60, color="#3b6ea5")
    ax2.set(xlabel="log(actual / predicted)", ylabel="rows", title="residuals")
    fig.savefig(path)
    return Path(path)


def plot_gain(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    """Cumulative gain curve (share of complaints caught vs share of tasks reviewed) and decile lift."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    order = np.argsort(-p, kind="stable")
    caught = np.cumsum(y[order]) / max(y.sum(), 1.0)
    share = np.arange(1, len(y) + 1) / len(y)
    deciles = np.array_split(y[order], 10)
    lift = [d.mean() / max(y.mean(), 1e-12) for d in deciles]
    fig, (ax1, ax2) = new_figure(10, 4.5, cols=2)
    ax1.plot(np.r_[0, share], np.r_[0, caught], color="#c0392b", label="model")
    ax1.plot([0, 1], [0, 1], ls="--", color="grey", label="random")
    ax1.set(xlabel="share of tasks reviewed", ylabel="share of complaints caught", title="cumulative gain")
    ax1.legend()
    ax2.bar(np.arange(1, 11), lift, color="#c0392b")
    ax2.axhline(1.0, color="grey", ls="--", lw=1)
    ax2.set(xlabel="risk decile (1 = highest)", ylabel="lift", title="lift by decile")
    fig.savefig(path)
    return Path(path)
