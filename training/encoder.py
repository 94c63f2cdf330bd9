"""Deterministic feature encoding: string categories -> stable int codes, everything -> a float64 matrix.

The fitted mapping is plain JSON saved beside the booster, so serving encodes exactly as training did.
Codes are the position of the category in its sorted list; unknown or missing values become NaN, which
LightGBM treats as missing for categorical features.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

_SMALL = 64  # rows below which the per-value path beats pandas' vectorised one


def _is_categorical(s: pd.Series) -> bool:
    return not (is_numeric_dtype(s) or is_bool_dtype(s)) or isinstance(s.dtype, pd.CategoricalDtype)


@dataclass
class FeatureEncoder:
    """Feature order plus one sorted category list per categorical column."""

    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    _lookups: dict[str, dict[str, int]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, features: Sequence[str], categorical: Sequence[str] | None = None
    ) -> FeatureEncoder:
        """Learn the categories of ``categorical`` (default: every non-numeric column) from ``frame``."""
        missing = [c for c in features if c not in frame]
        if missing:
            raise KeyError(f"frame lacks feature columns: {', '.join(missing)}")
        if categorical is None:
            categorical = [c for c in features if _is_categorical(frame[c])]
        cats = list(categorical)
        categories = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in cats}
        return cls(list(features), categories)

    @property
    def categorical_features(self) -> list[str]:
        return [c for c in self.features if c in self.categories]

    @property
    def categorical_indices(self) -> list[int]:
        """Column positions LightGBM must treat as categorical."""
        return [i for i, c in enumerate(self.features) if c in self.categories]

    def mapping(self, column: str) -> dict[str, int]:
        """``category -> code`` of one categorical column."""
        lookup = self._lookups.get(column)
        if lookup is None:
            lookup = self._lookups[column] = {v: i for i, v in enumerate(self.categories[column])}
        return lookup

    def encode_value(self, column: str, value: Any) -> float:
        """One value as the float LightGBM sees (the per-row path; same result as ``encode_column``)."""
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return np.nan
        if column in self.categories:
            return float(self.mapping(column).get(str(value), np.nan))
        try:
            return float(value)
        except (TypeError, ValueError):
            return np.nan

    def encode_column(self, column: str, values: Any) -> np.ndarray:
        """One column as float64: codes for a categorical one (NaN when unknown), numbers otherwise."""
        if len(values) <= _SMALL:  # pandas machinery costs ~100 µs a column; plain Python is faster here
            return np.array([self.encode_value(column, v) for v in list(values)], dtype=np.float64)
        s = values if isinstance(values, pd.Series) else pd.Series(values)
        if column in self.categories:
            codes = pd.Categorical(s.astype("string"), categories=self.categories[column]).codes
            out = codes.astype(np.float64)
            out[codes < 0] = np.nan
            return out
        return pd.to_numeric(s, errors="coerce").astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The ``(rows, features)`` float64 matrix in the fitted feature order."""
        missing = [c for c in self.features if c not in frame]
        if missing:
            raise KeyError(f"frame lacks feature columns: {', '.join(missing)}")
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, col in enumerate(self.features):
            out[:, j] = self.encode_column(col, frame[col])
        return out

    def transform_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The matrix for rows given as mappings (e.g. in-memory profiles); absent keys are missing."""
        return np.array(
            [[self.encode_value(c, r.get(c)) for c in self.features] for r in records], dtype=np.float64
        ).reshape(len(records), len(self.features))

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The encoded matrix as a DataFrame with the feature names (MLflow signatures, pyfunc)."""
        return pd.DataFrame(self.transform(frame), columns=self.features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        return cls(list(data["features"]), {k: list(v) for k, v in data["categories"].items()})

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> FeatureEncoder:
        return cls.from_dict(json.loads(Path(path).read_text()))
