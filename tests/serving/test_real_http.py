"""A real ``bentoml serve serving.http.service:OpsMatch`` on the small world, called with SyncHTTPClient.

The server loads the world's profile cache, Feast online store and champions (settings through the
``OPSMATCH_*`` environment). The champion hot-swap test trains and promotes a new version in the
world's MLflow store, so it runs last.
"""

from __future__ import annotations

from datetime import timedelta

import bentoml
import httpx
import pytest

from opsmatch import events
from serving.matching.cost import PARTS
from serving.runtime import launch
from tests.factories.fast import FAST
from tests.factories.serving_world import MODELS, TOKEN, World, private_world, wait_until
from tests.factories.voice import promote_voice

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """This module promotes a new champion and stores outcomes: it works on a private copy, with text
    champions (``tests.factories.voice``) so /risk reads what customers said."""
    private = private_world(world, tmp_path_factory.mktemp("real-http-world"))
    promote_voice(private.settings)
    return private


@pytest.fixture(scope="module")
def server(world: World) -> str:
    env = world.env(OPSMATCH_SERVICE__CHAMPION_POLL_SECONDS="1", OPSMATCH_SERVICE__POLICY_TTL_SECONDS="0")
    with launch.running(env, world.root / "serve.log", path="/livez") as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str):
    with bentoml.SyncHTTPClient(server, server_ready_timeout=0, token=TOKEN) as c:
        yield c


def _iso(ts) -> str:  # noqa: ANN001
    return ts.isoformat()


def _status(client, world: World, worker_ids, on_shift: bool, minutes: float) -> dict:  # noqa: ANN001
    at = _iso(world.as_of + timedelta(minutes=minutes))
    rows = [{"worker_id": str(w), "at": at, "on_shift": on_shift, "open_tasks": 0} for w in worker_ids]
    return client.workers_status({"statuses": rows})


@pytest.fixture(scope="module")
def ready(server: str, client, world: World) -> str:  # noqa: ANN001
    """The server is ready and every worker is on shift at the world's as_of."""
    wait_until(lambda: httpx.get(f"{server}/readyz").status_code == 200, 120, what="/readyz")
    out = _status(client, world, world.workers["worker_id"], True, 0)
    assert out["received"] == len(world.workers)
    return server


def test_ready_and_info(ready: str, client, world: World) -> None:  # noqa: ANN001
    info = client.request("GET", "/info").json()
    assert info["ready"] is True and info["workers"] == len(world.workers)
    assert set(info["model_versions"]) == set(MODELS)
    assert "opsmatch_ready 1" in client.request("GET", "/metrics").text


def test_rank_by_task_id(ready: str, client, world: World) -> None:  # noqa: ANN001
    task_id = str(world.pending["task_id"].iloc[0])
    out = client.rank({"task_id": task_id, "top_k": 5, "as_of": _iso(world.as_of)})
    assert out["task_id"] == task_id and len(out["workers"]) == 5
    assert out["eligible"] + sum(out["excluded"].values()) == len(world.workers)
    assert set(out["excluded"]) >= {"skill", "off_shift", "at_capacity", "province_not_sharing"}
    for w in out["workers"]:
        assert w["predicted_minutes"] > 0 and 0 <= w["p_qa_pass"] <= 1 and 0 <= w["p_complaint"] <= 1
        assert set(w["cost_parts"]) == set(PARTS)
        assert w["cost"] == pytest.approx(sum(w["cost_parts"].values()), abs=1e-4)
        assert w["reason_codes"]


def test_assign_and_risk(ready: str, client, world: World) -> None:  # noqa: ANN001
    ids = world.pending["task_id"].head(30).astype(str).tolist()
    out = client.assign({"task_ids": ids, "as_of": _iso(world.as_of)})
    assert out["n_tasks"] == 30 and out["n_assigned"] == 30
    assert out["objective"] == pytest.approx(sum(a["cost"] for a in out["assignments"]), abs=1e-3)
    risk = client.risk({"task_ids": ids[:10], "as_of": _iso(world.as_of)})
    assert len(risk["items"]) == 10 and all(0 <= it["probability"] <= 1 for it in risk["items"])
    assert all(it["tier"] in ("low", "medium", "high") and it["reasons"] for it in risk["items"])


