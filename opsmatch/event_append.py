"""One idempotent append: the batch goes into a temporary table, is joined against the key index, and
the rows whose key is new are copied into the table under the next version, all in one transaction.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from opsmatch.contract import Table
from opsmatch.event_store import ARROW_TYPES, INCOMING, VERSIONS, Appended, Store, StoreConflict, sql_name
from opsmatch.same_content import same

ORD = "ev_ord"  # position of a row in the batch: keeps append order in ``seq``


def _q(name: str) -> str:
    return f'"{name}"'


def to_arrow(spec: Table, frame: pd.DataFrame) -> pa.Table:
    """A contract-typed frame (``events.coerce``) in the store's SQL form: timestamps as µs since epoch."""
    arrays = {}
    for col in spec.columns:
        s = frame[col.name]
        if col.dtype == "timestamp":
            arr = pa.array(s.astype("datetime64[us, UTC]"), from_pandas=True).cast(pa.int64())
        else:
            arr = pa.array(s, from_pandas=True).cast(ARROW_TYPES[col.dtype])
        arrays[col.name] = arr
    return pa.table(arrays)


def distinct_by_key(spec: Table, batch: pa.Table) -> pa.Table:
    """The batch with repeated keys dropped (first kept); the same key with other content is refused."""
    if batch.num_rows < 2 or batch.group_by(list(spec.key)).aggregate([]).num_rows == batch.num_rows:
        return batch
    df = batch.to_pandas()
    key = list(spec.key)
    dup = df.duplicated(subset=key, keep="first").to_numpy()
    if not dup.any():
        return batch
    first = df[~dup].set_index(key)
    again = df[dup]
    stored = first.loc[pd.MultiIndex.from_frame(again[key]) if len(key) > 1 else again[key[0]]]
    _raise_on_difference(
        spec, stored.reset_index(), again.reset_index(drop=True), where="earlier in this batch"
    )
    return pa.Table.from_pandas(df[~dup], preserve_index=False).cast(batch.schema)


def _raise_on_difference(spec: Table, stored: pd.DataFrame, given: pd.DataFrame, where: str = "") -> None:
    for col in spec.columns:
        if col.name in spec.key:
            continue
        bad = np.flatnonzero(~same(col.dtype, stored[col.name], given[col.name]))
        if len(bad):
            i = int(bad[0])
            dtypes = {c.name: c.dtype for c in spec.columns}
            key = {k: _shown(dtypes[k], given[k].iloc[i]) for k in spec.key}
            s, g = _shown(col.dtype, stored[col.name].iloc[i]), _shown(col.dtype, given[col.name].iloc[i])
            err = StoreConflict(spec.name, key, col.name, s, g)
            if where:
                err.args = (str(err).replace("is already stored", f"appears {where}"),)
            raise err


def _shown(dtype: str, v: Any) -> Any:
    """A SQL-form value as the contract shows it (timestamps in ISO 8601, booleans as bool)."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    v = v.item() if hasattr(v, "item") else v
    if dtype == "timestamp":
        return pd.Timestamp(int(v), unit="us", tz="UTC").isoformat()
    return bool(v) if dtype == "bool" else v


def insert(store: Store, cur: Any, spec: Table, batch: pa.Table) -> Appended:
    """Inside ``store.writer()``: store the batch's rows whose key is new, under the next version."""
    n = batch.num_rows
    target, cols = _q(sql_name(spec.name)), [_q(c.name) for c in spec.columns]
    cur.execute(f"DROP TABLE IF EXISTS {'temp.' if store.kind == 'sqlite' else ''}{INCOMING}")
    staged = batch.append_column(ORD, pa.array(np.arange(n, dtype=np.int64)))
    cur.adbc_ingest(INCOMING, staged, mode="create", temporary=True)
    on = " AND ".join(f"e.{_q(k)} = i.{_q(k)}" for k in spec.key)
    cur.execute(
        f"SELECT i.{ORD}, {', '.join('e.' + c for c in cols)} FROM {INCOMING} i JOIN {target} e ON {on}"
    )
    matched = cur.fetch_arrow_table()
    if matched.num_rows:
        stored = matched.to_pandas()
        given = batch.take(pa.array(stored[ORD].to_numpy())).to_pandas()
        _raise_on_difference(spec, stored, given)
    cur.execute(f"SELECT COALESCE(MAX(version), 0) FROM {VERSIONS.name}")
    version = int(cur.fetchone()[0]) + 1
    cur.fetchall()
    new = n - matched.num_rows
    if new:
        cur.execute(
            f"INSERT INTO {target} (version, {', '.join(cols)}) "
            f"SELECT {version}, {', '.join('i.' + c for c in cols)} FROM {INCOMING} i "
            f"WHERE NOT EXISTS (SELECT 1 FROM {target} e WHERE {on}) ORDER BY i.{ORD}"
        )
        now_us = int(time.time() * 1e6)
        cur.execute(
            f"INSERT INTO {VERSIONS.name} (version, table_name, rows, committed_at) "
            f"VALUES ({version}, '{spec.name}', {new}, {now_us})"
        )
    cur.execute(f"DROP TABLE {'temp.' if store.kind == 'sqlite' else ''}{INCOMING}")
    old = set(matched.column(ORD).to_pylist()) if matched.num_rows else set()
    new_at = tuple(i for i in range(n) if i not in old)
    return Appended(spec.name, n, new, n - new, version if new else version - 1, new_at)


def stored_for_keys(store: Store, cur: Any, spec: Table, keys: pa.Table) -> pa.Table:
    """Stored rows (SQL form) whose key is in ``keys`` (one join against the key index)."""
    cur.execute(f"DROP TABLE IF EXISTS {'temp.' if store.kind == 'sqlite' else ''}{INCOMING}")
    cur.adbc_ingest(INCOMING, keys, mode="create", temporary=True)
    on = " AND ".join(f"e.{_q(k)} = i.{_q(k)}" for k in spec.key)
    cols = ", ".join(f"e.{_q(c.name)}" for c in spec.columns)
    cur.execute(f"SELECT DISTINCT {cols} FROM {INCOMING} i JOIN {_q(sql_name(spec.name))} e ON {on}")
    out = cur.fetch_arrow_table()
    cur.execute(f"DROP TABLE {'temp.' if store.kind == 'sqlite' else ''}{INCOMING}")
    return out
