"""From a replay to the contract tables (the event log a real customer would bring) and truth tables.

The event log is right-censored at the end of the replay: nothing dated after it is written (tasks still
in service have an assignment but no completion; QA checks and complaints not yet due are absent).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from opsmatch.contract import LIFECYCLE_TABLES, TABLES
from simulator.clock import to_timestamps
from simulator.engine import SimResult
from simulator.journeys import generate_journeys, journey_contacts, journeys_table
from simulator.voice import contacts_table

# The tables the twin writes: every contract table but the lifecycle events the service writes itself.
CONTRACT_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t not in LIFECYCLE_TABLES)


def _ids(prefix: str, n: int, width: int) -> list[str]:
    width = max(width, len(str(n)))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def event_tables(result: SimResult, outcomes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """All nine contract tables for a replay, censored at ``result.end``."""
    return {name: build() for name, build in event_table_builders(result, outcomes).items()}


def event_table_builders(result: SimResult, outcomes: pd.DataFrame) -> dict[str, Callable[[], pd.DataFrame]]:
    """``event_tables`` one table at a time: a writer builds, stores and drops each in turn, so at 10x
    the default only one table's frame is held beside the replay (``simulator.run``)."""
    cfg, end = result.config, result.end
    tk, wf = result.arrivals.tasks, result.workforce
    task_ids = tk["task_id"].to_numpy()
    worker_ids = wf.workers["worker_id"].to_numpy()
    cust_ids = tk["customer_id"].to_numpy()
    o = outcomes
    done = o["completed"].notna().to_numpy() & (o["completed"].to_numpy() <= end)

    def assignments() -> pd.DataFrame:
        a = result.assignments
        a_task = np.asarray(a["task"], dtype=int)
        return pd.DataFrame(
            {
                "assignment_id": _ids("A", len(a_task), 7),
                "task_id": task_ids[a_task],
                "worker_id": worker_ids[np.asarray(a["worker"], dtype=int)],
                "assigned_at": to_timestamps(cfg, np.asarray(a["at"], dtype=float)),
                "policy": a["policy"],
            }
        )

    def completions() -> pd.DataFrame:
        d = o[done]
        return pd.DataFrame(
            {
                "task_id": task_ids[d["task"]],
                "worker_id": worker_ids[d["worker"].to_numpy(dtype=int)],
                "started_at": to_timestamps(cfg, d["started"].to_numpy()),
                "completed_at": to_timestamps(cfg, d["completed"].to_numpy()),
                "handling_minutes": d["minutes"].to_numpy(),
            }
        )

    def qa_results() -> pd.DataFrame:
        d = o[done]
        q = d[d["qa_checked"].to_numpy(dtype=bool) & (d["checked_at"].to_numpy() <= end)].sort_values(
            ["checked_at", "task"], kind="stable"
        )
        sat = q["satisfaction"].to_numpy()
        return pd.DataFrame(
            {
                "qa_id": _ids("Q", len(q), 7),
                "task_id": task_ids[q["task"]],
                "worker_id": worker_ids[q["worker"].to_numpy(dtype=int)],
                "checked_at": to_timestamps(cfg, q["checked_at"].to_numpy()),
                "passed": q["passed"].to_numpy(dtype=bool),
                "score": np.round(q["score"].to_numpy(), 1),
                "satisfaction": pd.array(sat, dtype="Float64").astype("Int64"),  # NaN -> <NA>
            }
        )

    def complaints() -> pd.DataFrame:
        d = o[done]
        c = d[d["complaint"].to_numpy(dtype=bool) & (d["filed_at"].to_numpy() <= end)].sort_values(
            ["filed_at", "task"], kind="stable"
        )
        return pd.DataFrame(
            {
                "complaint_id": _ids("K", len(c), 6),
                "task_id": task_ids[c["task"]],
                "customer_id": cust_ids[c["task"]],
                "filed_at": to_timestamps(cfg, c["filed_at"].to_numpy()),
                "severity": c["severity"].to_numpy(),
                "reason": c["reason"].to_numpy(),
            }
        )

    def worker_status() -> pd.DataFrame:
        s = result.status
        return pd.DataFrame(
            {
                "worker_id": worker_ids[np.asarray(s["worker"], dtype=int)],
                "at": to_timestamps(cfg, np.asarray(s["at"], dtype=float)),
                "on_shift": np.asarray(s["on_shift"], dtype=bool),
                "open_tasks": np.asarray(s["open_tasks"], dtype=int),
            }
        ).sort_values(["at", "worker_id"], kind="stable", ignore_index=True)

    return {
        "provinces": lambda: wf.provinces,
        "workers": lambda: wf.workers,
        "customers": lambda: result.arrivals.customers,
        "tasks": lambda: tk,
        "assignments": assignments,
        "completions": completions,
        "qa_results": qa_results,
        "complaints": complaints,
        "worker_status": worker_status,
        "contacts": lambda: _with_journey_calls(result, contacts_table(result, outcomes)),
        "journeys": lambda: journeys_table(
            cfg, result.arrivals, generate_journeys(cfg, result.arrivals, result.seed), end
        ),
    }


