"""The task lifecycle through a real ``bentoml serve``: intake, the queue, assignments, the worker's
answers, completions, overrides, /assign commit and the experiment's arms (API_SPEC.md).

One server per module on a private copy of the small world whose backlog is closed; the service's
clock is anchored at the module's start (speed 1), the monitor's re-dispatch is switched off here
(``test_monitor_http.py`` covers it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import httpx
import pytest

from opsmatch import events
from serving.config import Experiment
from serving.matching.switchback import arm_at
from serving.runtime import launch
from tests.factories.lifecycle_world import Live, lifecycle_world, new_task
from tests.factories.serving_world import TOKEN, World, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
_ids = count(1)


@pytest.fixture(scope="module")
def live(world: World, tmp_path_factory) -> Live:  # noqa: ANN001
    return lifecycle_world(world, tmp_path_factory.mktemp("lifecycle"))


@pytest.fixture(scope="module")
def api(live: Live) -> Iterator[httpx.Client]:
    env = live.env(
        OPSMATCH_SERVICE__POLICY_TTL_SECONDS="0",
        OPSMATCH_SERVICE__STATUS_TTL_SECONDS=str(2 * 86400),
        OPSMATCH_SERVICE__MONITOR_SECONDS="1",
    )
    with (
        launch.running(env, live.root / "serve.log", path="/livez") as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c,
    ):
        wait_until(lambda: c.get("/readyz").status_code == 200, 120, what="/readyz")
        put = c.put("/policy", json={"monitor": {"redispatch": False}})
        assert put.status_code == 200, put.text
        at = live.clock().isoformat()
        rows = [
            {"worker_id": str(w), "at": at, "on_shift": True, "open_tasks": 0}
            for w in live.workers["worker_id"]
        ]
        assert c.post("/workers/status", json={"statuses": rows}).status_code == 200
        yield c


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()


def skilled(live: Live, task_type: str, province_id: str | None = None) -> list[str]:
    """Workers (of ``province_id``) with a declared skill for ``task_type``."""
    import json

    w = live.workers
    has = w["skills"].map(lambda s: json.loads(s).get(task_type, 0) >= 1)
    if province_id is not None:
        has &= w["province_id"] == province_id
    return w.loc[has, "worker_id"].astype(str).tolist()


def fresh_task(
    api: httpx.Client, live: Live, province: str = "P01", task_type: str = "renewal", **kw: Any
) -> str:
    tid = f"LT{next(_ids):05d}"
    ok(api.post("/tasks", json={"tasks": [new_task(live, tid, province, task_type, **kw)]}))
    return tid


def commit(api: httpx.Client, tid: str, worker: str, **kw: Any) -> dict[str, Any]:
    return ok(api.post("/assignments", json={"task_id": tid, "worker_id": worker, "source": "rank", **kw}))


def conflict(r: httpx.Response, status: str) -> None:
    """A 409 naming the current state (API_SPEC: detail[0] msg = status, type illegal_transition)."""
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["kind"] == "conflict" and status in body["error"]
    assert body["detail"][0]["msg"] == status and body["detail"][0]["type"] == "illegal_transition"


def test_intake_is_idempotent_scored_and_queued(api: httpx.Client, live: Live) -> None:
    rows = [new_task(live, f"IN{i}", "P02", "renewal", customer=i) for i in range(3)]
    first = ok(api.post("/tasks", json={"tasks": rows}))
    assert (first["received"], first["new"], first["duplicates"]) == (3, 3, 0)
    for t in first["tasks"]:
        assert (
            t["status"] == "pending"
            and 0 <= t["p_complaint"] <= 1
            and t["risk_tier"] in {"low", "medium", "high"}
        )
    again = ok(api.post("/tasks", json={"tasks": rows}))
    assert (again["new"], again["duplicates"]) == (0, 3)
    stored = events.read_table(live.settings, "tasks")
    assert stored["task_id"].isin(["IN0", "IN1", "IN2"]).sum() == 3
    created = events.read_table(live.settings, "task_events")
    assert sorted(created.loc[created["task_id"].str.startswith("IN"), "kind"]) == ["create"] * 3

    changed = dict(rows[0], complexity=5)
    r = api.post("/tasks", json={"tasks": [changed]})
    assert r.status_code == 409 and r.json()["loc"] == ["tasks", 0, "task_id"]
    r = api.post("/tasks", json={"tasks": [new_task(live, "IN9", "P99", "renewal")]})
    assert r.status_code == 422 and r.json()["loc"] == ["tasks", 0, "province_id"], r.text
    future = new_task(live, "IN8", "P02", "renewal", created_at=live.clock() + timedelta(hours=1))
    r = api.post("/tasks", json={"tasks": [future]})
    assert r.status_code == 422 and r.json()["loc"] == ["tasks", 0, "created_at"], r.text

    queue = ok(api.get("/tasks", params={"status": "waiting", "province_id": "P02"}))
    ids = [t["task_id"] for t in queue["tasks"]]
    assert {"IN0", "IN1", "IN2"} <= set(ids) and "IN9" not in ids
    slas = [t["sla_due_at"] for t in queue["tasks"]]
    assert slas == sorted(slas) and queue["count"] == len(ids) <= queue["total"]
    newest = ok(api.get("/tasks", params={"sort": "-created_at", "limit": 2}))
    assert newest["count"] == 2 and newest["tasks"][0]["created_at"] >= newest["tasks"][1]["created_at"]
    one = ok(api.get("/tasks/IN1"))
    assert one["status"] == "pending" and [e["kind"] for e in one["history"]] == ["create"]
    assert one["history"][0]["source"] == "intake" and one["p_complaint"] is not None


def test_new_task_is_ranked_and_committed_by_assign_at_once(api: httpx.Client, live: Live) -> None:
    tid = fresh_task(api, live, "P03", "renewal")
    ranked = ok(api.post("/rank", json={"task_id": tid, "top_k": 3}))
    assert ranked["task_id"] == tid and ranked["workers"]
    out = ok(api.post("/assign", json={"task_ids": [tid], "commit": True}))
    assert out["committed"] == 1 and out["arms"] == {"ml": 1}
    item = out["assignments"][0]
    assert item["assignment_id"] and item["arm"] == "ml"
    task = ok(api.get(f"/tasks/{tid}"))
    assert task["status"] == "assigned" and task["assignment_id"] == item["assignment_id"]
    assert task["worker_id"] == item["worker_id"] and task["assignments"] == 1
    assign = task["history"][-1]
    assert (assign["kind"], assign["source"], assign["arm"]) == ("assign", "assign", "ml")
    rows = events.read_table(live.settings, "assignments")
    row = rows[rows["assignment_id"] == item["assignment_id"]].iloc[0]
    assert (row["task_id"], row["worker_id"], row["policy"]) == (tid, item["worker_id"], "ml")
    advice = ok(api.post("/assign", json={"task_ids": [tid]}))
    assert advice["committed"] == 0 and advice["assignments"][0]["assignment_id"] is None
    # the worker's last status said 0 open tasks; /rank counts the assignment in force, as /assign does
    other = fresh_task(api, live, "P03", "renewal")
    listed = ok(api.post("/rank", json={"task_id": other, "top_k": 100}))["workers"]  # all of small
    holder = next(w for w in listed if w["worker_id"] == item["worker_id"])
    assert holder["open_tasks"] >= 1


def test_every_transition_legal_and_illegal(api: httpx.Client, live: Live) -> None:
    tid = fresh_task(api, live, "P01", "renewal")
    worker = skilled(live, "renewal", "P01")[0]
    got = commit(api, tid, worker)
    aid = got["assignment_id"]
    assert got["status"] == "assigned" and got["source"] == "rank" and got["duplicate"] is False
    conflict(api.post(f"/assignments/{aid}/start", json={}), "assigned")  # start before accept
    assert ok(api.post(f"/assignments/{aid}/accept", json={"note": "on it"}))["status"] == "accepted"
    conflict(api.post(f"/assignments/{aid}/accept", json={}), "accepted")
    conflict(
        api.post("/assignments", json={"task_id": tid, "worker_id": worker, "source": "rank"}), "accepted"
    )
    assert ok(api.post(f"/assignments/{aid}/start", json={}))["status"] == "started"
    conflict(api.post(f"/assignments/{aid}/reject", json={"reason_code": "workload"}), "started")
    now = live.clock()
    done = {
        "task_id": tid,
        "worker_id": worker,
        "started_at": (now - timedelta(seconds=30)).isoformat(),
        "completed_at": now.isoformat(),
        "handling_minutes": 0.5,
    }
    ok(api.post("/outcomes", json={"completions": [done]}))
    task = ok(api.get(f"/tasks/{tid}"))
    assert task["status"] == "done"
    assert [e["kind"] for e in task["history"]] == ["create", "assign", "accept", "start", "complete"]
    assert task["history"][-1]["source"] == "outcomes"
    conflict(api.post(f"/assignments/{aid}/accept", json={}), "done")

    r = api.post("/assignments/NOPE-1/accept", json={})
    assert r.status_code == 404 and "NOPE-1" in r.json()["error"] and r.json()["kind"] == "not_found"
    r = api.post("/assignments", json={"task_id": "NOPE-T", "worker_id": worker, "source": "rank"})
    assert r.status_code == 404 and "NOPE-T" in r.json()["error"] and r.json()["loc"] == ["task_id"]
    r = api.post("/assignments", json={"task_id": tid, "worker_id": "NOPE-W", "source": "rank"})
    assert r.status_code == 404 and "NOPE-W" in r.json()["error"] and r.json()["loc"] == ["worker_id"]
    r = api.get("/tasks/NOPE-T")
    assert r.status_code == 404 and "NOPE-T" in r.json()["error"]
    r = api.post(f"/assignments/{aid}/reject", json={"reason_code": "bored"})
    assert r.status_code in (400, 422) and r.json()["loc"] == ["reason_code"], r.text


def test_reject_waits_again_and_is_not_given_back(api: httpx.Client, live: Live) -> None:
    tid = fresh_task(api, live, "P01", "renewal")
    worker = skilled(live, "renewal", "P01")[0]
    aid = commit(api, tid, worker)["assignment_id"]
    assert (
        ok(api.post(f"/assignments/{aid}/reject", json={"reason_code": "workload"}))["status"] == "rejected"
    )
    conflict(api.post(f"/assignments/{aid}/accept", json={}), "rejected")  # no longer in force
    waiting = ok(api.get("/tasks", params={"status": "waiting", "limit": 10000}))
    assert tid in [t["task_id"] for t in waiting["tasks"]]
    out = ok(api.post("/assign", json={"all_waiting": True, "commit": True}))
    mine = [a for a in out["assignments"] if a["task_id"] == tid]
    assert mine and mine[0]["worker_id"] != worker and mine[0]["assignment_id"]
    task = ok(api.get(f"/tasks/{tid}"))
    assert task["status"] == "assigned" and task["assignments"] == 2
    assert task["history"][2]["reason_code"] == "workload"


def test_many_answers_in_one_call(api: httpx.Client, live: Live) -> None:
    """POST /assignments/answers: each answer decided as its single route would, stored together."""
    worker = skilled(live, "renewal", "P02")[0]
    one, two = (commit(api, fresh_task(api, live, "P02", "renewal"), worker) for _ in range(2))
    answers = [
        {"assignment_id": one["assignment_id"], "action": "accept"},
        {"assignment_id": one["assignment_id"], "action": "start"},
        {"assignment_id": two["assignment_id"], "action": "start"},  # not accepted: 409
        {"assignment_id": two["assignment_id"], "action": "reject", "reason_code": "workload"},
        {"assignment_id": "NOPE-2", "action": "accept"},
    ]
    got = ok(api.post("/assignments/answers", json={"answers": answers}))
    assert [(x["status"], x["state"]) for x in got["answers"]] == [
        (200, "accepted"),
        (200, "started"),
        (409, None),
        (200, "rejected"),
        (404, None),
    ]
    assert (got["answered"], got["duplicates"], got["refused"]) == (3, 0, 2)
    history = ok(api.get(f"/tasks/{one['task_id']}"))["history"]
    assert [(e["kind"], e["source"]) for e in history[-2:]] == [("accept", "worker"), ("start", "worker")]
    again = ok(api.post("/assignments/answers", json={"answers": answers[:1]}))
    assert again["answers"][0]["duplicate"] is True and again["answered"] == 0
    r = api.post("/assignments/answers", json={"answers": [{"assignment_id": "x", "action": "finish"}]})
    assert r.status_code == 400 and r.json()["loc"][:3] == ["answers", 0, "action"], r.text


def test_duplicate_assignment_id_changes_nothing(api: httpx.Client, live: Live) -> None:
    tid = fresh_task(api, live, "P02", "renewal")
    worker = skilled(live, "renewal", "P02")[0]
    body = {"task_id": tid, "worker_id": worker, "source": "assign", "assignment_id": f"CLIENT-{tid}"}
    first = ok(api.post("/assignments", json=body))
    again = ok(api.post("/assignments", json=body))
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["assignment_id"] == first["assignment_id"] == f"CLIENT-{tid}"
    assert [e["kind"] for e in ok(api.get(f"/tasks/{tid}"))["history"]] == ["create", "assign"]
    other = skilled(live, "renewal", "P02")[1]
    r = api.post("/assignments", json={**body, "worker_id": other})
    assert r.status_code == 409 and r.json()["loc"] == ["assignment_id"]


def test_override_needs_and_records_its_reason(api: httpx.Client, live: Live) -> None:
    tid = fresh_task(api, live, "P01", "renewal")
    top = ok(api.post("/rank", json={"task_id": tid, "top_k": 2}))["workers"]
    ranked, chosen = top[0]["worker_id"], top[1]["worker_id"]
    body = {"task_id": tid, "worker_id": chosen, "source": "person", "ranked_worker_id": ranked}
    r = api.post("/assignments", json=body)
    assert r.status_code == 422 and r.json()["loc"] == ["override_reason"], r.text
    r = api.post("/assignments", json={**body, "source": "rank", "override_reason": "training"})
    assert r.status_code == 422 and r.json()["loc"] == ["source"]
    ok(
        api.post(
            "/assignments", json={**body, "override_reason": "customer_relationship", "note": "knows her"}
        )
    )
    event = ok(api.get(f"/tasks/{tid}"))["history"][-1]
    assert (event["source"], event["worker_id"], event["ranked_worker_id"]) == ("person", chosen, ranked)
    assert event["override_reason"] == "customer_relationship" and event["note"] == "knows her"
    stored = events.read_table(live.settings, "task_events")
    assert (
        stored.loc[stored["event_id"] == event["event_id"], "override_reason"].item()
        == "customer_relationship"
    )


def rostered(live: Live, worker: str, days_ahead: int, hour_offset: float) -> str:
    """An instant ``days_ahead`` days or more after now when ``worker``'s shift started
    ``hour_offset`` hours before (its roster: start hour, work days, the province's calendar)."""
    from zoneinfo import ZoneInfo

    w = live.workers.set_index("worker_id").loc[worker]
    prov = live.provinces.set_index("province_id").loc[w["province_id"]]
    zone = ZoneInfo(str(prov["timezone"]))
    day = (live.clock() + timedelta(days=days_ahead)).astimezone(zone).date()
    while str(day.weekday()) not in str(w["work_days"]) or (
        day.weekday() >= 5 and not prov["works_weekends"]
    ):
        day += timedelta(days=1)
    start = datetime(day.year, day.month, day.day, int(w["shift_start_hour"]), tzinfo=zone)
    return (start + timedelta(hours=hour_offset)).isoformat()


def status(api: httpx.Client, live: Live, worker: str, on_shift: bool) -> None:
    row = {"worker_id": worker, "at": live.clock().isoformat(), "on_shift": on_shift, "open_tasks": 0}
    ok(api.post("/workers/status", json={"statuses": [row]}))


def test_roster_decides_when_the_status_is_stale(api: httpx.Client, live: Live) -> None:
    worker = skilled(live, "renewal", "P01")[0]
    tid = fresh_task(api, live, "P01", "renewal")
    status(api, live, worker, False)
    body = {"task_id": tid, "top_k": 100, "provinces": ["P01"]}
    now = ok(api.post("/rank", json=body))
    assert worker not in [w["worker_id"] for w in now["workers"]]
    assert now["availability"]["live"] == now["availability"]["live"] + now["availability"]["roster"]
    later = rostered(live, worker, 3, 1.0)  # the status is 3+ days old there: stale (TTL 2 days)
    stale = ok(api.post("/rank", json={**body, "as_of": later}))
    assert stale["availability"]["live"] == 0 and stale["availability"]["roster"] > 0
    mine = [w for w in stale["workers"] if w["worker_id"] == worker]
    assert mine and mine[0]["availability"] == "roster" and mine[0]["shift_minutes_left"] > 0
    status(api, live, worker, True)


def test_shift_end_excludes_work_that_would_outlast_the_shift(api: httpx.Client, live: Live) -> None:
    worker = skilled(live, "renewal", "P01")[1]
    hours = float(live.workers.set_index("worker_id").loc[worker, "shift_hours"])
    tid = fresh_task(api, live, "P01", "renewal", complexity=5)
    body = {
        "task_id": tid,
        "top_k": 100,
        "provinces": ["P01"],
        "as_of": rostered(live, worker, 3, hours - 5 / 60),
    }
    try:
        ok(api.put("/policy", json={"dispatch": {"shift_end": "off"}}))
        off = ok(api.post("/rank", json=body))
        mine = [w for w in off["workers"] if w["worker_id"] == worker]
        assert mine and mine[0]["shift_minutes_left"] == pytest.approx(5, abs=0.1)
        assert mine[0]["predicted_minutes"] > 5
        ok(api.put("/policy", json={"dispatch": {"shift_end": "exclude"}}))
        on = ok(api.post("/rank", json=body))
        assert worker not in [w["worker_id"] for w in on["workers"]]
        assert (
            on["excluded"]["shift_end"] >= 1
            and on["eligible"] == off["eligible"] - on["excluded"]["shift_end"]
        )
    finally:
        ok(api.put("/policy", json={"dispatch": {"shift_end": "exclude"}}))


def test_experiment_records_its_arm_on_every_committed_assignment(api: httpx.Client, live: Live) -> None:
    exp = {"enabled": True, "baseline": "fifo", "scope": "province", "slice_minutes": 60, "settle_minutes": 0}
    ok(api.put("/policy", json={"experiment": exp}))
    try:
        provinces = sorted(live.provinces["province_id"].astype(str))
        arms = {p: arm_at(Experiment(**exp), live.clock(), p).arm for p in provinces}
        picked = [next(p for p in provinces if arms[p] == a) for a in ("ml", "fifo") if a in arms.values()]
        assert len(picked) == 2, arms  # both arms decide somewhere right now
        ids = [fresh_task(api, live, p, "renewal") for p in picked for _ in range(2)]
        out = ok(api.post("/assign", json={"task_ids": ids, "commit": True}))
        assert out["arms"] == {"ml": 2, "fifo": 2} and out["committed"] == len(out["assignments"]) >= 3
        rows = events.read_table(live.settings, "assignments").set_index("assignment_id")
        for a in out["assignments"]:
            expected = arms[a["task_province_id"]]
            assert a["arm"] == expected and rows.loc[a["assignment_id"], "policy"] == expected
            if expected == "fifo":  # the province-local baseline keeps the task at home
                assert a["worker_province_id"] == a["task_province_id"]
            assert ok(api.get(f"/tasks/{a['task_id']}"))["history"][-1]["arm"] == expected
        worker = skilled(live, "renewal", picked[1])[0]
        person = ok(
            api.post(
                "/assignments",
                json={"task_id": fresh_task(api, live, picked[1]), "worker_id": worker, "source": "person"},
            )
        )
        assert person["arm"] == "fifo"
    finally:
        ok(api.put("/policy", json={"experiment": {"enabled": False}}))


def test_the_workers_answers_need_no_body_and_a_non_json_body_is_a_415(api: httpx.Client, live: Live) -> None:
    tid = fresh_task(api, live, "P01", "renewal")
    aid = commit(api, tid, skilled(live, "renewal", "P01")[0])["assignment_id"]
    url = str(api.base_url).rstrip("/")
    bare = httpx.post(f"{url}/assignments/{aid}/accept", headers=dict(api.headers))  # curl -X POST, no -d
    assert bare.status_code == 200 and bare.json()["status"] == "accepted", bare.text
    assert ok(api.post(f"/assignments/{aid}/start", content=b""))["status"] == "started"
    other = commit(api, fresh_task(api, live, "P01", "renewal"), skilled(live, "renewal", "P01")[0])
    r = api.post(f"/assignments/{other['assignment_id']}/reject", content=b"")
    assert r.status_code == 400 and r.json()["kind"] == "validation_error", (
        r.text
    )  # a reject needs its reason
    assert "body: Field required" in r.json()["error"]
    for path in ("/tasks", "/outcomes", "/rank", f"/assignments/{other['assignment_id']}/accept"):
        for media in ("multipart/form-data", "multipart/form-data; boundary=x", "text/plain"):
            r = api.post(path, content=b"--x--", headers={"Content-Type": media})
            body = r.json()
            assert r.status_code == 415 and body["kind"] == "unsupported_media_type", (path, media, r.text)
            assert body["loc"] == ["header", "content-type"] and set(body) >= {
                "error",
                "kind",
                "loc",
                "detail",
            }
    assert api.get(f"/tasks/{other['task_id']}").json()["status"] == "assigned"  # nothing was read
