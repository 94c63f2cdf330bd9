"""Open-task snapshots: the training rows of the pre-assignment complaint model (``complaint_pre``).

An open task is scored while it waits (intake, ``POST /risk``, the watchlist, the monitor), so the model
learns from rows that look like that: each completed task is seen at its intake and then every
``SNAPSHOT_HOURS`` of age while it is still open (strictly before its completion), up to
``MAX_SNAPSHOTS`` rows. A row's ``now`` is the snapshot time, so Feast's point-in-time join and the
request-time features (``request_time.sla_urgency``: hours waited, hours to the SLA) hold only what was
known then. The label is the task's own (a complaint filed within 30 days of its completion): the twin
and the world file a complaint after the completion, itself after every snapshot, so no row sees it.

Regular spacing in age makes the rows a sample of the open tasks at a random instant (a task open twice
as long is seen twice as often): the population the watchlist and the monitor score. Pure pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SNAPSHOT_HOURS = 6.0  # spacing of the snapshots in task age
MAX_SNAPSHOTS = 40  # at most 10 days of a task's wait (longer waits are rare and the truth caps lateness)


def snapshot_entities(
    tasks: pd.DataFrame,
    completions: pd.DataFrame,
    every_hours: float = SNAPSHOT_HOURS,
    max_snapshots: int = MAX_SNAPSHOTS,
) -> pd.DataFrame:
    """One row per (completed task, age) with the task open at that age: ``task_id``, ``task_type``,
    ``customer_id``, ``province_id``, ``worker_id`` (who completed it), ``age_hours`` and ``at`` (UTC)."""
    done = completions[["task_id", "worker_id", "completed_at"]].copy()
    done["task_id"] = done["task_id"].astype(str)
    done = done.drop_duplicates("task_id", keep="last")
    t = tasks[["task_id", "task_type", "customer_id", "province_id", "created_at"]].copy()
    t["task_id"] = t["task_id"].astype(str)
    t = t.merge(done, on="task_id", how="inner", validate="one_to_one")
    created = pd.to_datetime(t["created_at"], utc=True)
    open_hours = (pd.to_datetime(t["completed_at"], utc=True) - created).dt.total_seconds() / 3600.0
    # Ages 0, every, 2*every, ... strictly before the completion (the intake row always).
    n = np.clip(np.ceil(open_hours.to_numpy(dtype=float) / every_hours), 1, max_snapshots).astype(np.int64)
    rows = np.repeat(np.arange(len(t)), n)
    k = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n)
    age = k * every_hours
    out = t.iloc[rows][["task_id", "task_type", "customer_id", "province_id", "worker_id"]].reset_index(
        drop=True
    )
    out["age_hours"] = age
    out["at"] = created.iloc[rows].reset_index(drop=True) + pd.to_timedelta(age, unit="h")
    return out
