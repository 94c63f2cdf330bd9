"""Keys and small lookups of the event store, held in memory for the ingestion endpoints.

Validating an outcome row needs the keys of the tables it references (tasks, workers, customers), and
folding it into the worker profiles needs each task's type and the worker who completed it. Reading
those tables per request is slow on the default scenario (measured by ``bench/bench_serving.py``,
``ingest_costs``); here they are read once (only the needed columns) through ``opsmatch.events``, kept
as dicts, and brought up to date by reading only the rows stored after the held version whenever the
table's version moved (this process's appends and every other writer's alike).
"""

from __future__ import annotations

import threading
from collections.abc import KeysView
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from opsmatch import events
from opsmatch.contract import TABLES

if TYPE_CHECKING:
    from opsmatch.settings import Settings

# table -> (key column, value column or None): what is held of each table.
HELD: dict[str, tuple[str, str | None]] = {
    "tasks": ("task_id", "task_type"),
    "workers": ("worker_id", None),
    "customers": ("customer_id", None),
    "provinces": ("province_id", None),
    "completions": ("task_id", "worker_id"),
}


@dataclass
class _Entry:
    version: int
    values: dict[str, str | None]


class EventIndex:
    """See the module docstring. Thread-safe; entries load lazily on first use."""

    def __init__(self, where: Settings | str | Path) -> None:
        self.where = where
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many full table reads (for tests and metrics)
        self.updates = 0  # how many incremental reads

    def _entry(self, table: str) -> _Entry:
        version = events.table_version(self.where, table)
        with self._lock:
            held = self._entries.get(table)
            if held is not None and held.version == version:
                return held
            key, value = HELD[table]
            cols = [key] if value is None else [key, value]
            since = held.version if held is not None else 0
            data = events.read_arrow(self.where, table, version=version, since=since, columns=cols)
            keys = [str(k) for k in data.column(key).to_pylist()]
            vals = data.column(value).to_pylist() if value else [None] * len(keys)
            values = held.values if held is not None else {}
            values.update(zip(keys, (None if v is None else str(v) for v in vals), strict=True))
            if held is None:
                self.loads += 1
            else:
                self.updates += 1
            self._entries[table] = entry = _Entry(version, values)
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


def referenced_tables(table: str) -> set[str]:
    """Tables whose keys ``table``'s foreign keys point at."""
    return {c.references.split(".")[0] for c in TABLES[table].columns if c.references}
