"""A private copy of the small world for the lifecycle tests, with its backlog closed, and a service on
it driven by a test clock.

The lifecycle tests write transitions and change the policy: they work on a copy of the session's
world (``private_world``) so the other modules' world is untouched. The
history's open tasks are closed (a completion each) so that the tests' own tasks, posted at the
clock's now, are the whole queue. ``Live`` knows the service's clock (same anchor and speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from opsmatch import events
from opsmatch.clock import OpsClock
from opsmatch.settings import Settings
from serving.runtime import launch
from tests.factories.serving_world import World, private_world


@dataclass(frozen=True)
class Live:
    """A service on the copy: its settings, clock, env, and the world's reference rows."""

    settings: Settings
    clock: OpsClock
    root: Path
    workers: pd.DataFrame
    customers: pd.DataFrame
    provinces: pd.DataFrame

    def env(self, **extra: str) -> dict[str, str]:
        assert self.clock.anchor is not None
        return launch.service_env(
            self.settings,
            self.root / "bentoml",
            OPSMATCH_CLOCK_ANCHOR=self.clock.anchor.isoformat(),
            OPSMATCH_CLOCK_SPEED=str(self.clock.speed),
            **extra,
        )


def close_backlog(settings: Settings, at: datetime) -> int:
    """A completion for every task without one (by its latest assignee, else any worker)."""
    tasks = events.read_table(settings, "tasks")
    done = events.read_table(settings, "completions")
    open_ = tasks[~tasks["task_id"].isin(done["task_id"])]
    latest = events.read_table(settings, "assignments").drop_duplicates("task_id", keep="last")
    holder = dict(zip(latest["task_id"], latest["worker_id"], strict=True))
    anyone = str(events.read_table(settings, "workers")["worker_id"].iloc[0])
    rows = [
        {
            "task_id": tid,
            "worker_id": holder.get(tid, anyone),
            "started_at": max(created, at - timedelta(minutes=5)),
            "completed_at": max(created, at),
            "handling_minutes": 5.0,
        }
        for tid, created in zip(open_["task_id"], open_["created_at"], strict=True)
    ]
    return events.append_rows(settings, "completions", pd.DataFrame(rows)) if rows else 0


def private_copy(world: World, root: Path) -> Settings:
    """The world copied to ``root`` by the stores' backups (``private_world``); the copy's settings."""
    return private_world(world, root).settings


def live_on(settings: Settings, clock: OpsClock, root: Path) -> Live:
    """The copy's reference rows and the clock its service runs on."""
    return Live(
        settings,
        clock,
        root,
        events.read_table(settings, "workers"),
        events.read_table(settings, "customers"),
        events.read_table(settings, "provinces"),
    )


def lifecycle_world(world: World, root: Path, speed: float = 1.0) -> Live:
    """Copy the world's data dir to ``root``, close its backlog, and anchor a clock at now."""
    settings = private_copy(world, root)
    close_backlog(settings, pd.Timestamp(world.as_of).to_pydatetime())
    return live_on(settings, OpsClock(anchor=datetime.now(UTC), speed=speed), root)


def new_task(live: Live, task_id: str, province_id: str, task_type: str, **kw: Any) -> dict[str, Any]:
    """A contract ``tasks`` row created a minute before the service's now (JSON-ready)."""
    now = live.clock()
    created = kw.pop("created_at", now - timedelta(minutes=1))
    sla = kw.pop("sla_due_at", created + timedelta(hours=kw.pop("sla_hours", 8)))
    row = {
        "task_id": task_id,
        "task_type": task_type,
        "province_id": province_id,
        "customer_id": str(live.customers["customer_id"].iloc[kw.pop("customer", 0)]),
        "created_at": created.isoformat(),
        "sla_due_at": sla.isoformat(),
        "complexity": 3,
        "channel": "phone",
        "amount": 1000.0,
    }
    row.update(kw)
    return row
