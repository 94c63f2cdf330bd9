"""The event store's engine: each contract table is an append-only SQL table reached through one URL.

SQLite (WAL, ``synchronous=FULL``) under the data dir by default, PostgreSQL at scale: the same SQL,
built by SQLAlchemy Core for either dialect and run through the ADBC drivers, which move whole Arrow
batches in and out (a bulk read costs about what a Parquet read does). In one process every access to
the SQLite file goes through the one ADBC SQLite library: mixing two SQLite libraries on one file in
one process breaks SQLite's POSIX locks.

Every row carries the store ``version`` of the append that stored it. Appends run under one writer lock
(SQLite ``BEGIN IMMEDIATE``, a PostgreSQL transaction advisory lock), so versions commit in order and
"the store at version N" is exactly the rows with ``version <= N``. Rows are never updated or deleted.
Idempotency is a unique index on the contract key: the check joins the incoming batch against it (index
probes, never a scan). The append returns only after the commit, which is fsync'd.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from opsmatch.contract import TABLES

SQLITE_FILE = "events.db"
LOCK_ID = 0x0E5E  # PostgreSQL advisory lock that serialises appends
INCOMING = "ev_incoming"  # per-connection temporary table holding one append's batch
SQLITE_BATCH_ROWS = "adbc.sqlite.query.batch_rows"  # adbc_driver_sqlite.StatementOptions.BATCH_ROWS
SQLITE_ONE_BATCH = 2**30  # rows per batch: a whole result is one batch (see query_arrow)
_TYPES: dict[str, Any] = {
    "str": sa.Text,
    "json": sa.Text,
    "int": sa.BigInteger,
    "float": sa.Float(precision=53),
    "bool": sa.Boolean(create_constraint=False),
    "timestamp": sa.BigInteger,  # microseconds since the epoch, UTC
}
ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "json": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.int64(),
}


class StoreError(ValueError):
    """Input the store refuses (wrong schema, unknown table); names the table and the reason."""


class StoreConflict(StoreError):
    """A key is already stored with other content: nothing of the append was written."""

    def __init__(self, table: str, key: dict[str, Any], column: str, stored: Any, given: Any) -> None:
        self.table, self.key, self.column = table, key, column
        shown = ", ".join(f"{k}={v}" for k, v in key.items())
        super().__init__(
            f"{table}: key ({shown}) is already stored with other content: "
            f"{column} is {stored!r} in the store, {given!r} here; stored events are immutable"
        )


@dataclass(frozen=True)
class Appended:
    """Outcome of one append: how many rows were new, how many were already stored, at which version."""

    table: str
    received: int
    new: int
    already_stored: int
    version: int
    new_at: tuple[int, ...] = ()  # positions of the new rows in the batch (after repeated keys dropped)


def sql_name(table: str) -> str:
    """The SQL table that holds contract table ``table``."""
    return f"ev_{table}"


def _metadata() -> tuple[sa.MetaData, dict[str, sa.Table], sa.Table]:
    md = sa.MetaData()
    tables = {}
    for spec in TABLES.values():
        cols = [
            sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
            sa.Column("version", sa.BigInteger, nullable=False),
            *(sa.Column(c.name, _TYPES[c.dtype], nullable=True) for c in spec.columns),
        ]
        t = sa.Table(sql_name(spec.name), md, *cols)
        sa.Index(f"ux_{spec.name}_key", *(t.c[k] for k in spec.key), unique=True)
        sa.Index(f"ix_{spec.name}_version", t.c.version)
        if spec.time_column:
            sa.Index(f"ix_{spec.name}_time", t.c[spec.time_column])
        if spec.name in ("assignments", "task_events"):  # one task's facts (serving.tasks.store)
            sa.Index(f"ix_{spec.name}_task", t.c.task_id)
        if spec.name == "tasks":  # GET /tasks pages of closed tasks by due time (serving.tasks.store)
            sa.Index("ix_tasks_sla", t.c.sla_due_at)
        if spec.name == "contacts":  # a scored customer's recent words (serving.risk.voice)
            sa.Index("ix_contacts_customer", t.c.customer_id, t.c.at)
        if spec.name in ("complaints", "interventions"):  # a listed customer's (serving.risk.history)
            sa.Index(f"ix_{spec.name}_customer", t.c.customer_id, t.c[str(spec.time_column)])
        tables[spec.name] = t
    versions = sa.Table(
        "ev_versions",
        md,
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("table_name", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("committed_at", sa.BigInteger, nullable=False),
    )
    sa.Index("ix_versions_table", versions.c.table_name, versions.c.version)
    sa.Table("ev_meta", md, sa.Column("name", sa.Text, primary_key=True), sa.Column("value", sa.Text))
    return md, tables, versions


METADATA, SQL_TABLES, VERSIONS = _metadata()


def sqlite_url(events_dir: Path) -> str:
    """URL of the embedded store under ``events_dir``."""
    return f"sqlite:///{Path(events_dir).resolve() / SQLITE_FILE}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for another engine)."""
    u = sa.make_url(url)
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database else None


