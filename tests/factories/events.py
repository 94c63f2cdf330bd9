"""Test helpers for the feature store: event-log factories (multi-day random, and hand-built rows)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from opsmatch import event_admin
from opsmatch.contract import AGE_BANDS, CHANNELS, COMPLAINT_REASONS, SEVERITIES, TASK_TYPES, VALUE_BANDS
from opsmatch.events import append_rows
from opsmatch.settings import Settings

START = pd.Timestamp("2024-03-04", tz="UTC")  # a Monday


def make_events(
    n_provinces: int = 3,
    n_workers: int = 12,
    n_customers: int = 60,
    days: int = 6,
    tasks_per_day: int = 60,
    seed: int = 0,
    start: pd.Timestamp = START,
) -> dict[str, pd.DataFrame]:
    """A small, internally consistent event log covering every contract table (vectorised)."""
    rng = np.random.default_rng(seed)
    end = start + pd.Timedelta(days=days)
    pids = [f"P{i + 1:02d}" for i in range(n_provinces)]
    provinces = pd.DataFrame(
        {
            "province_id": pids,
            "name": [f"Province {p}" for p in pids],
            "timezone": ["Asia/Shanghai" if i % 3 else "Asia/Urumqi" for i in range(n_provinces)],
            "workday_start_hour": 8,
            "workday_end_hour": 18,
            "works_weekends": [i % 2 == 0 for i in range(n_provinces)],
        }
    )
    wids = np.array([f"W{i + 1:04d}" for i in range(n_workers)])
    w_prov = np.array(pids)[np.arange(n_workers) % n_provinces]
    skills = []
    for _ in range(n_workers):
        types = rng.choice(len(TASK_TYPES), size=rng.integers(3, 6), replace=False)
        skills.append({TASK_TYPES[t]: int(rng.integers(1, 6)) for t in types})
    workers = pd.DataFrame(
        {
            "worker_id": wids,
            "province_id": w_prov,
            "hired_at": start - pd.to_timedelta(rng.integers(20, 2000, n_workers), unit="D"),
            "skills": [json.dumps(s) for s in skills],
            "daily_capacity": rng.integers(20, 40, n_workers),
            "shift_start_hour": 1,
            "shift_hours": 9,
            "work_days": "0123456",
            "active": True,
        }
    )
    cids = np.array([f"C{i + 1:06d}" for i in range(n_customers)])
    customers = pd.DataFrame(
        {
            "customer_id": cids,
            "age_band": rng.choice(AGE_BANDS, n_customers),
            "channel": rng.choice(CHANNELS, n_customers),
            "tenure_years": rng.uniform(0, 20, n_customers).round(1),
            "policy_value_band": rng.choice(VALUE_BANDS, n_customers),
            "vip": rng.random(n_customers) < 0.1,
            "prior_complaints": rng.poisson(0.3, n_customers),
        }
    )
    n = days * tasks_per_day
    created = start + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n)), unit="s")
    ttype = rng.integers(0, len(TASK_TYPES), n)
    tprov = rng.integers(0, n_provinces, n)
    tasks = pd.DataFrame(
        {
            "task_id": [f"T{i + 1:07d}" for i in range(n)],
            "task_type": np.array(TASK_TYPES)[ttype],
            "province_id": np.array(pids)[tprov],
            "customer_id": rng.choice(cids, n),
            "created_at": created,
            "sla_due_at": created + pd.to_timedelta(rng.choice([4, 8, 24, 48], n), unit="h"),
            "complexity": rng.integers(1, 6, n),
            "channel": rng.choice(CHANNELS, n),
            "amount": rng.lognormal(8, 1.5, n).round(2),
        }
    )
    # Assign within the province; 10 % are re-dispatched to a second worker.
    by_prov = [np.flatnonzero(w_prov == p) for p in pids]
    worker_of = np.array([rng.choice(by_prov[p]) for p in tprov])
    assigned = created + pd.to_timedelta(rng.exponential(1800, n), unit="s")
    redo = rng.random(n) < 0.1
    final_worker = np.where(redo, [rng.choice(by_prov[p]) for p in tprov], worker_of)
    reassigned = assigned + pd.to_timedelta(rng.exponential(3600, n), unit="s")
    asg = pd.DataFrame({"task_id": tasks["task_id"], "worker_id": wids[worker_of], "assigned_at": assigned})
    asg2 = pd.DataFrame(
        {
            "task_id": tasks["task_id"][redo],
            "worker_id": wids[final_worker[redo]],
            "assigned_at": reassigned[redo],
        }
    )
    assignments = pd.concat([asg, asg2], ignore_index=True)
    assignments["policy"] = "legacy"
    assignments = assignments[assignments["assigned_at"] < end].reset_index(drop=True)
    assignments.insert(0, "assignment_id", [f"A{i + 1:07d}" for i in range(len(assignments))])
    final_at = pd.Series(np.where(redo, reassigned, assigned))
    base = 20 + 10 * ttype
    speed = rng.uniform(0.6, 1.6, n_workers)
    minutes = (base * speed[final_worker] * rng.lognormal(0, 0.3, n)).round(2)
    started = final_at + pd.to_timedelta(rng.exponential(600, n), unit="s")
    completed = started + pd.to_timedelta(minutes, unit="m")
    done = (completed < end).to_numpy()
    completions = pd.DataFrame(
        {
            "task_id": tasks["task_id"],
            "worker_id": wids[final_worker],
            "started_at": started,
            "completed_at": completed,
            "handling_minutes": minutes,
        }
    )[done].reset_index(drop=True)
    quality = rng.uniform(0.6, 0.98, n_workers)
    qa_sel = done & (rng.random(n) < 0.5)
    checked = completed + pd.to_timedelta(rng.uniform(1, 30, n), unit="h")
    qa_sel &= (checked < end).to_numpy()
    passed = rng.random(n) < quality[final_worker]
    sat = np.where(rng.random(n) < 0.7, rng.integers(1, 6, n), -1)
    qa_results = pd.DataFrame(
        {
            "qa_id": [f"Q{i + 1:07d}" for i in range(n)],
            "task_id": tasks["task_id"],
            "worker_id": wids[final_worker],
            "checked_at": checked,
            "passed": passed,
            "score": np.where(passed, 90.0, 55.0),
            "satisfaction": pd.array(np.where(sat > 0, sat, 0), dtype="Int64"),
        }
    )
    qa_results.loc[sat <= 0, "satisfaction"] = pd.NA
    qa_results = qa_results[qa_sel].reset_index(drop=True)
    filed = completed + pd.to_timedelta(rng.uniform(1, 72, n), unit="h")
    cp_sel = done & (rng.random(n) < 0.15) & (filed < end).to_numpy()
    complaints = pd.DataFrame(
        {
            "complaint_id": [f"K{i + 1:07d}" for i in range(n)],
            "task_id": tasks["task_id"],
            "customer_id": tasks["customer_id"],
            "filed_at": filed,
            "severity": rng.choice(SEVERITIES, n),
            "reason": rng.choice(COMPLAINT_REASONS, n),
        }
    )[cp_sel].reset_index(drop=True)
    # Status: on at 01:00 UTC, off at 10:00 UTC each day, with a load figure.
    day_starts = start + pd.to_timedelta(np.arange(days), unit="D")
    on = pd.DataFrame(
        {
            "worker_id": np.repeat(wids, days),
            "at": np.tile(day_starts + pd.Timedelta(hours=1), n_workers),
            "on_shift": True,
        }
    )
    off = on.assign(at=on["at"] + pd.Timedelta(hours=9), on_shift=False)
    worker_status = pd.concat([on, off], ignore_index=True)
    worker_status["open_tasks"] = rng.integers(0, 8, len(worker_status))
    worker_status = worker_status.sort_values(["at", "worker_id"]).reset_index(drop=True)
    return {
        "provinces": provinces,
        "workers": workers,
        "customers": customers,
        "tasks": tasks,
        "assignments": assignments,
        "completions": completions,
        "qa_results": qa_results,
        "complaints": complaints,
        "worker_status": worker_status,
    }


def write_events(settings: Settings, events: dict[str, pd.DataFrame]) -> None:
    """Replace the settings' event store by these tables."""
    event_admin.reset(settings)
    for name, df in events.items():
        append_rows(settings, name, df)


