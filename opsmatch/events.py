"""The event store: one Parquet file per contract table under ``settings.events_dir``.

Typed on the way in and out: timestamps are UTC-aware, booleans are bool, JSON columns are strings.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from opsmatch.contract import TABLES, Column, Table

_PANDAS_DTYPES = {"str": "string", "int": "Int64", "float": "float64", "bool": "boolean", "json": "string"}


def table_path(events_dir: Path, name: str) -> Path:
    """Parquet file that holds contract table ``name``."""
    if name not in TABLES:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
    return Path(events_dir) / f"{name}.parquet"


def coerce(table: Table, df: pd.DataFrame) -> pd.DataFrame:
    """Cast an already-valid frame to the contract's dtypes and column order."""
    out = pd.DataFrame(index=df.index)
    for col in table.columns:
        out[col.name] = _coerce_column(col, df[col.name])
    return out.reset_index(drop=True)


def _coerce_column(col: Column, s: pd.Series) -> pd.Series:
    if col.dtype == "timestamp":
        return pd.to_datetime(s, utc=True).astype("datetime64[us, UTC]")
    return s.astype(_PANDAS_DTYPES[col.dtype])


def empty_frame(name: str) -> pd.DataFrame:
    """A zero-row frame with the table's columns and dtypes."""
    table = TABLES[name]
    cols = {}
    for col in table.columns:
        dtype = "datetime64[us, UTC]" if col.dtype == "timestamp" else _PANDAS_DTYPES[col.dtype]
        cols[col.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(cols)


def read_table(events_dir: Path, name: str) -> pd.DataFrame:
    """Read one table; an absent table is an empty frame with the right columns."""
    path = table_path(events_dir, name)
    if not path.exists():
        return empty_frame(name)
    return coerce(TABLES[name], pd.read_parquet(path))


def write_table(events_dir: Path, name: str, df: pd.DataFrame) -> Path:
    """Replace one table atomically (write to a temp file, then rename)."""
    path = table_path(events_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    coerce(TABLES[name], df).to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def append_rows(events_dir: Path, name: str, rows: pd.DataFrame) -> int:
    """Append rows whose key is not yet stored; returns how many were new (idempotent by key).

    Rewrites the table file (same bytes as ``write_table`` of the concatenation) but stays in Arrow, and
    compares keys only for the stored rows that share a first key value with the new rows: stringifying
    every stored key (a timestamp for worker_status) was most of the cost of an append.
    """
    table = TABLES[name]
    key = list(table.key)
    new = coerce(table, rows)
    path = table_path(events_dir, name)
    stored = pq.read_table(path) if path.exists() else None
    if stored is not None and stored.num_rows:
        new = new[~_stored_keys(table, stored, new)]
    new = new.drop_duplicates(subset=key, keep="first")
    if not len(new):
        return 0
    if stored is None:
        write_table(events_dir, name, new)
        return len(new)
    added = pa.Table.from_pandas(new, preserve_index=False)
    if not stored.schema.equals(added.schema):  # a file not written by this module: normalise it
        stored = pa.Table.from_pandas(coerce(table, stored.to_pandas()), preserve_index=False)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.concat_tables([stored, added]).combine_chunks(), tmp, compression="snappy")
    os.replace(tmp, path)
    return len(new)


def _stored_keys(table: Table, stored: pa.Table, new: pd.DataFrame) -> np.ndarray:
    """Mask of the rows of ``new`` (coerced) whose key ``stored`` already holds (keys compared as str)."""
    cols = {c.name: c for c in table.columns}
    key = list(table.key)
    if cols[key[0]].dtype == "str":  # only stored rows sharing the first key value can match
        values = pa.array(new[key[0]].astype(str).unique(), type=pa.string())
        stored = stored.filter(pc.is_in(stored.column(key[0]).cast(pa.string()), value_set=values))
    if not stored.num_rows:
        return np.zeros(len(new), dtype=bool)
    held = stored.select(key).to_pandas()
    held = pd.DataFrame({k: _coerce_column(cols[k], held[k]) for k in key}).astype(str)
    return pd.MultiIndex.from_frame(new[key].astype(str)).isin(pd.MultiIndex.from_frame(held))
