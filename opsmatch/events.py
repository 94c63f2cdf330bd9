"""The event store's public API: read and append contract tables, versions, stats, maintenance.

Every reader and writer goes through here (``opsmatch.event_store`` holds the SQL). ``where`` is the
settings, a store URL, or an events directory (the embedded SQLite store inside it). Frames are typed
on the way in and out: timestamps are UTC-aware, booleans are bool, JSON columns are strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from opsmatch import event_append
from opsmatch import event_store as es
from opsmatch.contract import TABLES, Column, Table

if TYPE_CHECKING:
    from opsmatch.settings import Settings

_PANDAS_DTYPES = {"str": "string", "int": "Int64", "float": "float64", "bool": "boolean", "json": "string"}
_PANDAS_FROM_ARROW = {
    pa.string(): pd.StringDtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def store_url(where: Settings | str | Path) -> str:
    """The store URL of ``where`` (settings, URL, or an events directory)."""
    if isinstance(where, str) and "://" in where:
        return where
    if isinstance(where, str | Path):
        return es.sqlite_url(Path(where))
    return where.resolved_events_url


def spec(name: str) -> Table:
    """The contract table ``name`` (refused with the known names otherwise)."""
    if name not in TABLES:
        raise es.StoreError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
    return TABLES[name]


def coerce(table: Table, df: pd.DataFrame) -> pd.DataFrame:
    """Cast an already-valid frame to the contract's dtypes and column order."""
    missing = [c.name for c in table.columns if c.name not in df.columns]
    if missing:
        raise es.StoreError(f"{table.name}: refused: missing column(s) {', '.join(missing)}")
    out = {}
    for col in table.columns:
        try:
            out[col.name] = _coerce_column(col, df[col.name])
        except (TypeError, ValueError) as exc:
            raise es.StoreError(
                f"{table.name}: refused: column {col.name} is not {col.dtype} ({exc})"
            ) from exc
    return pd.DataFrame(out).reset_index(drop=True)


def _coerce_column(col: Column, s: pd.Series) -> pd.Series:
    target: Any = "datetime64[us, UTC]" if col.dtype == "timestamp" else _PANDAS_DTYPES[col.dtype]
    if s.dtype == pd.api.types.pandas_dtype(target):  # exact (string storage included)
        return s  # already typed (frames that come back from the store or from ``coerce``)
    if col.dtype == "timestamp":
        return pd.to_datetime(s, utc=True).astype(target)
    return s.astype(target)


