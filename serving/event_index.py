"""Keys and small lookups of the event store, held in memory for the ingestion endpoints.

Validating an outcome row needs the keys of the tables it references (tasks, workers, customers), and
folding it into the worker profiles needs each task's type and the worker who completed it. Reading
those tables per request is slow on the default scenario (measured by ``bench/bench_serving.py``,
``ingest_costs``); here they are read once (only the
needed columns), kept as dicts/sets, extended by this process's own appends, and re-read only when a
table file changes underneath (another writer: the batch ingest, the twin, another service worker).
"""

from __future__ import annotations

import os
import threading
from collections.abc import KeysView
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from opsmatch.contract import TABLES
from opsmatch.events import table_path

# table -> (key column, value column or None): what is held of each table.
HELD: dict[str, tuple[str, str | None]] = {
    "tasks": ("task_id", "task_type"),
    "workers": ("worker_id", None),
    "customers": ("customer_id", None),
    "provinces": ("province_id", None),
    "completions": ("task_id", "worker_id"),
}

Signature = tuple[int, int, int] | None


def signature(path: Path) -> Signature:
    """(inode, size, mtime ns) of a file, None when absent: changes whenever the file is replaced."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class _Entry:
    sig: Signature
    values: dict[str, str | None]


class EventIndex:
    """See the module docstring. Thread-safe; entries load lazily on first use."""

    def __init__(self, events_dir: Path) -> None:
        self.events_dir = Path(events_dir)
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many table reads (for tests and metrics)

    def _entry(self, table: str) -> _Entry:
        path = table_path(self.events_dir, table)
        sig = signature(path)
        with self._lock:
            held = self._entries.get(table)
            if held is not None and held.sig == sig:
                return held
            key, value = HELD[table]
            values: dict[str, str | None] = {}
            if sig is not None:
                cols = [key] if value is None else [key, value]
                data = pq.read_table(path, columns=cols)
                keys = [str(k) for k in data.column(key).to_pylist()]
                vals = data.column(value).to_pylist() if value else [None] * len(keys)
                values = dict(zip(keys, (None if v is None else str(v) for v in vals), strict=True))
            self.loads += 1
            self._entries[table] = entry = _Entry(sig, values)
            return entry

    def keys(self, table: str) -> KeysView[str]:
        """The keys of ``table`` (a set-like view)."""
        return self._entry(table).values.keys()

    def known_keys(self, tables: set[str]) -> dict[str, KeysView[str]]:
        """``{table: keys}`` for ``opsmatch.validation.validate_table``."""
        return {t: self.keys(t) for t in tables}

    def lookup(self, table: str, ids: list[str]) -> pd.Series:
        """The held value (task type, completing worker) of each id, NaN when unknown."""
        values = self._entry(table).values
        return pd.Series([values.get(str(i)) for i in ids], index=ids, dtype=object)

    def before_append(self, table: str) -> Signature:
        """The table file's signature; call under the event-store lock, before appending."""
        return signature(table_path(self.events_dir, table))

    def appended(self, table: str, rows: pd.DataFrame, before: Signature) -> None:
        """Fold rows this process just appended in (under the same lock as ``before_append``).

        When the file changed since the entry was read by someone else too, the entry is dropped and
        re-read on next use instead.
        """
        if table not in HELD:
            return
        with self._lock:
            held = self._entries.get(table)
            if held is None:
                return
            if held.sig != before:
                del self._entries[table]
                return
            key, value = HELD[table]
            keys = rows[key].astype(str).tolist()
            vals = rows[value].astype(str).tolist() if value else [None] * len(keys)
            held.values.update(zip(keys, vals, strict=True))
            held.sig = signature(table_path(self.events_dir, table))


def referenced_tables(table: str) -> set[str]:
    """Tables whose keys ``table``'s foreign keys point at."""
    return {c.references.split(".")[0] for c in TABLES[table].columns if c.references}
