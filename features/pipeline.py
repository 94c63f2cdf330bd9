"""Feature pipeline: event log (``settings.events_dir``) -> Parquet feature tables in ``feature_data_dir``.

Point-in-time correct (see ``features.windows``), deterministic and idempotent: the same events give
byte-identical files, an unchanged table is not rewritten, and when the event files' content hash matches
the last build the whole run is a no-op. Incrementality is at the storage level: the build is a full
vectorised recompute (seconds for 90 days of the default scenario), because every daily snapshot depends
on the trailing 90 days and on the running type medians; recomputing only new days would save little.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs for pyarrow
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from features.entity_features import (
    build_customer_profile,
    build_task_profile,
    build_worker_last_qa,
    build_worker_status,
)
from features.inputs import RELEASE_AFTER, LazyInputs
from features.province_features import build_province_status
from features.spec import (
    EVENT_TS,
    MANIFEST,
    PAIR_STATS,
    TYPE_STATS,
    VIEWS,
    WORKER_STATS,
    table_path,
    tables_dir,
)
from features.windows import DAY, HOUR, from_us, snapshot_grid, to_us
from features.worker_features import build_worker_tables
from opsmatch.contract import LOAD_ORDER, NOT_FEATURE_INPUTS, TABLES
from opsmatch.events import current_version, read_tables, store_id, table_versions
from opsmatch.heap import frame_bytes, give_back
from opsmatch.settings import Settings

PIPELINE_VERSION = "1"
ONLINE_MIN_HORIZON = DAY
ROW_GROUP_ROWS = 65_536  # small row groups: reading the latest snapshot skips the rest by statistics
Progress = Callable[[float, float], None]
_ARROW = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "ts": pa.timestamp("us", tz="UTC"),
}
# The contract tables features are built from: all but the lifecycle's own transitions (the risk team's
# interventions are an input; see ``opsmatch.contract.NOT_FEATURE_INPUTS``).
INPUT_TABLES: tuple[str, ...] = tuple(n for n in LOAD_ORDER if n not in NOT_FEATURE_INPUTS)
# Time-stamped activity tables (every input table with a time column but workers' hire dates).
EVENT_TIME_COLUMNS = {
    n: TABLES[n].time_column for n in INPUT_TABLES if TABLES[n].time_column and n != "workers"
}


def load_events(where: Settings | Path, version: int | None = None) -> dict[str, pd.DataFrame]:
    """All input tables as of event-store ``version`` (default: the newest), typed."""
    return read_tables(where, INPUT_TABLES, version=version)


def event_time_range(events: dict[str, pd.DataFrame]) -> tuple[int, int] | None:
    """(first, last) event time in µs over the time-stamped activity tables, or None if there are none."""
    if isinstance(events, LazyInputs):  # only the time columns of the tables not read yet
        cols = [events.time_column(t, str(c)) for t, c in EVENT_TIME_COLUMNS.items() if t in events]
        times = [to_us(c) for c in cols if len(c)]
    else:
        times = [to_us(events[t][c]) for t, c in EVENT_TIME_COLUMNS.items() if t in events and len(events[t])]
    if not times:
        return None
    allt = np.concatenate(times)
    return int(allt.min()), int(allt.max())


def online_since(events: dict[str, pd.DataFrame], as_of: int) -> int:
    """Start of the online window for event-driven views (tasks, customers), in µs.

    The earliest creation time of a task still open at ``as_of`` (not completed), but at least one day
    back: serving looks up open tasks and their customers, not the whole history.
    """
    tasks = events["tasks"]
    done = set(events["completions"]["task_id"].astype(str))
    open_created = to_us(tasks["created_at"])[~tasks["task_id"].astype(str).isin(done).to_numpy()]
    horizon = as_of - ONLINE_MIN_HORIZON
    return int(min(open_created.min(), horizon)) if len(open_created) else int(horizon)


def arrow_schema(view: str) -> pa.Schema:
    """Arrow schema of a feature table (keys are strings, event_timestamp is µs UTC)."""
    spec = VIEWS[view]
    fields = [pa.field(k, pa.string()) for k in spec.keys] + [pa.field(EVENT_TS, _ARROW["ts"])]
    return pa.schema(fields + [pa.field(n, _ARROW[t]) for n, t in spec.features])


def empty_table(view: str) -> pd.DataFrame:
    """Zero-row feature table with the right columns and dtypes."""
    return arrow_schema(view).empty_table().to_pandas()


def compute_tables(events: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict]:
    """All feature tables plus the auxiliary cache tables, and manifest facts. Pure."""
    tables, facts = iter_tables(events)
    return dict(tables), facts


def iter_tables(
    events: dict[str, pd.DataFrame], release: bool = False
) -> tuple[Iterator[tuple[str, pd.DataFrame]], dict]:
    """``compute_tables`` one table at a time (name, frame), and the manifest facts: a writer stores and
    drops each before the next is built, so only one output frame is held beside the events. With
    ``release`` (``events`` a ``LazyInputs``) each input is dropped after the last builder reading it."""
    rng = event_time_range(events)
    if rng is None:
        empty = [(v, empty_table(v)) for v in VIEWS]
        aux = [(n, pd.DataFrame()) for n in (TYPE_STATS, WORKER_STATS, PAIR_STATS)]
        return iter([*empty, *aux]), {"as_of": None, "history_start": None}
    t_first, t_last = rng
    daily = snapshot_grid(t_first, t_last, DAY)
    hourly = snapshot_grid(t_first, t_last, HOUR)
    facts = {
        "as_of": from_us(daily[-1:])[0].isoformat(),
        "history_start": from_us(daily[:1])[0].isoformat(),
        "online_since": from_us(np.array([online_since(events, int(daily[-1]))]))[0].isoformat(),
    }

    def built(name: str, frame: pd.DataFrame) -> tuple[str, pd.DataFrame]:
        if release and isinstance(events, LazyInputs):
            events.release(RELEASE_AFTER.get(name, ()))
        return name, frame

    def tables() -> Iterator[tuple[str, pd.DataFrame]]:
        parts = vars(build_worker_tables(events, daily))  # released part by part as they are yielded
        for name, attr in (
            ("worker_profile", "profile"),
            ("worker_type_perf", "type_perf"),
            (TYPE_STATS, "type_stats"),
            (WORKER_STATS, "worker_stats"),
            (PAIR_STATS, "pair_stats"),
        ):
            yield name, parts.pop(attr)
        yield "task_profile", build_task_profile(events["tasks"], events["provinces"])
        yield built(
            "customer_profile",
            build_customer_profile(
                events["customers"],
                events["tasks"],
                events["complaints"],
                int(daily[0]),
                events["interventions"],
            ),
        )
        yield built("province_status", build_province_status(events, hourly))
        yield built("worker_status", build_worker_status(events["worker_status"]))
        yield built("worker_last_qa", build_worker_last_qa(events["qa_results"]))

    return tables(), facts


def parquet_bytes(df: pd.DataFrame, view: str | None = None) -> bytes:
    """Parquet encoding of a table (typed by the view's schema when it is a view).

    Deterministic because the builders are: rows come out in a fixed order (snapshot tables are
    time-major, so the latest snapshot is a contiguous block of row groups).
    """
    if view is not None:
        table = pa.Table.from_pandas(
            df.reset_index(drop=True), schema=arrow_schema(view), preserve_index=False
        )
    else:
        table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    return buf.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly that; True if written."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def events_fingerprint(where: Settings | Path, version: int | None = None) -> str:
    """Hash of the pipeline version and, per table, the newest store version at most ``version`` that
    added rows to it (stored rows are immutable, so equal versions mean equal content)."""
    h = hashlib.sha256(f"{PIPELINE_VERSION}:{store_id(where)}".encode())
    upto = table_versions(where, upto=version)
    for name in INPUT_TABLES:
        h.update(f"{name}:{upto.get(name, 0)};".encode())
    return h.hexdigest()


def read_manifest(feature_data_dir: Path) -> dict:
    """The last build's manifest, or {} if none."""
    p = tables_dir(feature_data_dir) / MANIFEST
    return json.loads(p.read_text()) if p.exists() else {}


def build_features(
    settings: Settings,
    progress: Progress | None = None,
    force: bool = False,
    events_version: int | None = None,
) -> dict:
    """Event log (as of ``events_version``, default the newest) -> feature tables; returns a summary
    (as_of, events_version, rows per table, written/unchanged, seconds)."""
    t0 = time.perf_counter()
    out_dir = settings.feature_data_dir
    names = [*VIEWS, TYPE_STATS, WORKER_STATS, PAIR_STATS]
    newest = current_version(settings)
    version = newest if events_version is None else events_version
    if not 0 <= version <= newest:
        raise ValueError(f"events version {version} does not exist: the store's versions are 0..{newest}")
    fingerprint = events_fingerprint(settings, version)
    manifest = read_manifest(out_dir)
    if (
        not force
        and manifest.get("fingerprint") == fingerprint
        and all(table_path(out_dir, n).exists() for n in names)
    ):
        return {**manifest, "skipped": True, "written": [], "seconds": time.perf_counter() - t0}
    step = (lambda d: progress(d, 3.0)) if progress else (lambda d: None)
    step(0.0)
    events = LazyInputs(settings, INPUT_TABLES, version)  # each input read when first needed
    step(1.0)
    tables, facts = iter_tables(events, release=True)
    rows, changed = {}, set()
    for n, frame in tables:  # each table built, written and dropped before the next (bounded at 10x)
        rows[n] = len(frame)
        if write_if_changed(table_path(out_dir, n), parquet_bytes(frame, n if n in VIEWS else None)):
            changed.add(n)
        freed = frame_bytes(frame)
        del frame
        give_back(freed)
    step(2.0)
    written = [n for n in names if n in changed]
    manifest = {
        "version": PIPELINE_VERSION,
        "fingerprint": fingerprint,
        "events_version": version,
        **facts,
        "rows": {n: rows[n] for n in names},
    }
    write_if_changed(tables_dir(out_dir) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    step(3.0)
    return {**manifest, "skipped": False, "written": written, "seconds": time.perf_counter() - t0}
