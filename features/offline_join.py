"""Point-in-time retrieval for training frames on DuckDB, in bounded memory, with Feast's semantics.

Feast's DuckDB offline store (``get_historical_features(...).to_df()``) joins every entity row with every
earlier row of its key and ranks them (a range join over whole tables, then a window), which at the
``national`` scale needs gigabytes. This module reads the same feature views from the same registry
(FileSource path, timestamp field, ttl, join keys) and runs DuckDB's ``ASOF LEFT JOIN`` (the latest row
of the key at or before the entity's ``event_timestamp``; nothing when older than the view's ttl) on the
entity rows in time-ordered chunks, each reading only the slice of each table its times can reach
(``[min - ttl, max]``, skipped by Parquet row-group statistics), under a DuckDB memory limit that spills
to disk. On-demand views are applied with Feast's own ``transform_arrow``, as ``RetrievalJob.to_arrow``
does, and the result is converted with ``pyarrow``'s ``to_pandas``, as ``to_df`` does: the frames are
equal to Feast's, row for row (``tests/features/test_offline_join.py``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs for pyarrow
from feast import FeatureService, FeatureStore, FileSource

from features.spec import EVENT_TS

CHUNK_ROWS = 400_000  # entity rows per DuckDB query: bounds the arrow/pandas copies of one chunk
MEMORY_LIMIT = "1GB"  # DuckDB's own working memory per query (spills to a temp dir beyond it)
_ROW = "_entity_row"


@dataclass(frozen=True)
class ViewRead:
    """What the join needs of one feature view: where its rows are and how they are keyed in time."""

    name: str
    path: str
    timestamp_field: str
    keys: tuple[str, ...]
    ttl: timedelta | None
    features: tuple[str, ...]


def feature_refs(store: FeatureStore, features: FeatureService | Sequence[str]) -> list[str]:
    """``view:feature`` references of a feature service (or the references themselves)."""
    if isinstance(features, FeatureService):
        return [f"{p.name_to_use()}:{f.name}" for p in features.feature_view_projections for f in p.features]
    return list(features)


def _plan(store: FeatureStore, refs: list[str]) -> tuple[list[ViewRead], list, set[str]]:
    """Feature views to join, on-demand views to apply and every requested feature name."""
    wanted: dict[str, list[str]] = {}
    for ref in refs:
        view, name = ref.split(":", 1)
        wanted.setdefault(view, []).append(name)
    views: list[ViewRead] = []
    odfvs = []
    for name, feats in wanted.items():
        try:
            fv = store.get_feature_view(name)
        except Exception:  # noqa: BLE001  # not a batch view: an on-demand one (its own error if neither)
            odfv = store.get_on_demand_feature_view(name)
            odfvs.append((odfv, feats))
            continue
        source = fv.batch_source
        if not isinstance(source, FileSource):
            raise TypeError(f"feature view {name!r}: the join reads FileSources, not {type(source).__name__}")
        views.append(
            ViewRead(
                name=name,
                path=str(source.path),
                timestamp_field=source.timestamp_field,
                keys=tuple(c.name for c in fv.entity_columns),
                ttl=fv.ttl or None,
                features=tuple(feats),
            )
        )
    return views, odfvs, {n for feats in wanted.values() for n in feats}


def _lit(ts: pd.Timestamp) -> str:
    return f"TIMESTAMPTZ '{ts.isoformat()}'"


def _view_sql(v: ViewRead, alias: str, lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[str, str]:
    """(ASOF join clause, select list) of one view for entity times in ``[lo, hi]``."""
    ts = f'"{v.timestamp_field}"'
    since = f" AND {ts} >= {_lit(lo - v.ttl)}" if v.ttl else ""
    cols = ", ".join(f'"{c}"' for c in (*v.keys, *v.features))
    src = (
        f"(SELECT {cols}, {ts} AS _ft FROM read_parquet('{v.path}') WHERE {ts} <= {_lit(hi)}{since}) {alias}"
    )
    on = " AND ".join(f'e."{k}" = {alias}."{k}"' for k in v.keys)
    join = f'ASOF LEFT JOIN {src} ON {on} AND e."{EVENT_TS}" >= {alias}._ft'
    if v.ttl:
        ttl_us = int(v.ttl / timedelta(microseconds=1))
        fresh = f'e."{EVENT_TS}" <= {alias}._ft + to_microseconds({ttl_us})'
        select = [f'CASE WHEN {fresh} THEN {alias}."{f}" END AS "{f}"' for f in v.features]
    else:
        select = [f'{alias}."{f}" AS "{f}"' for f in v.features]
    return join, ", ".join(select)


@contextmanager
def _connection(memory_limit: str) -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(prefix="opsmatch-asof-") as spill:
        config: dict[str, str | int | float | list[str]] = {"threads": 2, "memory_limit": memory_limit}
        con = duckdb.connect(config={**config, "temp_directory": spill})
        try:
            con.execute("SET TimeZone = 'UTC'")
            # Always the ASOF plan: DuckDB (>= 1.3) runs an ASOF join as a nested loop when it expects
            # few left rows, and a registered Arrow frame gives it no estimate: 50 k entity rows x
            # task_profile took 43 s instead of 0.3 s (EXPLAIN ANALYZE: NESTED_LOOP_JOIN), ~100x at 10x.
            with contextlib.suppress(duckdb.CatalogException):
                con.execute("SET asof_loop_join_threshold = 0")
            # No bars in the bootstrap's log. In a Jupyter kernel DuckDB refuses the change without
            # ipywidgets (and draws no terminal bar there anyway).
            with contextlib.suppress(duckdb.InvalidInputException):
                con.execute("SET enable_progress_bar = false")
            yield con
        finally:
            con.close()


def _chunk(
    con: duckdb.DuckDBPyConnection, ent: pd.DataFrame, views: list[ViewRead], odfvs: list
) -> pd.DataFrame:
    """The joined features of one time-ordered chunk of entity rows (index = the rows' positions)."""
    times = pd.to_datetime(ent[EVENT_TS], utc=True)
    lo, hi = (times.min(), times.max()) if len(times) else (pd.Timestamp(0, tz="UTC"),) * 2
    joins, selects = [], []
    for i, v in enumerate(views):
        join, select = _view_sql(v, f"f{i}", lo, hi)
        joins.append(join)
        selects.append(select)
    con.register("e", pa.Table.from_pandas(ent, preserve_index=False))
    try:
        sql = f"SELECT e.*, {', '.join(selects)} FROM e {' '.join(joins)} ORDER BY e.{_ROW}"
        table = con.execute(sql).to_arrow_table()
    finally:
        con.unregister("e")
    for odfv, names in odfvs:  # Feast's RetrievalJob.to_arrow: the requested outputs appended
        out = odfv.transform_arrow(table, False)
        for name in names:
            table = table.append_column(name, out[name])
    frame = table.to_pandas()
    return frame.set_index(_ROW)


def historical_features(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    features: FeatureService | Sequence[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    memory_limit: str = MEMORY_LIMIT,
) -> pd.DataFrame:
    """Point-in-time features of ``entity_df`` (its ``event_timestamp`` and join keys; request fields
    such as ``now`` for on-demand views), in the entity rows' order, with the entity columns first."""
    views, odfvs, _ = _plan(store, feature_refs(store, features))
    ent = entity_df.reset_index(drop=True).assign(**{_ROW: np.arange(len(entity_df), dtype=np.int64)})
    ent[EVENT_TS] = pd.to_datetime(ent[EVENT_TS], utc=True)
    order = np.argsort(ent[EVENT_TS].to_numpy(), kind="stable")
    parts = []
    with _connection(memory_limit) as con:
        for start in range(0, max(len(ent), 1), chunk_rows):
            parts.append(_chunk(con, ent.iloc[order[start : start + chunk_rows]], views, odfvs))
    out = pd.concat(parts) if len(parts) > 1 else parts[0]
    return out.sort_index().reset_index(drop=True)
