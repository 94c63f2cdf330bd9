"""The monitor inside a real ``bentoml serve``, on a fast test clock (60 operation seconds per wall
second): timed-out and off-shift work is taken back and re-dispatched to another worker, tasks left
pending too long are dispatched, SLA alerts are raised without any request asking, every move is
recorded with its reason and counted in /metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from serving.runtime import launch
from tests.factories.lifecycle_world import Live, lifecycle_world, new_task
from tests.factories.serving_world import TOKEN, World, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEED = 60.0
QUIET = {"accept_timeout_minutes": 10_000, "start_timeout_minutes": 10_000, "pending_max_minutes": 40_000}


@pytest.fixture(scope="module")
def live(world: World, tmp_path_factory) -> Live:  # noqa: ANN001
    return lifecycle_world(world, tmp_path_factory.mktemp("monitor"), speed=SPEED)


@pytest.fixture(scope="module")
def api(live: Live) -> Iterator[httpx.Client]:
    env = live.env(
        OPSMATCH_SERVICE__POLICY_TTL_SECONDS="0",
        OPSMATCH_SERVICE__STATUS_TTL_SECONDS=str(30 * 86400),
        OPSMATCH_SERVICE__MONITOR_SECONDS="0.5",
    )
    with (
        launch.running(env, live.root / "serve.log", path="/livez") as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c,
    ):
        wait_until(lambda: c.get("/readyz").status_code == 200, 120, what="/readyz")
        rows = [
            {"worker_id": str(w), "at": live.clock().isoformat(), "on_shift": True, "open_tasks": 0}
            for w in live.workers["worker_id"]
        ]
        pushed = c.post("/workers/status", json={"statuses": rows})
        assert pushed.status_code == 200, pushed.text
        yield c


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()


def monitor_rules(api: httpx.Client, **rules: Any) -> None:
    ok(
        api.put(
            "/policy", json={"monitor": {"redispatch": True, "off_shift_grace_minutes": 0, **QUIET, **rules}}
        )
    )


def post_task(api: httpx.Client, live: Live, tid: str, **kw: Any) -> None:
    ok(api.post("/tasks", json={"tasks": [new_task(live, tid, "P01", "renewal", **kw)]}))


def history(api: httpx.Client, tid: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/tasks/{tid}"))["history"]


def moved(api: httpx.Client, tid: str, reason: str) -> list[dict[str, Any]] | None:
    """The history once the monitor took the task back for ``reason`` and gave it out again."""
    events = history(api, tid)
    kinds = [(e["kind"], e["reason_code"]) for e in events]
    if ("reassign", reason) in kinds and kinds[-1] == ("assign", reason):
        return events
    return None


def feed(api: httpx.Client, live: Live) -> bool:
    """The dispatch system's status feed keeps up with the clock (one bystander's status, now): the
    accept and start timeouts count on how far the feed has got (``serving.tasks.monitor.told_clock``)."""
    bystander = str(live.workers["worker_id"].iloc[-1])
    row = {"worker_id": bystander, "at": live.clock().isoformat(), "on_shift": True, "open_tasks": 0}
    return ok(api.post("/workers/status", json={"statuses": [row]}))["received"] == 1


def test_accept_timeout_is_taken_back_and_redispatched(api: httpx.Client, live: Live) -> None:
    monitor_rules(api, accept_timeout_minutes=2)  # 2 s of wall time
    post_task(api, live, "MT-ACC")
    first = ok(api.post("/assign", json={"task_ids": ["MT-ACC"], "commit": True}))["assignments"][0]
    assert moved(api, "MT-ACC", "accept_timeout") is None  # the feed has not caught up: nobody was told
    got = wait_until(
        lambda: feed(api, live) and moved(api, "MT-ACC", "accept_timeout"),
        60,
        what="accept_timeout re-dispatch",
    )
    monitor_rules(api)  # no further timeouts while we look
    back = next(e for e in got if e["kind"] == "reassign")
    assert (back["source"], back["actor"], back["assignment_id"]) == (
        "monitor",
        "monitor",
        first["assignment_id"],
    )
    again = got[got.index(back) + 1]
    assert again["kind"] == "assign" and again["source"] == "monitor" and again["arm"] == "ml"
    assert again["worker_id"] != first["worker_id"]
    alerts = ok(api.get("/alerts", params={"kind": "redispatch"}))["alerts"]
    assert "MT-ACC" in [e["subject_id"] for a in alerts for e in a["examples"]]
    metrics = api.get("/metrics").text
    line = next(
        x for x in metrics.splitlines() if x.startswith('opsmatch_monitor_moves{reason="accept_timeout"}')
    )
    assert float(line.split()[-1]) >= 1


def test_off_shift_worker_loses_the_unfinished_task(api: httpx.Client, live: Live) -> None:
    monitor_rules(api)
    post_task(api, live, "MT-OFF")
    item = ok(api.post("/assign", json={"task_ids": ["MT-OFF"], "commit": True}))["assignments"][0]
    aid, worker = item["assignment_id"], item["worker_id"]
    ok(api.post(f"/assignments/{aid}/accept", json={}))
    ok(api.post(f"/assignments/{aid}/start", json={}))
    row = {"worker_id": worker, "at": live.clock().isoformat(), "on_shift": False, "open_tasks": 1}
    ok(api.post("/workers/status", json={"statuses": [row]}))
    got = wait_until(lambda: moved(api, "MT-OFF", "worker_off_shift"), 60, what="off-shift re-dispatch")
    back = next(e for e in got if e["kind"] == "reassign")
    assert back["assignment_id"] == aid and got[-1]["worker_id"] not in (worker, None)
    task = ok(api.get("/tasks/MT-OFF"))
    assert task["status"] == "assigned" and task["assignments"] == 2


def test_pending_too_long_is_dispatched_and_sla_alerts_raised_unasked(api: httpx.Client, live: Live) -> None:
    monitor_rules(api, pending_max_minutes=3)
    post_task(api, live, "MT-PEND", sla_hours=1.5)  # within sla_near_hours (2 h) of its SLA
    got = wait_until(lambda: history(api, "MT-PEND")[-1]["kind"] == "assign" and history(api, "MT-PEND"), 60)
    assert got[-1]["source"] == "monitor" and got[-1]["reason_code"] == "pending_too_long"
    near = ok(api.get("/alerts", params={"kind": "sla_near", "province_id": "P01"}))["alerts"]
    assert "MT-PEND" in [e["subject_id"] for a in near for e in a["examples"]]


def test_switch_off_moves_nothing(api: httpx.Client, live: Live) -> None:
    ok(api.put("/policy", json={"monitor": {"redispatch": False, "accept_timeout_minutes": 1}}))
    post_task(api, live, "MT-STAY")
    ok(api.post("/assign", json={"task_ids": ["MT-STAY"], "commit": True}))
    sweeps = lambda: float(  # noqa: E731
        next(
            x for x in api.get("/metrics").text.splitlines() if x.startswith("opsmatch_monitor_sweeps")
        ).split()[-1]
    )
    start = sweeps()
    wait_until(lambda: sweeps() >= start + 6, 30, what="six monitor passes")  # > 3 operation minutes
    assert [e["kind"] for e in history(api, "MT-STAY")] == ["create", "assign"]
