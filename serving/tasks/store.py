"""The task book's indexed reads of the event store: what the book does not hold is asked for here.

The task book (:mod:`serving.tasks.book`) holds the open tasks and a window of recently closed ones;
these queries read, as of the book's table versions, the facts of given tasks (by ``task_id``, an index
probe per table), the open tasks at start (tasks without a completion row and without a ``complete``
or ``cancel`` event: two index probes per stored task, run by the database, nothing of the closed
history comes into Python) and one page of closed tasks for ``GET /tasks`` (the time index in order,
stopping at the page's size). The indexes are the store's (``opsmatch.event_store``: ``ix_*_task``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events

if TYPE_CHECKING:
    from opsmatch.settings import Settings

CHUNK = 2_000  # ids per IN list
CLOSING = ("complete", "cancel")  # event kinds that may close a task (the lifecycle decides)


def arrow_rows(table: str, arrow: pa.Table) -> list[dict[str, Any]]:
    """SQL-form Arrow rows of a contract table as dicts of Python values (timestamps UTC-aware), built
    column by column (``DataFrame.to_dict`` costs seconds on a busy store)."""
    cols: dict[str, list[Any]] = {}
    for c in events.spec(table).columns:
        a = arrow.column(c.name).cast(es.ARROW_TYPES[c.dtype])
        if c.dtype == "timestamp":
            stamps = pd.DatetimeIndex(pd.to_datetime(a.to_pandas(), unit="us", utc=True))
            cols[c.name] = [None if pd.isna(t) else t for t in stamps.to_pydatetime()]
        else:
            cols[c.name] = a.to_pylist()
    names = list(cols)
    return [dict(zip(names, values, strict=True)) for values in zip(*cols.values(), strict=True)]


def _store(where: Settings | str | Path) -> es.Store:
    return es.store_for(events.store_url(where))


def _upto(table: str, versions: Mapping[str, int]) -> Any:
    return es.SQL_TABLES[table].c.version <= versions.get(table, 0)


def rows_for(
    where: Settings | str | Path, table: str, task_ids: Sequence[str], versions: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The rows of ``table`` about ``task_ids`` stored by ``versions[table]``, in append order."""
    t = es.SQL_TABLES[table]
    store, out = _store(where), []
    for i in range(0, len(task_ids), CHUNK):
        ids = list(task_ids[i : i + CHUNK])
        query = sa.select(*(t.c[c] for c in events.spec(table).column_names))
        query = query.where(t.c.task_id.in_(ids), _upto(table, versions)).order_by(t.c.seq)
        out += arrow_rows(table, store.query_arrow(query))
    return out


def _closed_by(versions: Mapping[str, int], task: Any) -> tuple[Any, Any]:
    """(a completion row exists, a closing event exists) for the tasks table's row ``task``."""
    c, e = es.SQL_TABLES["completions"], es.SQL_TABLES["task_events"]
    done = sa.exists().where(c.c.task_id == task, _upto("completions", versions))
    ended = sa.exists().where(e.c.task_id == task, e.c.kind.in_(CLOSING), _upto("task_events", versions))
    return done, ended


def open_task_rows(where: Settings | str | Path, versions: Mapping[str, int]) -> list[dict[str, Any]]:
    """``tasks`` rows without a completion row or a closing event by ``versions`` (the book's start)."""
    t = es.SQL_TABLES["tasks"]
    done, ended = _closed_by(versions, t.c.task_id)
    query = sa.select(*(t.c[c] for c in events.spec("tasks").column_names))
    query = query.where(_upto("tasks", versions), ~done, ~ended).order_by(t.c.seq)
    return arrow_rows("tasks", _store(where).query_arrow(query))


def assignment_rows(
    where: Settings | str | Path, assignment_ids: Iterable[str], versions: Mapping[str, int]
) -> list[dict[str, Any]]:
    """``assignments`` rows by their key (the contract's unique index)."""
    t = es.SQL_TABLES["assignments"]
    query = sa.select(*(t.c[c] for c in events.spec("assignments").column_names))
    query = query.where(t.c.assignment_id.in_(list(assignment_ids)), _upto("assignments", versions))
    return arrow_rows("assignments", _store(where).query_arrow(query.order_by(t.c.seq)))


def closed_page(
    where: Settings | str | Path,
    versions: Mapping[str, int],
    *,
    province_id: str | None,
    task_type: str | None,
    created_after_us: int | None,
    sort: str,
    limit: int,
    open_count: int,
) -> tuple[list[str], int]:
    """(ids of the first ``limit`` closed tasks in ``sort`` order (``created_at`` or ``sla_due_at``,
    ``-`` for descending, ties by id), how many closed tasks match the filters); ``open_count``: the
    open tasks stored by ``versions`` (what an unfiltered count subtracts)."""
    t = es.SQL_TABLES["tasks"]
    done, ended = _closed_by(versions, t.c.task_id)
    where_ = [_upto("tasks", versions), sa.or_(done, ended)]
    if province_id is not None:
        where_.append(t.c.province_id == province_id)
    if task_type is not None:
        where_.append(t.c.task_type == task_type)
    if created_after_us is not None:
        where_.append(t.c.created_at > created_after_us)
    key, desc = t.c[sort.lstrip("-")], sort.startswith("-")
    store = _store(where)
    # the time index in order, then every row tied with the last one (ties are broken by id here:
    # ordering by two columns would sort every closed task)
    first = store.query_arrow(
        sa.select(key).where(*where_).order_by(key.desc() if desc else key).limit(limit)
    ).column(0)
    ids: list[str] = []
    if len(first):
        edge = first[-1].as_py()
        rows = store.query_arrow(
            sa.select(t.c.task_id, key.label("k")).where(*where_, key >= edge if desc else key <= edge)
        ).to_pylist()
        rows.sort(key=lambda r: (r["k"], r["task_id"]), reverse=desc)
        ids = [str(r["task_id"]) for r in rows[:limit]]
    filtered = province_id is not None or task_type is not None or created_after_us is not None
    if filtered:
        total = int(store.scalar(sa.select(sa.func.count()).select_from(t).where(*where_)) or 0)
    else:  # every stored task less the open ones (the caller's): no probe per stored task
        stored = int(store.scalar(sa.select(sa.func.count()).select_from(t).where(where_[0])) or 0)
        total = stored - open_count
    return ids, total
