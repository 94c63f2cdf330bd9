"""Pin a table by its values: discrete columns exactly, continuous ones within a stated tolerance.

numpy's SIMD transcendental functions (exp, log, ...) differ in the last bits between CPU paths (AVX2 vs
AVX-512), so a float the twin draws may differ by ~1e-15 relative from one x86-64 machine to another,
and a nanosecond timestamp built from it by a microsecond. A byte hash of every float is therefore not
reproducible across machines; this pin is:

- **exactly**: the row count, column names and dtypes, every discrete column (ids, categories, ints,
  booleans, strings) and where every value is missing, in row order (one sha256);
- **within a tolerance**: each float column through ``PROJECTIONS`` fixed random projections
  (sum over rows of w_i * x_i, w_i uniform in [-1, 1] from a seeded PCG64, summed exactly by
  ``math.fsum``, so no summation order enters), each within ``FLOAT_RTOL`` of
  the column's L1 mass; each timestamp column the same way in seconds, within ``TIME_ATOL_S`` seconds.
  One value moved by more than that is caught; last-bit noise (observed 1e-15 relative) is not.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd

PROJECTIONS = 4
FLOAT_RTOL = 1e-9  # of the column's L1 mass, per projection
TIME_ATOL_S = 0.01  # seconds, per projection
ORIGIN = pd.Timestamp("2026-01-01", tz="UTC")  # timestamps are projected as seconds since then


def _kind(s: pd.Series) -> str:
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "time"
    if pd.api.types.is_float_dtype(s.dtype):
        return "float"
    return "discrete"


def _values(s: pd.Series, kind: str) -> np.ndarray:
    if kind == "time":
        t = pd.to_datetime(s, utc=True)
        return ((t - ORIGIN).dt.total_seconds()).fillna(0.0).to_numpy(dtype=np.float64)
    return s.astype("float64").fillna(0.0).to_numpy(dtype=np.float64)


def _weights(n: int) -> np.ndarray:
    return np.random.default_rng(20261206).uniform(-1.0, 1.0, size=(PROJECTIONS, n))


def pin_frame(df: pd.DataFrame) -> dict[str, Any]:
    """The pin of one table: an exact digest of its discrete part, projections of its continuous part."""
    df = df.reset_index(drop=True)
    kinds = {str(c): _kind(df[c]) for c in df.columns}
    h = hashlib.sha256(f"{len(df)}|{sorted(kinds.items())}".encode())
    discrete = [c for c in df.columns if kinds[str(c)] == "discrete"]
    if discrete:
        h.update(pd.util.hash_pandas_object(df[discrete], index=False).to_numpy().tobytes())
    h.update(df.isna().to_numpy().tobytes())
    w = _weights(len(df))
    continuous = {
        str(c): {"kind": kinds[str(c)], "mass": math.fsum(np.abs(x)), "proj": [math.fsum(r * x) for r in w]}
        for c in df.columns
        if kinds[str(c)] != "discrete"
        for x in [_values(df[c], kinds[str(c)])]
    }
    return {"rows": len(df), "discrete_sha256": h.hexdigest(), "continuous": continuous}


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs between two pins beyond the tolerance (empty: the same within it)."""
    out = []
    for key in ("rows", "discrete_sha256"):
        if expected[key] != got[key]:
            out.append(f"{key}: {expected[key]} expected, {got[key]} got")
    for col, exp in expected["continuous"].items():
        now = got["continuous"].get(col)
        if now is None:
            out.append(f"{col}: missing")
            continue
        tol = TIME_ATOL_S if exp["kind"] == "time" else FLOAT_RTOL * max(exp["mass"], 1e-300)
        worst = max(abs(a - b) for a, b in zip(exp["proj"], now["proj"], strict=True))
        if worst > tol:
            out.append(f"{col}: a projection differs by {worst:.3g} (tolerance {tol:.3g})")
    return out