def _with_journey_calls(result: SimResult, contacts: pd.DataFrame) -> pd.DataFrame:
    """The customers' contacts and, after them, the calls their abandoned online journeys caused."""
    cfg, arr = result.config, result.arrivals
    jr = generate_journeys(cfg, arr, result.seed)
    calls = journey_contacts(cfg, arr, jr, jr.resolved_at(), result.end)
    return pd.concat([contacts, calls], ignore_index=True) if len(calls) else contacts


def task_truth_frame(result: SimResult, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per-task realised truth for the actual assignment (uncensored), keyed by task_id."""
    cfg, o = result.config, outcomes
    # row -1 (never assigned) reads None
    worker_ids = np.concatenate(
        [result.workforce.workers["worker_id"].to_numpy(), np.array([None], dtype=object)]
    )
    w = o["worker"].to_numpy(dtype=int)
    ts = {
        col: to_timestamps(cfg, o[src].to_numpy())
        for col, src in (
            ("started_at", "started"),
            ("finish_at", "finish"),
            ("checked_at", "checked_at"),
            ("complaint_filed_at", "filed_at"),
        )
    }
    tk = result.arrivals.tasks
    cu = result.arrivals.customers.iloc[tk["cust"].to_numpy()]
    return pd.DataFrame(
        {
            "task_id": tk["task_id"].to_numpy(),
            "task_type": tk["task_type"].to_numpy(),
            "complexity": tk["complexity"].to_numpy(),
            "channel": tk["channel"].to_numpy(),
            "age_band": cu["age_band"].to_numpy(),
            "policy_value_band": cu["policy_value_band"].to_numpy(),
            "vip": cu["vip"].to_numpy(dtype=bool),
            "prior_complaints": cu["prior_complaints"].to_numpy(),
            "created_at": tk["created_at"].to_numpy(),
            "sla_due_at": tk["sla_due_at"].to_numpy(),
            "worker_id": worker_ids[np.where(w >= 0, w, -1)],
            **{k: ts[k] for k in ("started_at", "finish_at")},
            "handling_minutes": o["minutes"].to_numpy(),
            "true_expected_minutes": o["expected_minutes"].to_numpy(),
            "true_p_pass": o["p_pass"].to_numpy(),
            "true_p_complaint": o["p_complaint"].to_numpy(),
            "passed": o["passed"].to_numpy(dtype=bool),
            "complaint": o["complaint"].to_numpy(dtype=bool),
            "hours_late": o["hours_late"].to_numpy(),
            "shift_tasks_done": o["shift_tasks_done"].to_numpy(),
            "experience": o["experience"].to_numpy(),
            "qa_checked": o["qa_checked"].to_numpy(dtype=bool),
            "checked_at": ts["checked_at"],
            "complaint_filed_at": ts["complaint_filed_at"],
        }
    )
