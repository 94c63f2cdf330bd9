"""The event store: one Parquet file per contract table under ``settings.events_dir``.

Typed on the way in and out: timestamps are UTC-aware, booleans are bool, JSON columns are strings.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from opsmatch.contract import TABLES, Table

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
        s = df[col.name]
        if col.dtype == "timestamp":
            out[col.name] = pd.to_datetime(s, utc=True).astype("datetime64[us, UTC]")
        else:
            out[col.name] = s.astype(_PANDAS_DTYPES[col.dtype])
    return out.reset_index(drop=True)


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
    """Append rows whose key is not yet stored; returns how many were new (idempotent by key)."""
    table = TABLES[name]
    current = read_table(events_dir, name)
    new = coerce(table, rows)
    if len(current):
        key = list(table.key)
        seen = pd.MultiIndex.from_frame(current[key].astype(str))
        mask = ~pd.MultiIndex.from_frame(new[key].astype(str)).isin(seen)
        new = new[mask]
    new = new.drop_duplicates(subset=list(table.key), keep="first")
    if len(new):
        write_table(events_dir, name, pd.concat([current, new], ignore_index=True))
    return len(new)