# -- hand-built event logs ------------------------------------------------------------------------------
D0 = START  # Monday 2024-03-04 00:00 UTC

_DEFAULTS: dict[str, dict] = {
    "provinces": {
        "name": "Province",
        "timezone": "UTC",
        "workday_start_hour": 9,
        "workday_end_hour": 18,
        "works_weekends": False,
    },
    "workers": {
        "province_id": "P01",
        "hired_at": D0 - pd.Timedelta(days=100),
        "skills": '{"renewal": 3}',
        "daily_capacity": 20,
        "shift_start_hour": 9,
        "shift_hours": 8,
        "work_days": "01234",
        "active": True,
    },
    "customers": {
        "age_band": "30-44",
        "channel": "online",
        "tenure_years": 1.0,
        "policy_value_band": "mid",
        "vip": False,
        "prior_complaints": 0,
    },
    "tasks": {
        "task_type": "renewal",
        "province_id": "P01",
        "customer_id": "C1",
        "complexity": 2,
        "channel": "online",
        "amount": 100.0,
    },
    "assignments": {"policy": "legacy"},
    "completions": {},
    "qa_results": {"score": 80.0, "satisfaction": None},
    "complaints": {"severity": "low", "reason": "timeliness"},
    "worker_status": {},
    "contacts": {"task_id": None, "channel": "phone", "direction": "inbound"},
    "journeys": {"province_id": "P01", "flow": "renewal", "channel": "app", "steps": 4},
}