def empty_frame(name: str) -> pd.DataFrame:
    """A zero-row frame with the table's columns and dtypes."""
    table = spec(name)
    cols = {}
    for col in table.columns:
        dtype = "datetime64[us, UTC]" if col.dtype == "timestamp" else _PANDAS_DTYPES[col.dtype]
        cols[col.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(cols)


# -- writes ------------------------------------------------------------------------------------------
def append(where: Settings | str | Path, name: str, rows: pd.DataFrame) -> es.Appended:
    """Store the rows whose key is new, atomically and durably (see ``opsmatch.event_store``).

    Raises :class:`~opsmatch.event_store.StoreConflict` (nothing written) when a key is stored with
    other content or appears twice here with different content; ``StoreError`` on a wrong schema.
    """
    table = spec(name)
    batch = event_append.to_arrow(table, coerce(table, rows))
    store = es.store_for(store_url(where))
    if not batch.num_rows:
        return es.Appended(name, 0, 0, 0, current_version(where))
    unique = event_append.distinct_by_key(table, batch)
    with store.writer() as cur:
        got = event_append.insert(store, cur, table, unique)
    return es.Appended(name, batch.num_rows, got.new, batch.num_rows - got.new, got.version, got.new_at)


def append_many(where: Settings | str | Path, frames: Mapping[str, pd.DataFrame]) -> dict[str, es.Appended]:
    """Store several tables' rows in ONE transaction (all or nothing), in the mapping's order: e.g. a
    lifecycle event with the contract row it implies. Same rules and errors as :func:`append`."""
    staged = []
    for name, rows in frames.items():
        table = spec(name)
        batch = event_append.to_arrow(table, coerce(table, rows))
        staged.append((name, table, batch, event_append.distinct_by_key(table, batch)))
    store = es.store_for(store_url(where))
    out: dict[str, es.Appended] = {}
    with store.writer() as cur:
        for name, table, batch, unique in staged:
            if not batch.num_rows:
                continue
            got = event_append.insert(store, cur, table, unique)
            out[name] = es.Appended(
                name, batch.num_rows, got.new, batch.num_rows - got.new, got.version, got.new_at
            )
    for name, *_ in staged:
        if name not in out:
            out[name] = es.Appended(name, 0, 0, 0, current_version(where))
    return out


def append_rows(where: Settings | str | Path, name: str, rows: pd.DataFrame) -> int:
    """Append rows whose key is not yet stored; returns how many were new (idempotent by key)."""
    return append(where, name, rows).new


# -- reads -------------------------------------------------------------------------------------------
def read_table(
    where: Settings | str | Path,
    name: str,
    *,
    version: int | None = None,
    since: int = 0,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Rows of one table in append order: all, or as of ``version``; only those stored after ``since``."""
    table = spec(name)
    cols = [c for c in table.columns if columns is None or c.name in columns]
    arrow = read_arrow(where, name, version=version, since=since, columns=[c.name for c in cols])
    return typed_frame(cols, arrow)


def read_tables(
    where: Settings | str | Path, names: Iterable[str], *, version: int | None = None
) -> dict[str, pd.DataFrame]:
    """Several tables as of one ``version`` (default: the newest now), read in parallel threads (the
    drivers fetch without holding the GIL): the feature build's read."""
    names = list(names)
    version = current_version(where) if version is None else version
    with ThreadPoolExecutor(max_workers=min(4, len(names) or 1)) as pool:
        frames = pool.map(lambda n: read_table(where, n, version=version), names)
        return dict(zip(names, frames, strict=True))


def typed_frame(cols: list[Column], arrow: pa.Table) -> pd.DataFrame:
    """SQL-form Arrow columns -> a contract-typed frame (timestamps from µs, booleans from 0/1)."""
    arrays = {}
    for c in cols:
        a = arrow.column(c.name).cast(es.ARROW_TYPES[c.dtype])
        if c.dtype == "timestamp":
            a = a.cast(pa.timestamp("us", tz="UTC"))
        arrays[c.name] = a
    if not arrays:
        return pd.DataFrame()
    frame = pa.table(arrays).to_pandas(types_mapper=_PANDAS_FROM_ARROW.get)  # contract dtypes directly
    return pd.DataFrame({c.name: _coerce_column(c, frame[c.name]) for c in cols}).reset_index(drop=True)


def read_arrow(
    where: Settings | str | Path,
    name: str,
    *,
    version: int | None = None,
    since: int = 0,
    columns: list[str] | None = None,
) -> pa.Table:
    """The SQL form of a table as Arrow, in append order (timestamps as µs since the epoch)."""
    table = spec(name)
    t = es.SQL_TABLES[name]
    query = sa.select(*(t.c[c] for c in (columns or table.column_names))).where(t.c.version > since)
    if version is not None:
        query = query.where(t.c.version <= version)
    return es.store_for(store_url(where)).query_arrow(query.order_by(t.c.seq))


def store_id(where: Settings | str | Path) -> str:
    """The store's random id, made with its schema (a store rebuilt from scratch gets a new one)."""
    return str(
        es.store_for(store_url(where)).scalar(sa.text("SELECT value FROM ev_meta WHERE name = 'store_id'"))
    )


def current_version(where: Settings | str | Path) -> int:
    """The store's newest committed version (0 when nothing was ever stored)."""
    got = es.store_for(store_url(where)).scalar(sa.select(sa.func.max(es.VERSIONS.c.version)))
    return int(got or 0)


def table_version(where: Settings | str | Path, name: str, upto: int | None = None) -> int:
    """The newest version (at most ``upto``) that added rows to ``name``; 0 if none (an index probe)."""
    v = es.VERSIONS
    query = sa.select(sa.func.max(v.c.version)).where(v.c.table_name == spec(name).name)
    if upto is not None:
        query = query.where(v.c.version <= upto)
    return int(es.store_for(store_url(where)).scalar(query) or 0)


def table_versions(where: Settings | str | Path, upto: int | None = None) -> dict[str, int]:
    """Per table, the newest version (at most ``upto``) that added rows to it; absent if never written."""
    got = {name: table_version(where, name, upto) for name in TABLES}
    return {name: v for name, v in got.items() if v}


def tables_changed(where: Settings | str | Path, since: int) -> dict[str, int]:
    """``{table: newest version}`` of the tables written after version ``since``, in one query on the
    version log (what an incremental reader polls: nothing written, an empty dict)."""
    v = es.VERSIONS
    query = (
        sa.select(v.c.table_name, sa.func.max(v.c.version).label("newest"))
        .where(v.c.version > since)
        .group_by(v.c.table_name)
    )
    rows = es.store_for(store_url(where)).query_arrow(query).to_pylist()
    return {str(r["table_name"]): int(r["newest"]) for r in rows}


def row_count(where: Settings | str | Path, name: str, version: int | None = None) -> int:
    """Rows stored in ``name`` (as of ``version``)."""
    t = es.SQL_TABLES[spec(name).name]
    query = sa.select(sa.func.count()).select_from(t)
    if version is not None:
        query = query.where(t.c.version <= version)
    return int(es.store_for(store_url(where)).scalar(query) or 0)


def newest_time(where: Settings | str | Path, name: str) -> pd.Timestamp | None:
    """The newest value of ``name``'s time column (an index probe), None when empty or untimed."""
    col = spec(name).time_column
    if not col:
        return None
    us = es.store_for(store_url(where)).scalar(sa.select(sa.func.max(es.SQL_TABLES[name].c[col])))
    return None if us is None else pd.Timestamp(int(us), unit="us", tz="UTC")


def lookup(where: Settings | str | Path, name: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The stored rows whose key appears in ``rows`` (a join on the key index), typed like ``read_table``;
    ``rows`` needs only the key columns."""
    table = spec(name)
    if not len(rows):
        return empty_frame(name)
    key_only = dataclasses.replace(table, columns=tuple(table.column(k) for k in table.key))
    keys = event_append.to_arrow(key_only, coerce(key_only, rows[list(table.key)]))
    store = es.store_for(store_url(where))
    with store.connection() as cur:
        found = event_append.stored_for_keys(store, cur, table, keys)
    return typed_frame(list(table.columns), found)


def has_rows(where: Settings | str | Path, name: str) -> bool:
    """Whether ``name`` holds at least one row."""
    t = es.SQL_TABLES[spec(name).name]
    return es.store_for(store_url(where)).scalar(sa.select(t.c.seq).limit(1)) is not None
