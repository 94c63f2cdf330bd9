"""The national board as one pure function: provinces (backlog, staff, load, SLA, sharing) and the
national KPIs with their 24-hour trend, from the open tasks, the worker pool and the policy.

Definitions (the board's legend says the same):

- *backlog*: tasks waiting for a worker (pending, rejected, taken back); *in progress*: assigned,
  accepted or started;
- *on shift*: active workers available now (live status while fresh, else the roster); *at capacity*:
  on shift with open tasks >= their capacity; *utilisation*: open tasks / capacity over the workers
  on shift;
- *SLA overdue*: open tasks past their due time; *SLA near*: due within ``sla_near_hours``;
- *oldest*: the longest-waiting task of the backlog;
- KPIs over the last 24 hours: arrivals, completions, mean turnaround (arrival to completion), share
  of completions within SLA, QA pass rate, complaints filed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from serving.config import Policy
from serving.console.board_index import HOUR_US
from serving.matching.urgency import NEAR_SLA, OVERDUE, level
from serving.protocols import WorkerPool
from serving.tasks.book import OpenTask
from serving.tasks.lifecycle import WAITING

WAITING_NAMES = frozenset(s.value for s in WAITING)


def hours_window(now: datetime, hours: int = 24) -> range:
    """The ``hours`` hour numbers (since the epoch) ending with the current one."""
    current = int(now.timestamp() * 1e6) // HOUR_US
    return range(current - hours + 1, current + 1)


def _ratio(num: float, den: float, digits: int = 4) -> float | None:
    return round(num / den, digits) if den else None


def _province_rows(
    open_tasks: Sequence[tuple[str, OpenTask]], now_us: int, near_hours: float
) -> dict[str, dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    for task_id, t in open_tasks:
        r = rows.get(t.province_id)
        if r is None:
            r = rows[t.province_id] = {
                "backlog": 0,
                "in_progress": 0,
                "sla_overdue": 0,
                "sla_near": 0,
                "oldest_created": None,
                "oldest_task_id": None,
            }
        if t.status in WAITING_NAMES:
            r["backlog"] += 1  # type: ignore[operator]
            if r["oldest_created"] is None or t.created_us < r["oldest_created"]:  # type: ignore[operator]
                r["oldest_created"], r["oldest_task_id"] = t.created_us, task_id
        else:
            r["in_progress"] += 1  # type: ignore[operator]
        urgency = level((t.sla_due_us - now_us) / 1e6, near_hours)
        if urgency == OVERDUE:
            r["sla_overdue"] += 1  # type: ignore[operator]
        elif urgency == NEAR_SLA:
            r["sla_near"] += 1  # type: ignore[operator]
    return rows


def build_board(
    *,
    now: datetime,
    open_tasks: Sequence[tuple[str, OpenTask]],
    trend: Mapping[str, Sequence[float]],
    hours: range,
    province_names: Mapping[str, str],
    pool: WorkerPool | None,
    on_shift: np.ndarray | None,
    capacity: np.ndarray | None,
    policy: Policy,
    policy_version: int,
) -> dict[str, object]:
    """The board's JSON (see the module docstring)."""
    now_us = int(now.timestamp() * 1e6)
    tasks = _province_rows(open_tasks, now_us, policy.alerts.sla_near_hours)
    ids = set(province_names) | set(tasks) | set(policy.provinces)
    staff = {}
    if pool is not None and on_shift is not None and capacity is not None:
        ids |= set(pool.provinces)
        n = len(pool.provinces)
        code = pool.province_code
        here = on_shift & pool.active
        count = lambda mask, w=None: np.bincount(code[mask], weights=w, minlength=n)  # noqa: E731
        totals = count(pool.active)
        shift = count(here)
        full = count(here & (pool.open_tasks >= capacity))
        load = count(here, pool.open_tasks[here].astype(float))
        cap = count(here, capacity[here].astype(float))
        for i, p in enumerate(pool.provinces):
            staff[p] = (int(totals[i]), int(shift[i]), int(full[i]), float(load[i]), float(cap[i]))
    provinces = []
    for p in sorted(ids):
        t = tasks.get(p, {})
        active, shift_n, full_n, load_sum, cap_sum = staff.get(p, (0, 0, 0, 0.0, 0.0))
        share = policy.sharing(p)
        oldest = t.get("oldest_created")
        provinces.append(
            {
                "province_id": p,
                "name": province_names.get(p, p),
                "backlog": t.get("backlog", 0),
                "in_progress": t.get("in_progress", 0),
                "staff": active,
                "on_shift": shift_n,
                "at_capacity": full_n,
                "utilisation": _ratio(load_sum, cap_sum, 3),
                "sla_overdue": t.get("sla_overdue", 0),
                "sla_near": t.get("sla_near", 0),
                "oldest_task_id": t.get("oldest_task_id"),
                "oldest_minutes": round((now_us - oldest) / 60e6, 1) if oldest is not None else None,  # type: ignore[operator]
                "share_in": share.share_in,
                "share_out": share.share_out,
                "closed": share.closed,
            }
        )
    done = sum(trend["done"])
    kpis = {
        "arrivals": int(sum(trend["arrivals"])),
        "done": int(done),
        "mean_turnaround_hours": _ratio(sum(trend["turnaround_minutes"]) / 60, done, 2),
        "sla_met": _ratio(sum(trend["sla_met"]), done),
        "qa_pass": _ratio(sum(trend["qa_passed"]), sum(trend["qa_checked"])),
        "complaints": int(sum(trend["complaints"])),
        "backlog": sum(int(r["backlog"]) for r in provinces),  # type: ignore[call-overload]
        "in_progress": sum(int(r["in_progress"]) for r in provinces),  # type: ignore[call-overload]
        "on_shift": sum(int(r["on_shift"]) for r in provinces),  # type: ignore[call-overload]
        "sla_overdue": sum(int(r["sla_overdue"]) for r in provinces),  # type: ignore[call-overload]
    }
    per_hour = {
        "hours": [datetime.fromtimestamp(h * 3600, UTC).isoformat() for h in hours],
        "arrivals": [int(v) for v in trend["arrivals"]],
        "done": [int(v) for v in trend["done"]],
        "mean_turnaround_hours": [
            _ratio(m / 60, d, 2) for m, d in zip(trend["turnaround_minutes"], trend["done"], strict=True)
        ],
        "sla_met": [_ratio(m, d) for m, d in zip(trend["sla_met"], trend["done"], strict=True)],
        "qa_pass": [_ratio(p, c) for p, c in zip(trend["qa_passed"], trend["qa_checked"], strict=True)],
        "complaints": [int(v) for v in trend["complaints"]],
    }
    return {
        "as_of": now.isoformat(),
        "policy_version": policy_version,
        "sla_near_hours": policy.alerts.sla_near_hours,
        "provinces": provinces,
        "kpis": kpis,
        "trend": per_hour,
    }
