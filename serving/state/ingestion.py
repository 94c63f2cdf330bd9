"""Durable, idempotent ingestion of outcomes and worker status into the event store.

Rows are validated against the data contract and appended through ``opsmatch.events``, which alone
decides what is new: a key already stored with the same content is a duplicate (accepted, ignored),
with other content a conflict (409, nothing written). The append is committed (fsync'd) before the
reply, and is safe against every other writer (service workers, ``opsmatch ingest``, the twin).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from opsmatch import events as event_log
from opsmatch.contract import TABLES
from opsmatch.event_store import StoreConflict
from opsmatch.settings import Settings
from serving.errors import ApiError

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


def ingest_rows(
    table: str,
    rows: Sequence[dict[str, Any]],
    *,
    field: str,
    events: Settings | str | Path,
    now: datetime,
    validate: RowValidator | None = None,
) -> Receipt:
    """Validate, de-duplicate and append ``rows`` (dicts with the contract's columns) to ``table``.

    ``field`` names the request field for error locations. Raises ApiError 400 (invalid row,
    timestamp in the future, same id twice with different content) or 409 (id already ingested with
    different content).
    """
    if not rows:
        return Receipt(0, 0, 0, event_log.empty_frame(table))
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
    try:
        got = event_log.append(events, table, frame)
    except StoreConflict as exc:
        i = next((j for k, j in first.items() if k == "|".join(str(exc.key[c]) for c in spec.key)), 0)
        raise ApiError(
            409,
            f"id {record_key(table, rows[i])!r} was already ingested with different content "
            f"({exc.column} differs); outcomes are immutable",
            [field, i, spec.key[0]],
            kind="conflict",
        ) from exc
    fresh = frame.iloc[list(got.new_at)].reset_index(drop=True)
    return Receipt(received=len(rows), new=got.new, duplicates=len(rows) - got.new, new_rows=fresh)
