"""Confidence intervals for paired comparisons: Student t on paired units, percentile bootstrap, Welch t."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95
    method: str = "t"

    def contains(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)

    def fmt(self, digits: int = 3, pct: bool = False) -> str:
        """``1.234 [1.100, 1.368]`` (or as percentages)."""
        if pct:
            return (
                f"{self.estimate:+.{max(digits - 2, 1)}%} [{self.low:+.{max(digits - 2, 1)}%}, "
                f"{self.high:+.{max(digits - 2, 1)}%}]"
            )
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def t_interval(values: ArrayLike, level: float = 0.95) -> Interval:
    """Mean with a Student t interval (degenerate with one value: low = high = mean)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, level)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, mean, mean, 1, level)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, level)


def bootstrap_interval(
    values: ArrayLike,
    statistic: Callable[[np.ndarray], float] = np.mean,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of ``statistic`` over the units in ``values``."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, level, "bootstrap")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    boots = np.array([statistic(x[i]) for i in idx])
    lo, hi = np.percentile(boots, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(statistic(x)), float(lo), float(hi), len(x), level, "bootstrap")


def paired_ratio(a: ArrayLike, b: ArrayLike, level: float = 0.95) -> Interval:
    """Mean of the per-unit ratios a_i / b_i with a t interval over the units (e.g. seeds)."""
    num, den = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return t_interval(num / den, level)


def paired_difference(a: ArrayLike, b: ArrayLike, level: float = 0.95) -> Interval:
    """Mean of the per-unit differences a_i - b_i with a t interval."""
    return t_interval(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), level)


def welch_difference(a_values: ArrayLike, b_values: ArrayLike, level: float = 0.95) -> Interval:
    """mean(a) - mean(b) with a Welch t interval (unequal variances, independent samples)."""
    a = np.asarray(a_values, dtype=float)
    b = np.asarray(b_values, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if len(a) < 2 or len(b) < 2:
        return Interval(diff, float("nan"), float("nan"), len(a) + len(b), level, "welch")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return Interval(diff, diff, diff, len(a) + len(b), level, "welch")
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df) * se)
    return Interval(diff, diff - half, diff + half, len(a) + len(b), level, "welch")