class Store:
    """One store URL in this process: the dialect, the schema (created once) and per-thread connections."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pid = os.getpid()
        u = sa.make_url(url)
        self.kind = u.get_backend_name()
        if self.kind not in ("sqlite", "postgresql"):
            raise StoreError(f"event store URL {url!r}: only sqlite:/// and postgresql:// are supported")
        self.dialect: sa.Dialect = sqlite.dialect() if self.kind == "sqlite" else postgresql.dialect()
        self._adbc_uri = u.set(drivername="postgresql").render_as_string(hide_password=False)
        self._local = threading.local()
        self._opened: list[Any] = []  # every thread's connection, closed at exit
        self._opened_lock = threading.Lock()
        atexit.register(self.close_all)
        with self.connection() as cur:
            self.create_schema(cur)

    def sql(self, statement: Any) -> str:
        """SQL text of a SQLAlchemy statement for this dialect (parameters rendered as literals)."""
        return str(statement.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))

    def _connect(self) -> Any:
        if self.kind == "sqlite":
            import adbc_driver_sqlite.dbapi as adbc_sqlite

            path = sqlite_path(self.url)
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = adbc_sqlite.connect(str(path), autocommit=True)
            with conn.cursor() as cur:
                for pragma in ("busy_timeout=120000", "journal_mode=WAL", "synchronous=FULL"):
                    cur.execute(f"PRAGMA {pragma}")
                    cur.fetchall()
            return conn
        import adbc_driver_postgresql.dbapi as adbc_pg

        return adbc_pg.connect(self._adbc_uri, autocommit=True)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A cursor on this thread's connection (opened on first use; dropped when it fails)."""
        conn: Any = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._opened_lock:
                self._opened.append(conn)
        try:
            with conn.cursor() as cur:
                yield cur
        except StoreError:
            raise  # refused input: the connection is fine
        except Exception:
            if conn is not None and getattr(self._local, "conn", None) is conn:  # a driver error: reopen
                self._local.conn = None
                with suppress(Exception):
                    cast(Any, conn).close()
            raise

    @contextmanager
    def writer(self) -> Iterator[Any]:
        """A transaction holding the store's single writer lock; committed on exit, rolled back on error."""
        with self.connection() as cur:
            cur.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")
            try:
                if self.kind == "postgresql":
                    cur.execute(f"SELECT pg_advisory_xact_lock({LOCK_ID})")
                    cur.fetchall()
                yield cur
            except BaseException:
                with suppress(Exception):  # a broken connection rolled back already
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def create_schema(self, cur: Any) -> None:
        statements = [self.sql(CreateTable(t, if_not_exists=True)) for t in METADATA.sorted_tables]
        for t in METADATA.sorted_tables:
            statements += [self.sql(CreateIndex(i, if_not_exists=True)) for i in t.indexes]
        for attempt in range(10):  # two processes creating a new store at once: the loser retries
            try:
                cur.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")
                if self.kind == "postgresql":
                    cur.execute(f"SELECT pg_advisory_xact_lock({LOCK_ID})")
                    cur.fetchall()
                for s in statements:
                    cur.execute(s)
                # A new store gets its own id: a store rebuilt from scratch never looks like the old one.
                cur.execute(
                    "INSERT INTO ev_meta (name, value) VALUES ('store_id', '"
                    + uuid.uuid4().hex
                    + "') ON CONFLICT (name) DO NOTHING"
                )
                cur.execute("COMMIT")
                return
            except Exception:
                with suppress(Exception):  # no transaction was open
                    cur.execute("ROLLBACK")
                if attempt == 9:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def query_arrow(self, statement: Any) -> pa.Table:
        """Run a SELECT and return the whole result as Arrow.

        SQLite has no column types: its ADBC driver infers each column's type from the first batch of
        rows and refuses a later batch that disagrees, so a column NULL in the first 1,024 rows (e.g.
        ``override_reason``) read as INT64 fails at the first text value after them. The whole result
        is therefore read as one batch, typed from every row."""
        with self.connection() as cur:
            if self.kind == "sqlite":
                cur.adbc_statement.set_options(**{SQLITE_BATCH_ROWS: str(SQLITE_ONE_BATCH)})
            cur.execute(self.sql(statement))
            return cur.fetch_arrow_table()

    def scalar(self, statement: Any) -> Any:
        """The first column of the first row of a SELECT (None when empty)."""
        with self.connection() as cur:
            cur.execute(self.sql(statement))
            row = cur.fetchone()
            cur.fetchall()
        return None if row is None else row[0]

    def close_all(self) -> None:
        """Close every thread's connection (at exit, or when the store is forgotten)."""
        if os.getpid() != self.pid:
            return  # a forked child must not close its parent's connections
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with suppress(Exception):
                conn.close()
        self._local = threading.local()


_STORES: dict[tuple[str, int], Store] = {}
_STORES_LOCK = threading.Lock()


MAX_STORES = 32  # stores kept open per process (tests open one per temporary folder)


def store_for(url: str) -> Store:
    """One :class:`Store` per URL and process (a forked child builds its own); the least recently
    used beyond ``MAX_STORES`` are closed."""
    key = (url, os.getpid())
    with _STORES_LOCK:
        store = _STORES.pop(key, None)
        if store is None:
            store = Store(url)
        _STORES[key] = store  # most recently used last
        while len(_STORES) > MAX_STORES:
            _STORES.pop(next(iter(_STORES))).close_all()
    return store


def forget_stores() -> None:
    """Drop this process's stores (their connections close when collected): tests and migrations."""
    with _STORES_LOCK:
        for key in [k for k in _STORES if k[1] == os.getpid()]:
            _STORES[key].close_all()
            del _STORES[key]
