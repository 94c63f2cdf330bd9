"""Operating the event store: stats per table, compaction (checkpoint + vacuum), integrity check, and the
migration of an old data dir (one Parquet file per table) into the store.

Retention: every version stays readable (``read_table(..., version=N)``): rows are never deleted, so
compaction only reclaims free pages and rewrites the file compactly; it can never drop a row, and each
run checks the row counts before and after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events
from opsmatch.contract import LOAD_ORDER, TABLES

if TYPE_CHECKING:
    from opsmatch.settings import Settings

MIGRATED_DIR = "parquet-migrated"  # where the old layout's files are moved once converted


def _distinct_keys(store: es.Store, name: str) -> int:
    t = es.SQL_TABLES[name]
    keys = sa.select(*(t.c[k] for k in TABLES[name].key)).distinct().subquery()
    return int(store.scalar(sa.select(sa.func.count()).select_from(keys)) or 0)


def _sizes(store: es.Store) -> dict[str, int]:
    """Bytes on disk per SQL table, its indexes included."""
    if store.kind == "sqlite":
        got = store.query_arrow(sa.text("SELECT name, tbl_name FROM sqlite_master"))
        owner = dict(zip(got.column("name").to_pylist(), got.column("tbl_name").to_pylist(), strict=True))
        pages = store.query_arrow(sa.text("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name"))
        out: dict[str, int] = {}
        for n, b in zip(pages.column("name").to_pylist(), pages.column("bytes").to_pylist(), strict=True):
            out[owner.get(n, n)] = out.get(owner.get(n, n), 0) + int(b)
        return out
    names = ", ".join(f"'{es.sql_name(n)}'" for n in TABLES)
    query = (
        "SELECT relname AS name, pg_total_relation_size(oid) AS bytes FROM pg_class "
        f"WHERE relname IN ({names})"
    )
    got = store.query_arrow(sa.text(query))
    return dict(zip(got.column("name").to_pylist(), map(int, got.column("bytes").to_pylist()), strict=True))


def stats(where: Settings | str | Path) -> dict[str, Any]:
    """Per table: rows, distinct keys, the last version that added rows, bytes on disk; and the store's."""
    store = es.store_for(events.store_url(where))
    versions = events.table_versions(where)
    sizes = _sizes(store)
    tables = {
        name: {
            "rows": events.row_count(where, name),
            "distinct_keys": _distinct_keys(store, name),
            "version": versions.get(name, 0),
            "bytes": sizes.get(es.sql_name(name), 0),
        }
        for name in TABLES  # every stored table, the service's prediction log included
    }
    path = es.sqlite_path(store.url)
    on_disk = (
        sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) if path else sum(sizes.values())
    )
    return {
        "url": sa.make_url(store.url).render_as_string(hide_password=True),
        "engine": store.kind,
        "version": events.current_version(where),
        "bytes": on_disk,
        "tables": tables,
    }


def check(where: Settings | str | Path) -> None:
    """Raise RuntimeError unless the store is sound (SQLite ``integrity_check``) and keys are unique."""
    store = es.store_for(events.store_url(where))
    if store.kind == "sqlite":
        got = store.query_arrow(sa.text("PRAGMA integrity_check")).column(0).to_pylist()
        if got != ["ok"]:
            raise RuntimeError(f"event store integrity check failed: {got[:5]}")
    for name in TABLES:
        rows, keys = events.row_count(where, name), _distinct_keys(store, name)
        if rows != keys:
            raise RuntimeError(f"{name}: {rows} rows but {keys} distinct keys")


@dataclass(frozen=True)
class Compacted:
    """What a compaction did: bytes before and after, seconds, rows per table (unchanged)."""

    bytes_before: int
    bytes_after: int
    seconds: float
    rows: dict[str, int]


def compact(where: Settings | str | Path) -> Compacted:
    """Checkpoint the write-ahead log and rebuild the file (SQLite ``VACUUM``; PostgreSQL ``VACUUM
    ANALYZE``). Never drops a row: counts are compared before and after (RuntimeError otherwise)."""
    t0 = time.perf_counter()
    store = es.store_for(events.store_url(where))
    before = stats(where)
    with store.connection() as cur:
        if store.kind == "sqlite":
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cur.fetchall()
            cur.execute("VACUUM")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cur.fetchall()
        else:
            for name in TABLES:
                cur.execute(f"VACUUM ANALYZE {es.sql_name(name)}")
    after = stats(where)
    rows = {n: t["rows"] for n, t in after["tables"].items()}
    if rows != {n: t["rows"] for n, t in before["tables"].items()}:
        raise RuntimeError(f"row counts changed during compaction: {before['tables']} -> {after['tables']}")
    return Compacted(before["bytes"], after["bytes"], time.perf_counter() - t0, rows)


# -- migration of the old layout -------------------------------------------------------------------
def old_layout_files(events_dir: Path) -> dict[str, Path]:
    """The old layout's ``<table>.parquet`` files found in ``events_dir``."""
    return {
        n: Path(events_dir) / f"{n}.parquet"
        for n in LOAD_ORDER
        if (Path(events_dir) / f"{n}.parquet").exists()
    }


def migrate(where: Settings | str | Path, events_dir: Path, batch_rows: int = 200_000) -> dict[str, int]:
    """Store every old-layout Parquet table of ``events_dir`` (idempotent: a re-run after a crash adds
    only what is missing), check each table's distinct keys in the store against the file's, then move
    the files to ``<events_dir>/parquet-migrated/``. Returns rows per table."""
    files = old_layout_files(events_dir)
    moved = Path(events_dir) / MIGRATED_DIR
    counts: dict[str, int] = {}
    for name, path in files.items():
        frame = events.coerce(TABLES[name], pd.read_parquet(path))
        for start in range(0, len(frame), batch_rows):
            events.append(where, name, frame.iloc[start : start + batch_rows])
        expected = len(frame.drop_duplicates(list(TABLES[name].key)))
        stored = events.row_count(where, name)
        if stored < expected or len(events.lookup(where, name, frame)) != expected:
            raise RuntimeError(f"{name}: {path} has {expected} distinct keys, the store holds {stored}")
        counts[name] = pq.ParquetFile(path).metadata.num_rows
    moved.mkdir(parents=True, exist_ok=True)
    for path in files.values():
        path.replace(moved / path.name)
    return counts


def reset(where: Settings | str | Path) -> None:
    """Drop every stored row and version (an empty store with the schema). Only for a store that is being
    replaced as a whole (tests, a twin history regenerated from scratch): events are otherwise immutable."""
    store = es.store_for(events.store_url(where))
    with store.writer() as cur:
        for t in reversed(es.METADATA.sorted_tables):
            cur.execute(f"DROP TABLE IF EXISTS {t.name}")
    with store.connection() as cur:
        store.create_schema(cur)


def backup(where: Settings | str | Path, events_dir: Path) -> str:
    """A consistent copy of an embedded store into ``events_dir`` (SQLite ``VACUUM INTO``, safe while
    others write); returns the copy's URL. PostgreSQL stores are backed up with the server's own tools."""
    store = es.store_for(events.store_url(where))
    if store.kind != "sqlite":
        raise es.StoreError("backup copies embedded (SQLite) stores; use pg_dump for PostgreSQL")
    target = Path(events_dir).resolve() / es.SQLITE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise es.StoreError(f"{target} exists: back up into an empty folder")
    with store.connection() as cur:
        cur.execute(f"VACUUM INTO '{target}'")
    return es.sqlite_url(target.parent)
