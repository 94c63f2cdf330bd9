"""Latency of a running service, per endpoint and per worker: the scaled stack (PostgreSQL + Redis, two
workers: ``opsmatch stack up``) or the embedded default (``opsmatch demo``), measured the same way.

    .venv/bin/python bench/scaled_latency.py --url http://127.0.0.1:3000 --key data/keys/admin.key \
        --label "PostgreSQL + Redis, 2 workers" [--n 200]

Each call on a fresh connection (so either worker takes it; the ``X-Opsmatch-Worker`` header says
which). Reads: ``GET /info``, ``GET /tasks`` (100 waiting), ``GET /tasks/{id}``, ``POST /rank``; a write:
``POST /outcomes`` (5 new QA rows: an append to the event store, the ledger, the audit, the profiles).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(url: str, key: str, method: str, path: str, **kw: Any) -> tuple[float, str, httpx.Response]:
    start = time.perf_counter()
    r = httpx.request(method, url + path, headers={"Authorization": f"Bearer {key}"}, timeout=120, **kw)
    return (time.perf_counter() - start) * 1000, r.headers.get("x-opsmatch-worker", "?"), r


def measure(url: str, key: str, n: int) -> dict[str, tuple[list[float], Counter]]:
    """endpoint -> (latencies in ms, answers per worker)."""
    info = _timed(url, key, "GET", "/info")[2].json()
    now = datetime.fromisoformat(info["clock"]["now"]) if "clock" in info else None
    waiting = _timed(url, key, "GET", "/tasks?status=waiting&limit=100")[2].json()["tasks"]
    task = waiting[0] if waiting else None
    calls: dict[str, Callable[[], tuple[float, str, httpx.Response]]] = {
        "GET /info": lambda: _timed(url, key, "GET", "/info"),
        "GET /tasks (100 waiting)": lambda: _timed(url, key, "GET", "/tasks?status=waiting&limit=100"),
    }
    if task is not None:
        calls["GET /tasks/{id}"] = lambda: _timed(url, key, "GET", f"/tasks/{task['task_id']}")
        calls["POST /rank (top 5)"] = lambda: _timed(
            url, key, "POST", "/rank", json={"task_id": task["task_id"], "top_k": 5}
        )
    if task is not None and now is not None:  # QA rows on waiting tasks (the twin's workers are W0001...)
        calls["POST /outcomes (5 QA rows)"] = lambda: _timed(
            url, key, "POST", "/outcomes", json={"qa_results": [_qa(t, "W0001", now) for t in waiting[:5]]}
        )
    out: dict[str, tuple[list[float], Counter]] = {}
    for name, call in calls.items():
        lat, seen = [], Counter()
        for _ in range(n):
            ms, worker, r = call()
            assert r.status_code == 200, (name, r.status_code, r.text[:300])
            lat.append(ms)
            seen[worker] += 1
        out[name] = (lat, seen)
    return out


def _qa(task: dict[str, Any], worker_id: str, now: Any) -> dict[str, Any]:
    return {
        "qa_id": f"BQ-{uuid.uuid4().hex[:12]}",
        "task_id": task["task_id"],
        "worker_id": worker_id,
        "checked_at": (now - timedelta(seconds=1)).isoformat(),
        "passed": True,
        "score": 90.0,
        "satisfaction": 5,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", type=Path, required=True, help="file holding an admin key")
    ap.add_argument("--label", required=True)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    key = args.key.read_text().strip()
    rows = measure(args.url.rstrip("/"), key, args.n)
    print(f"\n{args.label}: {args.n} sequential calls each, fresh connection per call\n")
    print("| endpoint | p50 ms | p99 ms | mean ms | answers per worker |")
    print("| --- | --- | --- | --- | --- |")
    for name, (lat, seen) in rows.items():
        per = ", ".join(str(c) for _, c in sorted(seen.items()))
        print(
            f"| {name} | {_quantile(lat, 0.5):.1f} | {_quantile(lat, 0.99):.1f} | "
            f"{statistics.fmean(lat):.1f} | {per} |"
        )


if __name__ == "__main__":
    main()
