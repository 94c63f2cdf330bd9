"""Post-hoc calibration fitted on the validation slice, stored as plain numbers for numpy-only serving.

* ``isotonic``: the step function's thresholds ``x``/``y``; applied with ``np.interp`` (clipped at the
  ends), which is exactly sklearn's ``IsotonicRegression(out_of_bounds="clip").predict``.
* ``platt``: ``sigmoid(a * logit(p) + b)``.
* ``scale``: one multiplicative factor (Duan's smearing, for a regression fitted on log minutes).
* ``none``: identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

_EPS = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass
class Calibrator:
    """A fitted monotone map from raw model output to calibrated output."""

    method: str = "none"
    x: np.ndarray = field(default_factory=lambda: np.empty(0))
    y: np.ndarray = field(default_factory=lambda: np.empty(0))
    a: float = 1.0
    b: float = 0.0

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated values for raw predictions (probabilities, or minutes for ``scale``)."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(raw) + self.b)))
        if self.method == "scale":
            return raw * self.a
        return raw

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": self.x.tolist(), "y": self.y.tolist(), "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(
            data["method"],
            np.asarray(data["x"], dtype=np.float64),
            np.asarray(data["y"], dtype=np.float64),
            float(data["a"]),
            float(data["b"]),
        )


def fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit ``method`` on validation predictions ``raw`` against outcomes ``y``."""
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if method == "none":
        return Calibrator()
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(raw, y)
        return Calibrator(
            "isotonic", np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64)
        )
    if method == "platt":
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

        lr = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y.astype(int))
        return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    if method == "scale":
        return Calibrator("scale", a=float(np.mean(y / np.maximum(raw, _EPS))))
    raise ValueError(f"unknown calibration method {method!r}")
