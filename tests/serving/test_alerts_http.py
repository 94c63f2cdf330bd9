"""Alerts as incidents through a real ``bentoml serve`` whose monitor runs every half second: 300 overdue
tasks of one province are one grouped incident, inhibited by the province's backlog incident, that resolves
when they are done; a silence holds and is audited; a task whose wait passes its SLA crosses the (fixed)
high-risk tier and the monitor raises its incident without any ``/risk`` call, resolved when the task is
done; an operating indicator past its threshold raises one incident that resolves only after hysteresis.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from serving.runtime import launch
from tests.factories.lifecycle_world import Live, lifecycle_world, new_task
from tests.factories.serving_world import TOKEN, World, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
N = 300
SPEED = 4.0  # operation seconds per wall second: a task due a minute ahead is due 15 wall seconds ahead


@pytest.fixture(scope="module")
def live(world: World, tmp_path_factory) -> Live:  # noqa: ANN001
    return lifecycle_world(world, tmp_path_factory.mktemp("alerts"), speed=SPEED)


@pytest.fixture(scope="module")
def api(live: Live) -> Iterator[httpx.Client]:
    env = live.env(
        OPSMATCH_SERVICE__POLICY_TTL_SECONDS="0",
        OPSMATCH_SERVICE__MONITOR_SECONDS="0.5",
        OPSMATCH_SERVICE__INDICATOR_MINUTES="0",
    )
    with (
        launch.running(env, live.root / "serve.log", path="/livez") as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300) as c,
    ):
        wait_until(lambda: c.get("/readyz").status_code == 200, 120, what="/readyz")
        ok(
            c.put(
                "/policy",
                json={
                    "monitor": {"redispatch": False},
                    "risk_tiers": {"high": 1.0, "medium": 1.0},
                    "alerts": {"risk_step_hours": 0.01},  # a task's risk is scored again every 36 op s
                },
            )
        )
        yield c


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()


def incidents(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return ok(api.get("/alerts", params={"limit": 1000, **params}))["alerts"]


def sweeps(api: httpx.Client) -> float:
    line = next(x for x in api.get("/metrics").text.splitlines() if x.startswith("opsmatch_monitor_sweeps"))
    return float(line.split()[-1])


def risk_calls(api: httpx.Client) -> float:
    """``POST /risk`` requests the service has answered (its /metrics)."""
    text = api.get("/metrics").text.splitlines()
    lines = [x for x in text if x.startswith("opsmatch_requests_total") and 'endpoint="risk"' in x]
    return sum(float(x.split()[-1]) for x in lines)


def after_one_sweep(api: httpx.Client) -> None:
    """Return once a monitor sweep that started after this call has finished."""
    start = sweeps(api)
    wait_until(lambda: sweeps(api) >= start + 2, 60, what="one full monitor sweep")


def province(live: Live, i: int) -> str:
    return str(live.provinces["province_id"].iloc[i])


def test_300_overdue_tasks_are_one_incident_silenced_then_resolved(api: httpx.Client, live: Live) -> None:
    prov, now = province(live, 1), live.clock()
    rows = [
        new_task(
            live,
            f"AL-{i:03d}",
            prov,
            "renewal",
            created_at=now - timedelta(hours=30 + i % 7),
            sla_due_at=now - timedelta(hours=1 + i % 20),
            customer=i % 50,
        )  # fmt: skip
        for i in range(N)
    ]
    ok(api.post("/tasks", json={"tasks": rows}))
    got = wait_until(
        lambda: [a for a in incidents(api, kind="sla_overdue", province_id=prov) if a["count"] == N],
        60,
        what="one grouped overdue incident",
    )
    (one,) = got
    assert len(incidents(api, kind="sla_overdue", province_id=prov, state="active")) == 1
    assert one["state"] == "open" and one["severity"] == "critical" and "dispatcher" in one["roles"]
    assert len(one["examples"]) == 5 and one["examples"][0]["value"] >= one["examples"][-1]["value"] > 0
    assert one["details"]["by_type"] == {"renewal": N}
    assert one["id"] in [a["id"] for a in incidents(api, role="dispatcher", state="active")]
    assert one["id"] not in [a["id"] for a in incidents(api, role="risk", state="active")]
    # Nobody of the province is on shift: its backlog incident explains the overdue one and mutes it.
    (cause,) = incidents(api, kind="province_backlog", province_id=prov, state="open")
    assert one["inhibited_by"] == cause["id"] and one["id"] not in [
        a["id"] for a in incidents(api, state="open")
    ]
    assert one["id"] in [a["id"] for a in incidents(api, role="dispatcher", state="inhibited")]

    silenced = ok(api.post(f"/alerts/{one['id']}/silence", json={"reason": "storm: known", "minutes": 120}))
    assert silenced["silenced"] and silenced["silence"]["reason"] == "storm: known"
    after_one_sweep(api)
    assert one["id"] not in [a["id"] for a in incidents(api, state="open")]  # the silence holds
    assert one["id"] in [a["id"] for a in incidents(api, state="silenced")]
    audit = ok(api.get("/console/api/audit", params={"action": "alert_silence"}))
    lines = [x for x in audit["entries"] if x["action"] == "alert_silence"]
    assert lines and lines[0]["target"] == one["id"] and lines[0]["detail"]["reason"] == "storm: known"
    ok(api.post(f"/alerts/{one['id']}/unsilence"))
    assert one["id"] not in [a["id"] for a in incidents(api, state="silenced")]

    page = ok(api.get("/alerts", params={"limit": 1, "state": "active"}))
    assert (
        page["count"] == 1
        and page["total"] >= 1
        and page["next_offset"] == (1 if page["total"] > 1 else None)
    )

    done = [
        {
            "task_id": r["task_id"],
            "worker_id": str(live.workers["worker_id"].iloc[0]),
            "started_at": (now - timedelta(minutes=5)).isoformat(),
            "completed_at": now.isoformat(),
            "handling_minutes": 5.0,
        }  # fmt: skip
        for r in rows
    ]
    ok(api.post("/outcomes", json={"completions": done}))
    gone = wait_until(
        lambda: [a for a in incidents(api, kind="sla_overdue", province_id=prov) if a["state"] == "resolved"],
        60,
        what="the overdue incident resolved",
    )
    assert gone[0]["id"] == one["id"] and gone[0]["resolved_by"] == "monitor"


def test_a_task_whose_wait_passes_its_sla_raises_a_high_risk_incident_with_no_risk_call(
    api: httpx.Client, live: Live
) -> None:
    prov, due = province(live, 2), live.clock() + timedelta(seconds=60)  # due while the service watches
    late = new_task(
        live, "AL-RISK", prov, "claims_review", created_at=due - timedelta(hours=8), sla_due_at=due
    )
    # The tier, fixed once before the task exists: between the risk of the same task (inline, never
    # stored) just before its SLA and a minute past it (the model is monotone in the wait).
    keys = (
        "task_type",
        "province_id",
        "customer_id",
        "created_at",
        "sla_due_at",
        "complexity",
        "channel",
        "amount",
    )
    probe = {k: late[k] for k in keys}

    def risk_at(at: datetime) -> float:
        body = {"tasks": [{**probe, "task_id": "AL-PROBE"}], "as_of": at.isoformat()}
        return float(ok(api.post("/risk", json=body))["items"][0]["probability"])

    before, after = risk_at(due - timedelta(milliseconds=1)), risk_at(due + timedelta(minutes=1))
    assert after > before, (before, after)  # the wait past the SLA raises the risk
    high = round((before + after) / 2, 6)
    ok(api.put("/policy", json={"risk_tiers": {"high": high, "medium": high}}))
    asked = risk_calls(api)
    ok(api.post("/tasks", json={"tasks": [late]}))
    (one,) = wait_until(
        lambda: incidents(api, kind="high_risk", province_id=prov, state="active"),
        180,
        what="a high-risk incident",
    )
    # Scored by the monitor from its posting (sweeps 0.5 s apart), below the tier until its SLA passed:
    assert datetime.fromisoformat(one["first_seen"]) >= due
    (ex,) = [e for e in one["examples"] if e["subject_id"] == "AL-RISK"]
    assert ex["value"] >= round(high, 3) and one["roles"] == ["risk", "ops_head"] and one["count"] == 1
    assert ok(api.get("/policy"))["policy"]["risk_tiers"]["high"] == high  # the threshold never moved
    assert risk_calls(api) == asked  # no client asked for /risk since: the monitor raised it
    worker = str(live.workers["worker_id"].iloc[0])
    done = {"task_id": "AL-RISK", "worker_id": worker, "started_at": due.isoformat(),
            "completed_at": live.clock().isoformat(), "handling_minutes": 1.0}  # fmt: skip
    ok(api.post("/outcomes", json={"completions": [done]}))
    wait_until(
        lambda: incidents(api, kind="high_risk", province_id=prov, state="active") == [], 60, what="resolved"
    )
    ok(api.put("/policy", json={"risk_tiers": {"high": 1.0, "medium": 1.0}}))


def test_an_indicator_raises_one_alert_that_resolves_after_hysteresis(api: httpx.Client, live: Live) -> None:
    prov = province(live, 3)
    rule = {"raise_at": 0.5, "clear_at": 0.3, "min_count": 10, "window_hours": 24.0}
    ok(api.put("/policy", json={"alerts": {"indicators": {"surrender_share": rule}}}))
    audit = ok(api.get("/console/api/audit", params={"action": "policy_update"}))["entries"]
    assert audit[0]["action"] == "policy_update" and "surrender_share" in str(audit[0]["detail"]["changes"])

    def post(kind: str, n: int, start: int) -> None:
        rows = [new_task(live, f"IN-{kind[:3]}-{start + i}", prov, kind) for i in range(n)]
        ok(api.post("/tasks", json={"tasks": rows}))
        after_one_sweep(api)

    def share_alerts() -> list[dict[str, Any]]:
        return incidents(api, kind="surrender_share", province_id=prov, state="active")

    post("surrender", 12, 0)  # share 1.0 > 0.5: raised
    (one,) = share_alerts()
    assert one["value"] == 1.0 and one["details"]["threshold"] == 0.5 and one["details"]["clear_at"] == 0.3
    assert "surrender share" in one["message"] and one["trend"] in ("new", "steady")
    # the board marks the province from the ops head's active indicator incidents (board.js)
    assert one["id"] in [a["id"] for a in incidents(api, role="ops_head", state="active")]
    post("renewal", 18, 0)  # 12 / 30 = 0.4: below the raise level, above the clear level: still open
    (still,) = share_alerts()
    assert still["id"] == one["id"] and still["value"] == 0.4 and still["episode"] == 1
    post("renewal", 12, 100)  # 12 / 42 = 0.29 < 0.3: resolved
    assert share_alerts() == []
    (gone,) = incidents(api, kind="surrender_share", province_id=prov)
    assert gone["state"] == "resolved" and gone["id"] == one["id"]