def at(day: float = 0, hour: float = 0) -> pd.Timestamp:
    """A time ``day`` days and ``hour`` hours after D0."""
    return D0 + pd.Timedelta(days=day) + pd.Timedelta(hours=hour)


def table(name: str, rows: list[dict]) -> pd.DataFrame:
    """A contract table from partial rows (defaults fill the rest; some columns derived)."""
    from opsmatch.contract import TABLES
    from opsmatch.events import coerce, empty_frame

    if not rows:
        return empty_frame(name)
    full = []
    for i, row in enumerate(rows):
        r = {**_DEFAULTS[name], **row}
        if name == "tasks":
            r.setdefault("created_at", D0)
            r.setdefault("sla_due_at", r["created_at"] + pd.Timedelta(hours=8))
            r.setdefault("task_id", f"T{i + 1}")
        if name == "completions":
            r.setdefault("handling_minutes", 30.0)
            r.setdefault("started_at", r["completed_at"] - pd.Timedelta(minutes=r["handling_minutes"]))
        if name == "qa_results":
            r.setdefault("qa_id", f"Q{i + 1}")
        if name == "complaints":
            r.setdefault("complaint_id", f"K{i + 1}")
            r.setdefault("customer_id", "C1")
        if name == "assignments":
            r.setdefault("assignment_id", f"A{i + 1}")
        full.append(r)
    df = pd.DataFrame(full)
    return coerce(TABLES[name], df[[c.name for c in TABLES[name].columns]])


def hand_events(**tables: list[dict]) -> dict[str, pd.DataFrame]:
    """All contract tables from partial rows; provinces/workers/customers get one default row if absent."""
    from opsmatch.contract import LOAD_ORDER

    base = {
        "provinces": [{"province_id": "P01"}],
        "workers": [{"worker_id": "W1"}],
        "customers": [{"customer_id": "C1"}],
    }
    return {name: table(name, tables.get(name, base.get(name, []))) for name in LOAD_ORDER}


# -- Feast checks ---------------------------------------------------------------------------------------
def latest_offline(settings: Settings, view: str) -> pd.DataFrame:
    """Each entity's latest row of a feature table (what materialize puts online)."""
    from features.spec import VIEWS, table_path

    spec = VIEWS[view]
    df = pd.read_parquet(table_path(settings.feature_data_dir, view))
    return df.sort_values("event_timestamp", kind="stable").drop_duplicates(list(spec.keys), keep="last")


def _same(a, b) -> bool:
    missing_a = a is None or (isinstance(a, float) and np.isnan(a))
    missing_b = b is None or (isinstance(b, float) and np.isnan(b))
    if missing_a or missing_b:
        return missing_a and missing_b
    if isinstance(a, (pd.Timestamp, np.datetime64)) or hasattr(a, "tzinfo"):
        return pd.Timestamp(a).tz_convert("UTC") == pd.Timestamp(b).tz_convert("UTC")
    if isinstance(a, (float, np.floating)):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-12))
    return a == b


def online_mismatches(
    store, settings: Settings, view: str, n: int = 25, seed: int = 0, since: pd.Timestamp | None = None
) -> tuple[int, list[str]]:
    """Compare online values with the latest offline row for up to ``n`` sampled entities of ``view``.

    Returns (entities compared, mismatch descriptions). ``since`` restricts to entities whose latest row
    is at or after it (the online window of event-driven views).
    """
    from features.spec import VIEWS

    spec = VIEWS[view]
    latest = latest_offline(settings, view)
    if since is not None:
        latest = latest[latest["event_timestamp"] >= since]
    sample = latest.sample(min(n, len(latest)), random_state=seed)
    rows = sample[list(spec.keys)].to_dict("records")
    online = store.get_online_features(
        features=[f"{view}:{f}" for f in spec.feature_names], entity_rows=rows
    ).to_dict()
    bad = []
    for i, (_, off) in enumerate(sample.iterrows()):
        for f in spec.feature_names:
            if not _same(off[f], online[f][i]):
                bad.append(f"{view} {rows[i]} {f}: offline={off[f]!r} online={online[f][i]!r}")
    return len(rows), bad


def start_redis(workdir: Path, timeout: float = 10.0) -> tuple[subprocess.Popen, str]:
    """A throwaway ``redis-server`` (no persistence) on a free local port: (process, "host:port").

    Raises FileNotFoundError when redis-server is not installed, RuntimeError when it does not answer
    within ``timeout`` seconds. The caller terminates the process. Shared by the tests and the benchmark.
    """
    import redis

    exe = shutil.which("redis-server")
    if exe is None:
        raise FileNotFoundError("redis-server not found (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [exe, *args, "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.time() + timeout
    while True:
        try:
            client.ping()
            return proc, f"127.0.0.1:{port}"
        except redis.ConnectionError as exc:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"redis-server on port {port} did not answer") from exc
            time.sleep(0.05)
