"""The living centre, end to end: a real ``bentoml serve`` on a demo clock and ``opsmatch live`` on ``small``.

The service runs on a private copy of the session's cached small world (its history ends weeks before);
the service and the live twin run on the same anchored clock (x120: an operation hour is half a wall minute),
which reads the first weekday 11:00 in Beijing after the history's end when the service starts (fixed by
the world, not by the wall clock's hour), so the twin starts late in that morning, as soon as the service
is ready (no fixed start-up wait). The twin posts one hour
of arrivals, dispatches through ``/assign`` (all waiting, committed), its workers answer, work and
report; then it drains until every task it created is done. Every task it created must have gone
through the lifecycle (create, assign, accept, start, complete), and the tasks, assignments,
completions and QA rows the live run added to the event store must equal the twin's own log exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from opsmatch import events
from opsmatch.clock import clock_reading, next_weekday_at
from opsmatch.contract import TABLES as CONTRACT_TABLES
from opsmatch.settings import PROJECT_ROOT
from serving.access.keys import KeyStore, demo_keys
from serving.runtime import launch
from serving.state.store import StateStore
from tests.factories.lifecycle_world import close_backlog
from tests.factories.serving_world import World

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SPEED = 120.0
TABLES = ("tasks", "assignments", "completions", "qa_results")
KEYS = {"tasks": "task_id", "assignments": "assignment_id", "completions": "task_id", "qa_results": "qa_id"}


def widen_timeouts(url: str, key_file: Path) -> None:
    """Open tasks per worker capped at 3, and the monitor's timeouts x8: each lifecycle call costs tens
    of ms of wall time here (a minute of the fast clock is half a second), so the default 15-minute accept
    timeout would take back work the twin is answering."""
    body = {
        "note": "e2e: fast test clock",
        "monitor": {"accept_timeout_minutes": 120, "start_timeout_minutes": 480, "pending_max_minutes": 240},
        # A handler works one task at a time: the ops head caps the open tasks per worker so that
        # queues stay short (with the daily capacity as the cap, a queue of 20 outlasts the drain).
        "max_open_tasks": 3,
    }
    headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
    assert httpx.put(f"{url}/policy", json=body, headers=headers, timeout=30).status_code == 200


def read_log(folder: Path, name: str) -> pd.DataFrame:
    rows = [json.loads(line) for line in (folder / f"{name}.jsonl").read_text().splitlines()]
    if not rows and name in CONTRACT_TABLES:  # nothing of this table reported (e.g. no QA check due yet)
        return events.empty_frame(name)
    return pd.DataFrame(rows)


def typed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as the store types it, sorted by key (the log and the store compare row for row)."""
    out = events.coerce(events.spec(name), frame)
    return out.sort_values(KEYS[name], ignore_index=True)


@pytest.fixture(scope="module")
def live_run(own_world: World, tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    world = own_world  # the module's private copy of the cached world: the live run writes into it
    # A weekday late morning in Beijing when the service starts: the day shifts on.
    op_start = next_weekday_at(pd.Timestamp(world.as_of).to_pydatetime(), 11)
    settings = world.settings
    # The history's standing backlog is closed, so the queue is the twin's own arrivals: every one of
    # them can be worked before the shifts end, and nothing is dispatched before the twin starts.
    close_backlog(settings, op_start)
    demo_keys(KeyStore(StateStore(settings.resolved_state_db_url)), settings.data_dir / "keys", by="test")
    before = {name: events.read_table(settings, name) for name in TABLES}
    # The clock reads op_start when the service starts; the twin starts at the clock's now once it is ready.
    anchor = clock_reading(op_start, dt.datetime.now(dt.UTC), SPEED).anchor
    assert anchor is not None
    clock = {"OPSMATCH_CLOCK_ANCHOR": anchor.isoformat(), "OPSMATCH_CLOCK_SPEED": str(SPEED)}
    env = world.env(**clock, OPSMATCH_SERVICE__MONITOR_SECONDS="3", OPSMATCH_SERVICE__MAX_BATCH_TASKS="50")
    log_dir = root / "live-log"
    with launch.running(env, root / "service.log") as url:
        widen_timeouts(url, settings.data_dir / "keys" / "ops_head.key")
        argv = [sys.executable, "-m", "apps", "live", "--url", url, "--hours", "1", "--drain-hours", "6"]
        argv += ["--dispatch-minutes", "5", "--tick-seconds", "0.05", "--log-dir", str(log_dir)]
        done = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = {name: events.read_table(settings, name) for name in (*TABLES, "task_events")}
    return world, before, after, log_dir, done.stdout


def test_every_task_the_twin_created_went_through_the_lifecycle(live_run) -> None:
    _, _, after, log_dir, stdout = live_run
    created = set(read_log(log_dir, "tasks")["task_id"])
    assert len(created) > 20, stdout  # an operation hour of a weekday afternoon on small
    ev = after["task_events"].sort_values(["task_id", "at"], kind="stable")
    ev = ev[ev["task_id"].isin(created)]
    kinds = ev.groupby("task_id")["kind"].agg(list)
    assert set(kinds.index) == created
    for task_id, seq in kinds.items():
        assert seq[0] == "create" and seq[-1] == "complete", (task_id, seq)
        assert {"assign", "accept", "start"} <= set(seq), (task_id, seq)
    assert "live " in stdout and "done" in stdout  # the plain progress lines


def test_the_store_holds_exactly_what_the_twin_reported(live_run) -> None:
    _, before, after, log_dir, _ = live_run
    for name in TABLES:
        known = set(before[name][KEYS[name]])
        added = after[name][~after[name][KEYS[name]].isin(known)]
        logged = read_log(log_dir, name)
        if name == "assignments":  # the twin knows who holds what, not the service's bookkeeping
            cols = ["assignment_id", "task_id", "worker_id"]
            want = logged[cols].sort_values(cols[0], ignore_index=True)
            got = typed(name, added)[cols].astype(object)
            pd.testing.assert_frame_equal(got, want.astype(object), obj=name)
            continue
        pd.testing.assert_frame_equal(typed(name, added), typed(name, logged), obj=name)
    assert len(read_log(log_dir, "completions")) >= len(read_log(log_dir, "tasks"))  # also history tasks
