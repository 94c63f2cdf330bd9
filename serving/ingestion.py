"""Durable, idempotent ingestion of outcomes and worker status into the event store.

Rows are validated against the data contract, checked against the ingestion ledger (same id and same
content: a duplicate, accepted and ignored; same id and different content: a conflict, refused),
appended to the event store under an exclusive file lock (several service workers append to the same
Parquet files) and recorded in the ledger, all before the reply.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from opsmatch import events
from opsmatch.contract import TABLES
from serving.errors import ApiError
from serving.event_index import EventIndex
from serving.state import StateStore

RowValidator = Callable[[str, pd.DataFrame], list[tuple[int, str, str]]]
"""``validate(table, frame)`` -> problems as (row, column, reason); empty when the frame is valid."""


@dataclass(frozen=True)
class Receipt:
    """What happened to the rows of one table."""

    received: int
    new: int
    duplicates: int
    new_rows: pd.DataFrame


def record_key(table: str, row: dict[str, Any]) -> str:
    """The row's contract key as one string (``|``-joined for composite keys)."""
    return "|".join(str(row[k]) for k in TABLES[table].key)


def digest(row: dict[str, Any]) -> str:
    """Content hash of a row (canonical JSON)."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


@contextmanager
def events_lock(events_dir: Path) -> Iterator[None]:
    """Exclusive lock on the event store across processes."""
    events_dir.mkdir(parents=True, exist_ok=True)
    with open(events_dir / ".serving.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ingest_rows(
    table: str,
    rows: Sequence[dict[str, Any]],
    *,
    field: str,
    events_dir: Path,
    store: StateStore,
    now: datetime,
    validate: RowValidator | None = None,
    use_ledger: bool = True,
    index: EventIndex | None = None,
) -> Receipt:
    """Validate, de-duplicate and append ``rows`` (dicts with the contract's columns) to ``table``.

    ``field`` names the request field for error locations. Raises ApiError 400 (invalid row,
    timestamp in the future, same id twice with different content) or 409 (id already ingested with
    different content).
    """
    if not rows:
        return Receipt(0, 0, 0, events.empty_frame(table))
    spec = TABLES[table]
    time_col = spec.time_column
    for i, row in enumerate(rows):
        if time_col and row[time_col] > now:
            raise ApiError(
                400, f"{time_col} is in the future ({row[time_col].isoformat()})", [field, i, time_col]
            )
    keys = [record_key(table, r) for r in rows]
    digests = [digest(r) for r in rows]
    first: dict[str, int] = {}
    for i, (k, d) in enumerate(zip(keys, digests, strict=True)):
        if k in first and digests[first[k]] != d:
            raise ApiError(400, f"id {k!r} appears twice with different content", [field, i, spec.key[0]])
        first.setdefault(k, i)
    frame = pd.DataFrame([rows[i] for i in first.values()], columns=spec.column_names)
    if validate is not None:
        problems = validate(table, frame)
        if problems:
            row_i, column, reason = problems[0]
            original = list(first.values())[row_i] if 0 <= row_i < len(first) else row_i
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise ApiError(400, f"{column}: {reason}{more}", [field, original, column])
    known = store.ledger_lookup(table, list(first)) if use_ledger else {}
    for k, i in first.items():
        if k in known and known[k] != digests[i]:
            raise ApiError(
                409,
                f"id {k!r} was already ingested with different content; outcomes are immutable",
                [field, i, spec.key[0]],
                kind="conflict",
            )
    fresh_mask = [k not in known for k in first]
    fresh = frame[fresh_mask].reset_index(drop=True)
    with events_lock(events_dir):
        before = index.before_append(table) if index is not None else None
        added = events.append_rows(events_dir, table, fresh) if len(fresh) else 0
        if index is not None and added:
            index.appended(table, fresh, before)
    if use_ledger:
        store.ledger_record(table, {k: digests[i] for k, i in first.items() if k not in known}, now)
    return Receipt(received=len(rows), new=int(added), duplicates=len(rows) - int(added), new_rows=fresh)
