"""Entry point used by the CLI: generate a history under the legacy policy and write it out."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs for pyarrow
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from opsmatch import events
from opsmatch.heap import frame_bytes, give_back
from opsmatch.settings import Settings
from simulator.arrivals import generate_arrivals
from simulator.clock import anchored, end_of
from simulator.engine import SimResult, simulate
from simulator.outcomes import summarize, task_outcomes
from simulator.policies import LegacyPolicy, Policy
from simulator.scenario import load_scenario
from simulator.tables import CONTRACT_TABLES, event_table_builders, task_truth_frame
from simulator.truth import TASK_TRUTH_FILE
from simulator.workforce import build_workforce

SURGES_FILE = "surges.parquet"
META_FILE = "meta.json"


@dataclass
class HistorySummary:
    """What ``generate_history`` produced: row counts per table, timings and headline figures."""

    scenario: str
    days: int
    seed: int
    start: str
    end: str
    events_dir: str
    truth_dir: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # total wall time
    timings: dict[str, float] = field(default_factory=dict)  # per phase
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of this process per phase
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def row_counts(self) -> dict[str, int]:
        """Alias of ``rows``: rows written per contract table."""
        return self.rows

    def to_dict(self) -> dict:
        return asdict(self)


WRITE_ROWS = 500_000  # rows per append: a default history's tables (<= 400 k rows) are one append each
_RECORD_DTYPES = {"task": np.int64, "worker": np.int64, "at": np.float64, "policy": object}
REPLAY_RECORD_BYTES = 150  # a replay record's Python objects over its columns (ints, floats, list slots)
_STATUS_DTYPES = {"worker": np.int64, "at": np.float64, "on_shift": bool, "open_tasks": np.int64}


def _release_replay(result: SimResult) -> None:
    """The replay's records as arrays (same values) and the replay itself collected before the tables
    are built: its state (per-task lists, indexes, the policy's view) is a reference cycle that the
    cyclic GC may not visit while pandas builds the tables, and its millions of small objects would stay
    in memory beside them (at 10x the default: >= 4.1 GB peak while writing)."""
    records = len(result.assignments.get("task", ())) + len(result.status.get("worker", ()))
    result.assignments = {
        k: np.asarray(v, dtype=_RECORD_DTYPES.get(k)) for k, v in result.assignments.items()
    }
    result.status = {k: np.asarray(v, dtype=_STATUS_DTYPES.get(k)) for k, v in result.status.items()}
    give_back(records * REPLAY_RECORD_BYTES)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_parquet(path, index=False)`` converted to Arrow ``WRITE_ROWS`` rows at a time (the same
    columns and values; one Arrow copy of a slice beside the frame, not of the whole frame)."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, max(len(frame), 1), WRITE_ROWS):
            part = frame.iloc[start : start + WRITE_ROWS]
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


def generate_history(
    settings: Settings,
    scenario: str,
    days: int,
    seed: int | None = None,
    progress: Callable[[float, float], None] | None = None,
    *,
    end: dt.datetime | None = None,
    policy: Policy | None = None,
) -> HistorySummary:
    """Generate ``days`` of history for ``scenario`` under the legacy policy (with exploration), write
    the nine contract tables to ``settings.events_dir`` and the hidden truth to ``settings.truth_dir``.

    ``end`` (e.g. now) anchors the clock: the history then runs from a Monday at least ``days`` before
    ``end`` up to ``end`` itself, so its open tasks are open at ``end``; without it the history starts
    at the scenario's ``start``. ``progress(done, total)`` is called with simulated days done (then
    ``(total, total)`` once everything is written). ``seed`` defaults to ``settings.seed``. ``policy``
    replaces the legacy one (e.g. national routing: work done across provinces, the settlement bench).
    """
    seed = settings.seed if seed is None else seed
    config = load_scenario(scenario)
    end_minute: float | None = None
    if end is not None:
        config, days, end_minute = anchored(config, days, end)
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t, c = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal t, c
        now, now_cpu = time.perf_counter(), time.process_time()
        timings[name], cpu[name] = round(now - t, 3), round(now_cpu - c, 3)
        t, c = now, now_cpu

    workforce = build_workforce(config, seed)
    arrivals = generate_arrivals(config, days, seed)
    if end_minute is not None:
        arrivals = arrivals.until(end_minute)
    lap("arrivals")
    result = simulate(
        config, arrivals, policy or LegacyPolicy(explore=True), seed, workforce=workforce, progress=progress
    )
    _release_replay(result)
    lap("simulate")
    outcomes = task_outcomes(result)
    give_back(frame_bytes(outcomes))  # the outcome draws' temporaries, about the outcomes' size
    builders = event_table_builders(result, outcomes)
    lap("outcomes")
    events_dir, truth_dir = Path(settings.events_dir), Path(settings.truth_dir)
    rows = {}
    for name in CONTRACT_TABLES:  # the same history again stores nothing; another one is refused
        table = builders[name]()  # one table's frame at a time beside the replay (bounded at 10x)
        for start in range(0, max(len(table), 1), WRITE_ROWS):  # the store's copies: one slice at a time
            events.append(settings, name, table.iloc[start : start + WRITE_ROWS])
        rows[name] = len(table)
        freed = frame_bytes(table)
        del table
        give_back(freed)
    lap("write_events")
    workforce.truth.save(truth_dir)
    _write_parquet(task_truth_frame(result, outcomes), truth_dir / TASK_TRUTH_FILE)
    arrivals.surges.to_parquet(truth_dir / SURGES_FILE, index=False)
    summary = HistorySummary(
        scenario=config.name,
        days=days,
        seed=seed,
        start=config.start_utc.isoformat(),
        end=(end_of(config, days) if end is None else pd.Timestamp(end).tz_convert("UTC")).isoformat(),
        events_dir=str(events_dir),
        truth_dir=str(truth_dir),
        rows=rows,
        metrics={k: round(v, 4) for k, v in summarize(result, outcomes).items()},
    )
    (truth_dir / META_FILE).write_text(
        json.dumps(
            {
                "scenario": config.name,
                "days": days,
                "seed": seed,
                "policy": result.policy,
                "start": summary.start,
                "end": summary.end,
                "metrics": summary.metrics,
            },
            indent=1,
        )
    )
    lap("write_truth")
    summary.timings, summary.cpu = timings, cpu
    summary.seconds = round(sum(timings.values()), 3)
    if progress is not None:
        progress(float(days), float(days))
    return summary
