"""Event store benchmarks: the SQL store (SQLite WAL through ADBC) against the rewrite-the-file design it
replaced (one Parquet file per table, every append rewrites it), measured in the same run.

1. A 1-row idempotent append of a QA result with 10k / 1M / 10M rows stored (median of 20 appends for
   the store; of 3 for the rewrite design, which needs seconds each at 10M).
2. ``serving.state.ingestion.ingest_rows`` of a 10-row QA batch on the default's event store (validation
   against the key index + the durable append: what ``POST /outcomes`` does besides HTTP and the profile
   push), p50 and p99 of 200.
3. The feature build's read (``features.pipeline.load_events``: all nine tables, typed) on the default's
   tables: the store vs the same tables as Parquet files read with pandas (today's read), best of 3.

Run: ``.venv/bin/python bench/bench_events.py [--work /tmp/opsmatch-bench-events] [--sizes 10000,...]``;
the default's 90-day history is generated under ``--work`` when absent. Writes the "Event store"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _docs import write_section  # noqa: E402

from opsmatch import events  # noqa: E402
from opsmatch.contract import LOAD_ORDER, TABLES  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def qa_frame(start: int, n: int) -> pd.DataFrame:
    """``n`` synthetic QA results with ids ``Q<start..>`` (contract dtypes)."""
    i = np.arange(start, start + n)
    return events.coerce(
        TABLES["qa_results"],
        pd.DataFrame(
            {
                "qa_id": [f"Q{k:010d}" for k in i],
                "task_id": [f"T{k:010d}" for k in i],
                "worker_id": [f"W{k % 5000:05d}" for k in i],
                "checked_at": T0 + pd.to_timedelta(i % 10**8, unit="s"),
                "passed": i % 5 != 0,
                "score": (i % 100).astype(float),
                "satisfaction": 1 + i % 5,
            }
        ),
    )


# -- the replaced design (opsmatch/events.py before the SQL store), kept here only to compare ------------
def legacy_append(path: Path, rows: pd.DataFrame) -> int:
    """The rewrite-the-file append: read the table, drop stored keys, rewrite the whole file, rename."""
    stored = pq.read_table(path)
    held = pa.compute.is_in(stored.column("qa_id"), value_set=pa.array(rows["qa_id"].astype(str)))
    new = rows[~rows["qa_id"].isin(stored.filter(held).column("qa_id").to_pylist())]
    if not len(new):
        return 0
    tmp = path.with_suffix(".parquet.tmp")
    added = pa.Table.from_pandas(new, preserve_index=False).cast(stored.schema)
    pq.write_table(pa.concat_tables([stored, added]).combine_chunks(), tmp, compression="snappy")
    os.replace(tmp, path)
    return len(new)


def _median_ms(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def append_cost(folder: Path, n: int) -> dict[str, float]:
    """1-row append cost with ``n`` rows stored: the store (new row, the same row again) and the rewrite."""
    where = events.store_url(folder)
    have = events.row_count(where, "qa_results")
    for start in range(have, n, 1_000_000):
        events.append_rows(where, "qa_results", qa_frame(start, min(1_000_000, n - start)))
    legacy = folder / "legacy" / "qa_results.parquet"
    if not legacy.exists():
        legacy.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(qa_frame(0, n), preserve_index=False), legacy)
    tag = 10**9 + int(time.time() * 1000) % 10**8 * 1000
    rows = [qa_frame(tag + i, 1) for i in range(120)]  # built before timing

    def one(i: int) -> pd.DataFrame:
        return rows[i]

    store_ms = _median_ms(lambda i: events.append_rows(where, "qa_results", one(i)), 20)
    again_ms = _median_ms(lambda i: events.append_rows(where, "qa_results", one(i)), 20)
    legacy_ms = _median_ms(lambda i: legacy_append(legacy, one(100 + i)), 3)
    return {"rows": n, "store_ms": store_ms, "store_again_ms": again_ms, "rewrite_ms": legacy_ms}


def append_costs(work: Path, sizes: list[int]) -> list[dict[str, float]]:
    """1-row append cost vs rows stored, store and rewrite design."""
    out = []
    for n in sizes:
        out.append(append_cost(work / f"append-{n}", n))
        print(json.dumps(out[-1]), flush=True)
    return out


def default_history(work: Path) -> Settings:
    settings = Settings(data_dir=work / "default")
    if not events.has_rows(settings, "tasks"):
        from simulator.run import generate_history

        print("generating the default's 90-day history", flush=True)
        generate_history(settings, "default", 90)
    return settings


def read_costs(settings: Settings, work: Path) -> dict[str, float]:
    """The feature build's read: the store vs the same tables as Parquet files (today's read)."""
    from features.pipeline import load_events

    legacy = work / "default-parquet"
    if not legacy.exists():
        legacy.mkdir(parents=True)
        for name in LOAD_ORDER:
            events.read_table(settings, name).to_parquet(legacy / f"{name}.parquet", index=False)

    def parquet_read() -> dict[str, pd.DataFrame]:
        return {n: events.coerce(TABLES[n], pd.read_parquet(legacy / f"{n}.parquet")) for n in LOAD_ORDER}

    def best(fn) -> float:  # noqa: ANN001
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    rows = sum(events.row_count(settings, n) for n in LOAD_ORDER)
    return {"rows": rows, "store_s": best(lambda: load_events(settings)), "parquet_s": best(parquet_read)}


def outcomes_costs(settings: Settings, work: Path, n: int = 200) -> dict[str, float]:
    """``ingest_rows`` of 10 QA rows on a copy of the default's store: p50 / p99 in ms."""
    from opsmatch import event_admin
    from serving.runtime.components import row_validator
    from serving.state.event_index import EventIndex
    from serving.state.ingestion import ingest_rows

    copy_dir = work / f"outcomes-{int(time.time())}" / "data"
    url = event_admin.backup(settings, copy_dir / "events")
    copy = Settings(data_dir=copy_dir, events_url=url)
    index = EventIndex(copy)
    validate = row_validator(copy, index)
    done = events.read_table(copy, "completions").tail(10)
    now = datetime.now(UTC)
    index.keys("tasks")  # first use reads the key columns once (as the service does at start)
    times = []
    for b in range(n):
        rows = [
            {
                "qa_id": f"B{b}-{i}",
                "task_id": str(r.task_id),
                "worker_id": str(r.worker_id),
                "checked_at": r.completed_at.to_pydatetime(),
                "passed": True,
                "score": 90.0,
                "satisfaction": 5,
            }
            for i, r in enumerate(done.itertuples())
        ]
        t0 = time.perf_counter()
        got = ingest_rows("qa_results", rows, field="qa_results", events=copy, now=now, validate=validate)
        times.append(time.perf_counter() - t0)
        assert got.new == 10
    ms = np.array(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": n}


LOAD_NOTE = (
    "The cores are shared with other jobs whose load can change during a run: compare the columns as "
    "orders of magnitude. The store's append is an index probe and one fsync at every size; the rewrite "
    "design rewrites the whole file."
)


def render(appends: list[dict], reads: dict, outcomes: dict, command: str) -> str:
    lines = [
        "## Event store",
        "",
        f"`{command}` (2 shared cores; SQLite WAL with `synchronous=FULL`, i.e. an fsync per append).",
        "",
        "### 1-row idempotent append vs rows stored (QA results)",
        "",
        "| rows stored | SQL store, new row (ms, median of 20) | SQL store, same row again | "
        "rewrite-the-file design (ms, median of 3) |",
        "| --- | --- | --- | --- |",
    ]
    for a in appends:
        lines.append(
            f"| {a['rows']:,} | {a['store_ms']:.1f} | {a['store_again_ms']:.1f} | {a['rewrite_ms']:,.0f} |"
        )
    ratio = reads["store_s"] / reads["parquet_s"]
    lines += ["", LOAD_NOTE]
    lines += [
        "",
        "### Feature build read (`features.pipeline.load_events`, all nine tables typed, best of 3)",
        "",
        "| source | rows | seconds |",
        "| --- | --- | --- |",
        f"| SQL store (ADBC → Arrow) | {reads['rows']:,} | {reads['store_s']:.2f} |",
        f"| the same tables as Parquet files (today's read) | {reads['rows']:,} | {reads['parquet_s']:.2f} |",
        "",
        f"Ratio {ratio:.2f}× (target ≤ 1.5×).",
        "",
        "### `/outcomes` ingestion on the default's store (`ingestion.ingest_rows`, 10 QA rows)",
        "",
        f"Validation against the key index plus the durable append, {outcomes['n']} requests: "
        f"p50 {outcomes['p50_ms']:.1f} ms, p99 {outcomes['p99_ms']:.1f} ms (HTTP and the profile push "
        "excluded).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/opsmatch-bench-events"))
    ap.add_argument("--sizes", default="10000,1000000,10000000")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    appends = append_costs(args.work, sizes)
    settings = default_history(args.work)
    reads = read_costs(settings, args.work)
    print(json.dumps(reads), flush=True)
    outcomes = outcomes_costs(settings, args.work)
    print(json.dumps(outcomes), flush=True)
    command = "OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_events.py" + (
        f" --sizes {args.sizes}" if args.sizes != "10000,1000000,10000000" else ""
    )
    if not args.no_doc:
        write_section("## Event store", render(appends, reads, outcomes, command))


if __name__ == "__main__":
    main()