def test_contacts_then_risk_quotes_what_the_customer_said_masked(ready: str, client, world: World) -> None:  # noqa: ANN001, E501
    task = world.pending.iloc[5]
    said = "请问进度，我要打12378投诉电话13812345678"
    row = {"contact_id": "CT-REAL-1", "customer_id": str(task["customer_id"]),
           "task_id": str(task["task_id"]), "at": _iso(world.as_of - timedelta(minutes=1)),
           "channel": "phone", "direction": "inbound", "text": said}  # fmt: skip
    got = client.contacts({"contacts": [row]})
    assert (got["received"], got["new"], got["duplicates"]) == (1, 1, 0)
    assert client.contacts({"contacts": [row]})["duplicates"] == 1
    bad = httpx.post(f"{ready}/contacts", json={"contacts": [row | {"channel": "fax"}]},
                     headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert bad.status_code in (400, 422) and "channel" in str(bad.json()["loc"])
    risk = client.risk({"task_ids": [str(task["task_id"])], "as_of": _iso(world.as_of)})
    texts = [r["text"] for r in risk["items"][0]["reasons"]]
    assert "said: 我要打12378投诉电话138****5678" in texts
    assert not any("13812345678" in t for t in texts)


def test_words_said_before_now_raise_the_served_risk_and_later_ones_do_not(
    ready: str,
    client,  # noqa: ANN001
    world: World,
) -> None:
    """complaint_pre moved by the words (the text champions of the world fixture): a complaint phrase
    said before ``as_of`` raises the same task's probability at the same wait; one said after does not."""
    heard = set(
        events.read_table(world.settings.events_dir, "contacts", columns=["customer_id"])["customer_id"]
    )
    silent = world.pending[~world.pending["customer_id"].isin(heard)].drop_duplicates("customer_id")
    now_task, later_task = silent.iloc[0], silent.iloc[1]

    def p(task) -> float:  # noqa: ANN001
        got = client.risk({"task_ids": [str(task["task_id"])], "as_of": _iso(world.as_of)})
        return float(got["items"][0]["probability"])

    before, later_before = p(now_task), p(later_task)  # nothing said yet: complaint_pre alone
    when = [(now_task, -timedelta(minutes=5)), (later_task, timedelta(hours=1))]
    said = "等了三天还没办好，我要打12378投诉"
    rows = [{"contact_id": f"CT-REAL-{i}", "customer_id": str(t["customer_id"]), "task_id": str(t["task_id"]),
             "at": _iso(world.as_of + dt), "channel": "online_chat", "direction": "inbound", "text": said}
            for i, (t, dt) in enumerate(when, 2)]  # fmt: skip
    assert client.contacts({"contacts": rows})["new"] == 2
    # The champions load off the request path (serving.risk.voice.TextChampion): wait for the rise.
    wait_until(lambda: p(now_task) > before, 90, what="the words in the served complaint risk")
    assert p(later_task) == later_before  # said after the scoring time: not counted


def test_outcomes_durable_idempotent_and_reflected(ready: str, client, world: World) -> None:  # noqa: ANN001
    task = world.pending.iloc[3]
    task_id = str(task["task_id"])
    as_of = world.as_of + timedelta(minutes=2)
    before = client.rank({"task_id": task_id, "top_k": 3, "as_of": _iso(as_of)})
    top = before["workers"][0]
    same_type = world.pending[world.pending["task_type"] == task["task_type"]]["task_id"].astype(str)
    qa = [  # 20 failed checks on tasks of this type: the shrunk worker x type pass rate drops a lot
        {
            "qa_id": f"HQ-{i}",
            "task_id": same_type.iloc[-1 - i],
            "worker_id": top["worker_id"],
            "checked_at": _iso(world.as_of + timedelta(minutes=1, seconds=i)),
            "passed": False,
            "score": 5.0,
            "satisfaction": 1,
        }
        for i in range(20)
    ]
    got = client.outcomes({"qa_results": qa})
    assert got["tables"]["qa_results"]["new"] == 20 and got["profiles_refreshed"] is True
    # Durable: in the event store when the reply arrives.
    stored = events.read_table(world.settings.events_dir, "qa_results")
    assert {q["qa_id"] for q in qa} <= set(stored["qa_id"])
    again = client.outcomes({"qa_results": qa})
    assert again["tables"]["qa_results"]["new"] == 0 and again["tables"]["qa_results"]["duplicates"] == 20
    after = client.rank({"task_id": task_id, "top_k": len(world.workers), "as_of": _iso(as_of)})
    mine = next(w for w in after["workers"] if w["worker_id"] == top["worker_id"])
    assert mine["p_qa_pass"] < top["p_qa_pass"]

    # A status push takes the top worker off shift: the next /rank excludes it as off_shift.
    _status(client, world, [top["worker_id"]], False, 2)
    later = client.rank({"task_id": task_id, "top_k": 3, "as_of": _iso(as_of)})
    assert later["excluded"]["off_shift"] == after["excluded"]["off_shift"] + 1
    assert top["worker_id"] not in {w["worker_id"] for w in later["workers"]}
    _status(client, world, [top["worker_id"]], True, 3)


def test_emergency_close_moves_the_provinces_pending_tasks(ready: str, client, world: World) -> None:  # noqa: ANN001
    counts = world.pending["province_id"].value_counts()
    closed = str(counts.index[0])
    home = world.pending[world.pending["province_id"] == closed]["task_id"].astype(str).tolist()
    other = world.pending[world.pending["province_id"] != closed]["task_id"].head(20).astype(str).tolist()
    r = client.request(
        "PUT", "/policy", json={"actor": "ops-head", "note": "storm", "provinces": {closed: {"closed": True}}}
    )
    assert r.status_code == 200 and r.json()["closed_provinces"] == [closed]
    try:
        as_of = _iso(world.as_of + timedelta(minutes=4))
        out = client.assign({"task_ids": home + other, "as_of": as_of})
        assert out["closed_provinces"] == [closed] and out["n_assigned"] == len(home) + len(other)
        moved = [a for a in out["assignments"] if a["task_province_id"] == closed]
        assert len(moved) == len(home) == out["moved_from_closed"]
        assert all(a["worker_province_id"] != closed for a in out["assignments"])
    finally:
        r = client.request(
            "PUT", "/policy", json={"actor": "ops-head", "provinces": {closed: {"closed": False}}}
        )
        assert r.status_code == 200 and r.json()["closed_provinces"] == []


def test_calls_need_a_key(ready: str, world: World) -> None:
    body = {"statuses": [{"worker_id": "W0001", "at": _iso(world.as_of), "on_shift": True, "open_tasks": 0}]}
    assert httpx.post(f"{ready}/workers/status", json=body).status_code == 401
    assert httpx.post(f"{ready}/outcomes", json={"qa_results": []}).status_code == 401
    assert httpx.put(f"{ready}/policy", json={"actor": "x", "sla_cap": 2.0}).status_code == 401
    assert httpx.post(f"{ready}/rank", json={"task_id": "T"}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{ready}/workers/status", json=body, headers=wrong).status_code == 401


@pytest.mark.parametrize(
    ("endpoint", "body", "status", "field"),
    [
        ("/rank", {"task_id": "T-none", "top_k": 0}, 400, "top_k"),
        ("/rank", {"task_id": "T-none"}, 404, "task_id"),
        ("/rank", {"task_id": "X", "as_of": "2026-07-01T00:00:00"}, 400, "as_of"),
        ("/assign", {"task_ids": ["T-none"]}, 404, "task_ids"),
        ("/risk", {"task_ids": [], "tasks": []}, 422, "task_ids"),
        (
            "/outcomes",
            {
                "qa_results": [
                    {
                        "qa_id": "BAD-1",
                        "task_id": "T-none",
                        "worker_id": "W0001",
                        "checked_at": "2026-07-01T00:00:00Z",
                        "passed": True,
                        "score": 50,
                    }
                ]
            },
            422,
            "task_id",
        ),
        ("/outcomes", {"qa_results": [{"qa_id": "BAD-2", "score": 500}]}, 400, "score"),
        (
            "/workers/status",
            {
                "statuses": [
                    {"worker_id": "W-none", "at": "2026-07-01T00:00:00Z", "on_shift": True, "open_tasks": 0}
                ]
            },
            422,
            "worker_id",
        ),
    ],
)
def test_bad_input_is_4xx_naming_the_field(
    ready: str, endpoint: str, body: dict, status: int, field: str
) -> None:
    r = httpx.post(f"{ready}{endpoint}", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == status, r.text
    assert field in r.text


def test_champion_change_is_served_without_restart(ready: str, client, world: World) -> None:  # noqa: ANN001
    from training.frames import train_from_store
    from training.gate import promote

    before = client.request("GET", "/info").json()["model_versions"]
    result = train_from_store(world.settings, ["qa_pass"], num_threads=1, overrides=FAST)["qa_pass"]
    decision = promote(world.settings, "qa_pass", force=True)
    assert decision.promoted and str(result.version) != before["qa_pass"]
    wait_until(
        lambda: client.request("GET", "/info").json()["model_versions"]["qa_pass"] == str(result.version),
        60,
        what="the new qa_pass champion to be served",
    )
    out = client.rank(
        {"task_id": str(world.pending["task_id"].iloc[0]), "top_k": 1, "as_of": _iso(world.as_of)}
    )
    assert out["model_versions"]["qa_pass"] == str(result.version)
    assert out["model_versions"]["handling_time"] == before["handling_time"]


def test_forecast_and_staffing_by_role_with_ranges_checked(ready: str, world: World) -> None:
    from dataclasses import replace

    from serving.access.keys import KeyStore
    from serving.state.store import StateStore
    from training.forecast import ForecastSpec
    from training.forecast_run import make_and_store

    admin = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{ready}/forecast", headers=admin).json()["kind"] == "forecast_unavailable"
    made = make_and_store(world.settings, replace(ForecastSpec(), horizon_days=2))
    store = StateStore(world.settings.resolved_state_db_url)
    try:
        keys = {
            r: KeyStore(store).create(f"plan-{r}", r, by="test") for r in ("ops_head", "dispatcher", "risk")
        }
    finally:
        store.close()
    auth = {r: {"Authorization": f"Bearer {k}"} for r, k in keys.items()}
    start = made.forecast["start"].min()
    window = {"from": start.isoformat(), "to": (start + timedelta(hours=6)).isoformat()}
    r = httpx.get(f"{ready}/forecast", params={**window, "province_id": "P02"}, headers=auth["dispatcher"])
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert len(rows) == 12 * (1 + len(made.inputs["sla_hours"]))  # 12 half hours x (total + each type)
    assert set(rows[0]) == {"start", "province_id", "task_type", "expected", "low", "high", "actual"}
    csv = httpx.get(f"{ready}/forecast", params={**window, "format": "csv"}, headers=auth["ops_head"])
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "start,province_id,task_type,expected,low,high,actual"
    s = httpx.get(f"{ready}/staffing", params=window, headers=auth["ops_head"])
    assert s.status_code == 200, s.text
    body = s.json()
    assert {"start", "province_id", "needed", "rostered", "gap"} == set(body["rows"][0])
    assert all(row["gap"] == row["rostered"] - row["needed"] for row in body["rows"])
    assert len({row["start"] for row in body["rows"]}) == 6
    # the window's end cuts no day: the night's work waits for the day's shifts however short the window
    day = {"from": window["from"], "to": (start + timedelta(days=1)).isoformat()}
    whole = httpx.get(f"{ready}/staffing", params=day, headers=auth["ops_head"]).json()["rows"]
    hours = {row["start"] for row in body["rows"]}
    assert body["rows"] == [row for row in whole if row["start"] in hours]
    assert httpx.get(f"{ready}/staffing", headers=auth["risk"]).status_code == 403
    assert httpx.get(f"{ready}/forecast", headers=auth["risk"]).status_code == 403
    backwards = {"from": window["to"], "to": window["from"]}
    for path, params, field in (
        ("/forecast", backwards, "to"),
        ("/staffing", backwards, "to"),
        ("/forecast", {"from": "tomorrow"}, "from"),
        ("/staffing", {"to": "2026-13-01"}, "to"),
        ("/forecast", {"format": "xls"}, "format"),
    ):
        bad = httpx.get(f"{ready}{path}", params=params, headers=auth["ops_head"])
        assert bad.status_code in (400, 422), (path, bad.text)
        assert field in bad.json()["loc"], (path, bad.json())
