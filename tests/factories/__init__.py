"""The tests' shared factories, in one place.

- this module: tiny, valid rows for every contract table (hand-sized, for ingest and contract tests);
- ``events``: generated event logs (``make_events``), hand-written ones (``hand_events``), writing them
  into the store, online/offline comparisons and a throwaway ``redis-server``;
- ``frames``: synthetic training frames with known effects; ``fakes``: in-memory runtime parts of the
  service (profiles, tasks, scorer, test clock);
- ``serving_world``: one real small world (twin -> features -> champions) for the service tests;
  ``loop_world``: throwaway worlds with a running service for the closed-loop tests.

Tiny, valid event tables for every contract table:

Every builder returns a frame in contract dtypes (``events.coerce``) whose timestamps lie before ``NOW``
and whose foreign keys point at rows of the other builders' defaults. ``event_tables()`` gives a whole
consistent set; ``to_csv_frame``/``write_csv``/``write_tables`` render files the way a customer would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from opsmatch.contract import CHANNELS, LOAD_ORDER, TABLES, TASK_TYPES
from opsmatch.events import coerce

NOW = pd.Timestamp("2026-07-01 00:00:00", tz="UTC")  # "now" for validation: after every factory time
T0 = pd.Timestamp("2026-06-01 08:00:00", tz="UTC")  # first task arrives here


def _typed(name: str, data: dict[str, list]) -> pd.DataFrame:
    return coerce(TABLES[name], pd.DataFrame(data))


def provinces(n: int = 2) -> pd.DataFrame:
    """Provinces P01..Pn, 09:00-18:00 Asia/Shanghai, closed at weekends."""
    ids = [f"P{i + 1:02d}" for i in range(n)]
    return _typed(
        "provinces",
        {
            "province_id": ids,
            "name": [f"Province {i}" for i in ids],
            "timezone": ["Asia/Shanghai"] * n,
            "workday_start_hour": [9] * n,
            "workday_end_hour": [18] * n,
            "works_weekends": [False] * n,
        },
    )


def workers(n: int = 3, province_ids: Sequence[str] = ("P01", "P02")) -> pd.DataFrame:
    """Workers W001..Wn spread round-robin over ``province_ids``, each skilled in two task types."""
    ids = [f"W{i + 1:03d}" for i in range(n)]
    levels = [{TASK_TYPES[i % 8]: 3, TASK_TYPES[(i + 1) % 8]: 2} for i in range(n)]
    skills = [json.dumps(s, sort_keys=True, separators=(",", ":")) for s in levels]  # canonical JSON
    return _typed(
        "workers",
        {
            "worker_id": ids,
            "province_id": [province_ids[i % len(province_ids)] for i in range(n)],
            "hired_at": [T0 - pd.Timedelta(days=365 + i) for i in range(n)],
            "skills": skills,
            "daily_capacity": [20] * n,
            "shift_start_hour": [9] * n,
            "shift_hours": [8] * n,
            "work_days": ["01234"] * n,
            "active": [True] * n,
        },
    )


def customers(n: int = 3) -> pd.DataFrame:
    """Customers C001..Cn with varied traits."""
    return _typed(
        "customers",
        {
            "customer_id": [f"C{i + 1:03d}" for i in range(n)],
            "age_band": [("30-44", "60+")[i % 2] for i in range(n)],
            "channel": [CHANNELS[i % len(CHANNELS)] for i in range(n)],
            "tenure_years": [1.5 + i for i in range(n)],
            "policy_value_band": [("low", "mid", "high")[i % 3] for i in range(n)],
            "vip": [i % 3 == 2 for i in range(n)],
            "prior_complaints": [i % 2 for i in range(n)],
        },
    )


def tasks(
    n: int = 4,
    province_ids: Sequence[str] = ("P01", "P02"),
    customer_ids: Sequence[str] = ("C001", "C002", "C003"),
    start: pd.Timestamp = T0,
) -> pd.DataFrame:
    """Tasks T0001..Tn, one every 10 minutes from ``start``, SLA 24 h later."""
    created = [start + pd.Timedelta(minutes=10 * i) for i in range(n)]
    return _typed(
        "tasks",
        {
            "task_id": [f"T{i + 1:04d}" for i in range(n)],
            "task_type": [TASK_TYPES[i % 8] for i in range(n)],
            "province_id": [province_ids[i % len(province_ids)] for i in range(n)],
            "customer_id": [customer_ids[i % len(customer_ids)] for i in range(n)],
            "created_at": created,
            "sla_due_at": [t + pd.Timedelta(hours=24) for t in created],
            "complexity": [1 + i % 5 for i in range(n)],
            "channel": [CHANNELS[i % len(CHANNELS)] for i in range(n)],
            "amount": [1000.0 + 250.5 * i for i in range(n)],
        },
    )


def assignments(
    task_frame: pd.DataFrame, worker_ids: Sequence[str] = ("W001", "W002", "W003")
) -> pd.DataFrame:
    """One assignment A<task> per task, 5 minutes after creation, round-robin over ``worker_ids``."""
    n = len(task_frame)
    return _typed(
        "assignments",
        {
            "assignment_id": [f"A{t}" for t in task_frame["task_id"]],
            "task_id": list(task_frame["task_id"]),
            "worker_id": [worker_ids[i % len(worker_ids)] for i in range(n)],
            "assigned_at": list(task_frame["created_at"] + pd.Timedelta(minutes=5)),
            "policy": ["legacy"] * n,
        },
    )


def completions(assignment_frame: pd.DataFrame) -> pd.DataFrame:
    """Each assigned task completed by its worker: started 10 min after assignment, 30 min of handling."""
    started = assignment_frame["assigned_at"] + pd.Timedelta(minutes=10)
    return _typed(
        "completions",
        {
            "task_id": list(assignment_frame["task_id"]),
            "worker_id": list(assignment_frame["worker_id"]),
            "started_at": list(started),
            "completed_at": list(started + pd.Timedelta(minutes=30)),
            "handling_minutes": [30.0] * len(assignment_frame),
        },
    )


def qa_results(completion_frame: pd.DataFrame) -> pd.DataFrame:
    """One QA check Q<task> per completion, an hour later; every third one fails without satisfaction."""
    n = len(completion_frame)
    return _typed(
        "qa_results",
        {
            "qa_id": [f"Q{t}" for t in completion_frame["task_id"]],
            "task_id": list(completion_frame["task_id"]),
            "worker_id": list(completion_frame["worker_id"]),
            "checked_at": list(completion_frame["completed_at"] + pd.Timedelta(hours=1)),
            "passed": [i % 3 != 2 for i in range(n)],
            "score": [90.0 - 10 * (i % 3) for i in range(n)],
            "satisfaction": [None if i % 3 == 2 else 4 for i in range(n)],
        },
    )


def complaints(task_frame: pd.DataFrame, n: int = 1) -> pd.DataFrame:
    """Complaints K001..Kn about the first ``n`` tasks, two days after creation."""
    t = task_frame.head(n)
    return _typed(
        "complaints",
        {
            "complaint_id": [f"K{i + 1:03d}" for i in range(len(t))],
            "task_id": list(t["task_id"]),
            "customer_id": list(t["customer_id"]),
            "filed_at": list(t["created_at"] + pd.Timedelta(days=2)),
            "severity": ["medium"] * len(t),
            "reason": ["timeliness"] * len(t),
        },
    )


def worker_status(
    worker_ids: Sequence[str] = ("W001", "W002", "W003"), at: pd.Timestamp = T0
) -> pd.DataFrame:
    """One status snapshot per worker at ``at``."""
    n = len(worker_ids)
    return _typed(
        "worker_status",
        {
            "worker_id": list(worker_ids),
            "at": [at] * n,
            "on_shift": [True] * n,
            "open_tasks": list(range(n)),
        },
    )


def task_events(assignment_frame: pd.DataFrame, completion_frame: pd.DataFrame) -> pd.DataFrame:
    """The lifecycle of each assigned task: created, assigned (by /assign), accepted, started, completed."""
    rows = []
    for a in assignment_frame.itertuples(index=False):
        done = completion_frame[completion_frame["task_id"] == a.task_id].iloc[0]
        steps = [
            ("create", a.assigned_at - pd.Timedelta(minutes=5), "intake", None, None),
            ("assign", a.assigned_at, "assign", a.assignment_id, a.worker_id),
            ("accept", a.assigned_at + pd.Timedelta(minutes=2), "worker", a.assignment_id, a.worker_id),
            ("start", done["started_at"], "worker", a.assignment_id, a.worker_id),
            ("complete", done["completed_at"], "outcomes", a.assignment_id, a.worker_id),
        ]
        rows += [
            {
                "event_id": f"E{a.task_id}-{kind}",
                "task_id": a.task_id,
                "kind": kind,
                "at": at,
                "actor": "factory",
                "source": source,
                "assignment_id": assignment,
                "worker_id": worker,
                "ranked_worker_id": None,
                "reason_code": None,
                "override_reason": None,
                "note": None,
                "arm": "ml" if kind == "assign" else None,
            }
            for kind, at, source, assignment, worker in steps
        ]
    return _typed("task_events", {c: [r[c] for r in rows] for c in TABLES["task_events"].column_names})


def interventions(task_frame: pd.DataFrame, n: int = 1) -> pd.DataFrame:
    """Proactive contacts I001..In with the customers of the first ``n`` tasks, a day after creation."""
    t = task_frame.head(n)
    return _typed(
        "interventions",
        {
            "intervention_id": [f"I{i + 1:03d}" for i in range(len(t))],
            "customer_id": list(t["customer_id"]),
            "task_id": list(t["task_id"]),
            "at": list(t["created_at"] + pd.Timedelta(days=1)),
            "kind": ["proactive"] * len(t),
            "outcome": ["resolved"] * len(t),
            "note": ["called back"] * len(t),
            "actor": ["risk-team"] * len(t),
        },
    )


def contacts(task_frame: pd.DataFrame, texts: Sequence[str] = ("请问续保进度怎么样了？",)) -> pd.DataFrame:
    """One inbound phone contact per task (texts cycled), an hour after its creation."""
    t = task_frame
    return _typed(
        "contacts",
        {
            "contact_id": [f"C{i + 1:03d}" for i in range(len(t))],
            "customer_id": list(t["customer_id"]),
            "task_id": list(t["task_id"]),
            "at": list(t["created_at"] + pd.Timedelta(hours=1)),
            "channel": ["phone"] * len(t),
            "direction": ["inbound"] * len(t),
            "text": [texts[i % len(texts)] for i in range(len(t))],
        },
    )


def journeys(task_frame: pd.DataFrame) -> pd.DataFrame:
    """One online journey per task's customer, a day before the task: even rows abandoned at step 2 of 4,
    odd rows completed (step 4 of 4)."""
    t = task_frame
    n = len(t)
    start = list(t["created_at"] - pd.Timedelta(days=1))
    done = [i % 2 == 1 for i in range(n)]
    return _typed(
        "journeys",
        {
            "journey_id": [f"J{i + 1:03d}" for i in range(n)],
            "customer_id": list(t["customer_id"]),
            "province_id": list(t["province_id"]),
            "flow": ["renewal"] * n,
            "channel": ["app"] * n,
            "steps": [4] * n,
            "step_reached": [4 if d else 2 for d in done],
            "started_at": start,
            "abandoned_at": [
                None if d else s + pd.Timedelta(minutes=6) for d, s in zip(done, start, strict=True)
            ],
            "completed_at": [
                s + pd.Timedelta(minutes=9) if d else None for d, s in zip(done, start, strict=True)
            ],
        },
    )


def event_tables(n_tasks: int = 4) -> dict[str, pd.DataFrame]:
    """A complete, mutually consistent set of all contract tables (keys in ``LOAD_ORDER``)."""
    t = tasks(n_tasks)
    a = assignments(t)
    c = completions(a)
    out = {
        "provinces": provinces(),
        "workers": workers(),
        "customers": customers(),
        "tasks": t,
        "assignments": a,
        "completions": c,
        "qa_results": qa_results(c),
        "complaints": complaints(t),
        "worker_status": worker_status(),
        "task_events": task_events(a, c),
        "interventions": interventions(t),
        "contacts": contacts(t),
        "journeys": journeys(t),
    }
    return {name: out[name] for name in LOAD_ORDER}


def to_csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """All cells as the strings a customer's CSV would hold: ISO-8601 UTC, true/false, empty for null."""
    out = pd.DataFrame(index=df.index)
    for name, s in df.items():
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            text = s.map(lambda t: t.isoformat(), na_action="ignore")
        elif pd.api.types.is_bool_dtype(s.dtype):
            text = s.map(lambda b: "true" if b else "false", na_action="ignore")
        else:
            text = s.astype("string")
        out[name] = text.astype(object).where(s.notna(), "")
    return out


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as a customer CSV (see ``to_csv_frame``); cells that are already strings stay as is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_csv_frame(df).to_csv(path, index=False)
    return path


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as Parquet with its own dtypes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def write_tables(folder: Path, tables: dict[str, pd.DataFrame], fmt: str = "csv") -> list[Path]:
    """Write each table as ``<folder>/<table>.<fmt>`` (fmt ``csv`` or ``parquet``)."""
    writer = write_csv if fmt == "csv" else write_parquet
    return [writer(df, folder / f"{name}.{fmt}") for name, df in tables.items()]
