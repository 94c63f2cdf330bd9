"""Parse raw contract columns (text from CSV, or typed from Parquet) into the contract's dtypes.

Vectorised over whole columns; each parser returns the parsed values and its errors as
``(row mask, reason)`` pairs for ``opsmatch.validation`` to quarantine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from opsmatch.contract import Column

_TRUE, _FALSE = ("true", "t", "yes", "1", "1.0"), ("false", "f", "no", "0", "0.0")
_BOOLS = dict.fromkeys(_TRUE, True) | dict.fromkeys(_FALSE, False)
_NAN_TEXT = frozenset({"nan", "+nan", "-nan"})
_MAX_EXACT_INT = 2.0**53
_ARROW_STRING = pd.StringDtype("pyarrow")  # vectorised string kernels: several times faster than object


def as_mask(x: object) -> np.ndarray:
    """A boolean numpy mask from a (nullable) boolean Series or array; null counts as False."""
    if isinstance(x, pd.Series):
        return x.fillna(False).to_numpy(dtype=bool)
    return np.asarray(x, dtype=bool)


def _text(s: pd.Series) -> pd.Series:
    """Arrow-backed strings stripped of surrounding whitespace; empty means null."""
    t = s.astype(_ARROW_STRING).str.strip()
    return t.mask(t == "")


Errors = list[tuple[np.ndarray, str | pd.Series]]


def _parse_number(s: pd.Series, integer: bool) -> tuple[pd.Series, Errors]:
    kind = "an integer" if integer else "a number"
    if ptypes.is_bool_dtype(s.dtype):
        return pd.Series(np.nan, index=s.index), [(s.notna().to_numpy(), f"expected {kind}, got a boolean")]
    errors: Errors = []
    if ptypes.is_numeric_dtype(s.dtype):
        num = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
    else:
        txt = _text(s)
        parsed = pd.to_numeric(txt.astype(object), errors="coerce")
        num = pd.Series(np.asarray(parsed, dtype="float64"), index=s.index)
        unparsed = as_mask(txt.notna()) & num.isna().to_numpy()
        is_nan = as_mask(txt.str.lower().isin(_NAN_TEXT))
        errors += [(unparsed & is_nan, "NaN is not allowed"), (unparsed & ~is_nan, f"not {kind}")]
    arr = num.to_numpy()
    infinite = np.isinf(arr)
    errors.append((infinite, "infinite value is not allowed"))
    if integer:
        finite = np.isfinite(arr)
        errors.append((finite & (np.abs(arr) > _MAX_EXACT_INT), "integer too large"))
        errors.append((finite & (arr != np.floor(arr)), "not an integer"))
    return num, errors


def _parse_bool(s: pd.Series) -> tuple[pd.Series, Errors]:
    if ptypes.is_bool_dtype(s.dtype):
        return s.astype("boolean"), []
    txt = _text(s)
    mapped = txt.str.lower().map(_BOOLS)
    bad = as_mask(txt.notna()) & mapped.isna().to_numpy()
    return mapped.astype("boolean"), [(bad, "not a boolean (use true/false or 1/0)")]


def _parse_timestamp(s: pd.Series) -> tuple[pd.Series, Errors]:
    if ptypes.is_datetime64_any_dtype(s.dtype):
        utc = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        return utc, []
    txt = _text(s)
    ts = pd.to_datetime(txt, utc=True, errors="coerce", format="ISO8601")
    bad = as_mask(txt.notna()) & ts.isna().to_numpy()
    return ts, [(bad, "not an ISO-8601 timestamp")]


def _parse_json(s: pd.Series) -> tuple[pd.Series, Errors]:
    cache: dict[str, object] = {}

    def load(v: object) -> object:
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        if not isinstance(v, str):
            return v  # already structured (e.g. a Parquet map/struct)
        if v.strip() == "":
            return None
        if v not in cache:
            try:
                cache[v] = json.loads(v)
            except ValueError as exc:
                cache[v] = _BadJson(f"invalid JSON: {exc}")
        return cache[v]

    objs = pd.Series([load(v) for v in s.to_numpy(dtype=object)], index=s.index, dtype=object)
    is_bad = objs.map(lambda o: isinstance(o, _BadJson)).to_numpy(dtype=bool)
    reasons = objs.map(lambda o: o.reason if isinstance(o, _BadJson) else "")
    return objs.where(~is_bad, None), [(is_bad, reasons)]


@dataclass(frozen=True)
class _BadJson:
    reason: str


def parse_column(col: Column, s: pd.Series) -> tuple[pd.Series, Errors]:
    if col.dtype in ("int", "float"):
        return _parse_number(s, col.dtype == "int")
    if col.dtype == "bool":
        return _parse_bool(s)
    if col.dtype == "timestamp":
        return _parse_timestamp(s)
    if col.dtype == "json":
        return _parse_json(s)
    return _parse_text(s)


def _parse_text(s: pd.Series) -> tuple[pd.Series, Errors]:
    """Strings; a value that is not valid Unicode text (a lone surrogate from JSON or Parquet) is an error."""
    try:
        return _text(s), []
    except UnicodeEncodeError:
        bad = np.array([isinstance(v, str) and not _encodes(v) for v in s.to_numpy(dtype=object)], dtype=bool)
        return _text(s.where(~bad)), [(bad, "not valid UTF-8 text")]


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
