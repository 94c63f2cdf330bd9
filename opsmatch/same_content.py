"""The event store's one "same content" rule: when are a stored value and a given one the same?

Used where a key arrives again: the append refuses a stored key with other content
(:mod:`opsmatch.event_append`), and file ingestion reports it as a conflict (:mod:`opsmatch.ingest`).
Null equals null; floats are the same within a relative ``FLOAT_RTOL``; JSON texts compare by content
(sorted keys, no spaces); booleans by truth value, whatever their dtype.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

FLOAT_RTOL = 1e-9  # floats closer than this count as the same value when comparing with the store


def canonical_json(obj: object) -> str:
    """JSON text in one canonical spelling (sorted keys, no spaces), so equal content compares equal."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json_text(text: str | None) -> str | None:
    """Canonical spelling of a JSON string (``None`` stays ``None``); used to compare stored values."""
    return None if text is None or pd.isna(text) else canonical_json(json.loads(text))


def _canonical_or_raw(text: object) -> object:
    try:
        return canonical_json_text(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return text  # not JSON: compared as given


def same(dtype: str, a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise: is the content of two aligned columns of contract dtype ``dtype`` the same?"""
    if dtype == "float":
        x, y = a.to_numpy(float, na_value=np.nan), b.to_numpy(float, na_value=np.nan)
        return np.isclose(x, y, rtol=FLOAT_RTOL, atol=0.0, equal_nan=True)
    if dtype == "json":
        a, b = a.map(_canonical_or_raw), b.map(_canonical_or_raw)
    if dtype == "bool":
        a, b = a.astype("boolean"), b.astype("boolean")
    null_a, null_b = a.isna().to_numpy(), b.isna().to_numpy()
    both = ~(null_a | null_b)
    equal = np.zeros(len(a), dtype=bool)
    equal[both] = a.to_numpy(dtype=object)[both] == b.to_numpy(dtype=object)[both]
    return equal | (null_a & null_b)
