"""The live twin at 10x against a real ``bentoml serve``: every assignment answered, no timeout on the untold.

The service runs on the module's private copy of the cached small world, with the history's backlog left
waiting; the service and the twin (in this process) share one clock of speed 10 that reads the first
weekday 10:00 in Beijing after the history's end when the service starts (fixed by the world, not by
the wall clock's hour). The twin posts arrivals, dispatches through ``/assign``, learns the monitor's
assignments from ``GET /tasks`` and answers each one after its own delay (0.5-4 operation minutes); it is
stopped once it has heard of ``ENOUGH`` assignments and ``ANSWER_MINUTES`` more have passed (operation
time: the run's length follows the machine's speed, the verdict does not). Checked from the event store:
every assignment made early enough to be answered (the twin's longest delay plus its poll) was accepted
or rejected by the twin, and every accept or start timeout the monitor fired on an assignment of the run
came after the twin had been told of it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from apps.live import LiveOptions, LivePlayer
from apps.live_client import LiveClient, read_keys
from opsmatch import events
from opsmatch.clock import OpsClock, next_weekday_at
from serving.access.keys import KeyStore, demo_keys
from serving.runtime import launch
from serving.state.store import StateStore
from tests.factories.serving_world import World

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SPEED = 10.0
ENOUGH = 20  # assignments the twin has heard of before it is stopped
ANSWER_MINUTES = 4.0  # the twin's longest answer delay
POLL_MINUTES = 1.0  # the twin reads the held tasks once per operation minute of its own clock
WAIT = dt.timedelta(minutes=ANSWER_MINUTES + 2)  # of the twin's time after it heard of ENOUGH
WALL_LIMIT = 600.0  # seconds: a twin that never hears of ENOUGH assignments fails the test
TIMEOUTS = ("accept_timeout", "start_timeout")


@pytest.fixture(scope="module")
def run(own_world: World, tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("live-fast")
    settings = own_world.settings
    op_start = next_weekday_at(pd.Timestamp(own_world.as_of).to_pydatetime(), 10)
    demo_keys(KeyStore(StateStore(settings.resolved_state_db_url)), settings.data_dir / "keys", by="test")
    anchor = dt.datetime.now(dt.UTC)
    clock = OpsClock(anchor=anchor, speed=SPEED, start=op_start)
    env = own_world.env(
        OPSMATCH_CLOCK_ANCHOR=anchor.isoformat(),
        OPSMATCH_CLOCK_START=op_start.isoformat(),
        OPSMATCH_CLOCK_SPEED=str(SPEED),
        OPSMATCH_SERVICE__MONITOR_SECONDS="3",
        OPSMATCH_SERVICE__MAX_BATCH_TASKS="50",
    )
    told: dict[str, dt.datetime] = {}  # assignment id -> the operation time the twin heard of it
    said: list[str] = []
    with launch.running(env, root / "service.log") as url:
        client = LiveClient(url, read_keys(settings.data_dir / "keys"))
        options = LiveOptions(hours=None, tick_seconds=0.05, log_dir=root / "live-log")
        player = LivePlayer(settings, client, clock, options, said.append)
        offer = player.world.offer

        def heard(assignment_id: str, task, worker_id: str, at: dt.datetime) -> None:  # noqa: ANN001
            told.setdefault(assignment_id, at)
            offer(assignment_id, task, worker_id, at)

        player.world.offer = heard  # type: ignore[method-assign]
        playing = threading.Thread(target=player.run)
        playing.start()
        deadline, enough_at = time.monotonic() + WALL_LIMIT, None
        while time.monotonic() < deadline and playing.is_alive():
            if enough_at is None and len(told) >= ENOUGH:
                enough_at = player.world.now
            if enough_at is not None and player.world.now >= enough_at + dt.timedelta(
                minutes=ANSWER_MINUTES + 2
            ):
                break
            time.sleep(0.2)
        player.stopping = True
        playing.join(timeout=120)
        horizon = (
            player.world.now
        )  # how far the twin got (behind the service's clock when the machine is slow)
        client.close()
    ev = events.read_table(settings, "task_events")
    ev = ev[pd.to_datetime(ev["at"], utc=True) >= pd.Timestamp(op_start)]
    return ev, told, pd.Timestamp(horizon), said


def test_every_assignment_of_the_run_is_accepted_or_rejected_by_the_twin(run) -> None:
    ev, told, horizon, said = run
    made = ev[ev["kind"] == "assign"]
    old = made[pd.to_datetime(made["at"], utc=True) <= horizon - pd.Timedelta(minutes=POLL_MINUTES + 1)]
    unheard = sorted(set(old["assignment_id"]) - set(told))
    assert not unheard, (unheard[:10], horizon, said)  # the twin heard of every one within its poll
    due = {a for a, at in told.items() if pd.Timestamp(at) + pd.Timedelta(minutes=ANSWER_MINUTES) < horizon}
    assert len(due) >= ENOUGH, (len(due), horizon, said)
    answered = set(ev.loc[ev["kind"].isin(["accept", "reject"]), "assignment_id"])
    missing = sorted(due - answered)
    detail = ev[ev["assignment_id"].isin(missing[:5])][["assignment_id", "kind", "at", "reason_code"]]
    assert not missing, (
        len(missing),
        len(due),
        detail.to_dict("records"),
        [str(told[a]) for a in missing[:5]],
        said,
    )


def test_no_timeout_fired_on_an_assignment_the_twin_had_not_been_told_of(run) -> None:
    ev, told, _, said = run
    made = set(ev.loc[ev["kind"] == "assign", "assignment_id"])
    fired = ev[(ev["kind"] == "reassign") & ev["reason_code"].isin(TIMEOUTS) & ev["assignment_id"].isin(made)]
    early = [
        (a, at)
        for a, at in zip(fired["assignment_id"], pd.to_datetime(fired["at"], utc=True), strict=True)
        if a not in told or pd.Timestamp(told[a]) > at
    ]
    assert not early, (early[:10], said)
