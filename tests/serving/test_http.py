"""The BentoML service in process (ASGI app of ``OpsMatch``): routes, status codes, auth, errors.

The client carries the admin key of ``OPSMATCH_API_TOKEN`` (``env-token``) unless a test says otherwise;
``ANON`` sends no key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from serving.config import load_service_config
from serving.http import service as service_module
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from tests.factories.fakes import NOW, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ANON = {"Authorization": ""}
_APP: list = []


def _asgi():
    """One ASGI app per process (BentoML registers its Prometheus metrics once); each TestClient
    context runs the lifespan, which builds a fresh service instance."""
    if not _APP:
        _APP.append(service_module.OpsMatch.to_asgi())
    return _APP[0]


@pytest.fixture
def client(monkeypatch, settings, runtime):
    def build(_settings):
        store = StateStore(settings.resolved_state_db_url)
        return Engine(
            settings, runtime, store, load_service_config({"policy_ttl_seconds": 0}), clock=lambda: NOW
        )

    monkeypatch.setattr(service_module, "build_engine", build)
    monkeypatch.setenv("OPSMATCH_API_TOKEN", TOKEN)
    with TestClient(_asgi(), headers=AUTH) as c:
        yield c


def _qa(qa_id: str = "Q1") -> dict:
    return {
        "qa_results": [
            {
                "qa_id": qa_id,
                "task_id": "T0",
                "worker_id": "W0001",
                "checked_at": (NOW - timedelta(minutes=1)).isoformat(),
                "passed": True,
                "score": 88,
            }
        ]
    }


def test_rank_ok_and_bad_inputs(client) -> None:
    r = client.post("/rank", json={"task_id": "T0", "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["workers"]) == 3 and "excluded" in body
    for payload, loc in [
        ({"task_id": "T0", "top_k": 0}, ["top_k"]),
        ({"task_id": ""}, ["task_id"]),
        ({"task_id": "T0", "bogus": 1}, ["bogus"]),
    ]:
        r = client.post("/rank", json=payload)
        assert r.status_code == 400, (payload, r.text)
        assert r.json()["detail"][0]["loc"] == loc and r.json()["kind"] == "validation_error"
    r = client.post("/rank", json={"top_k": 3})  # a rule beyond the field types: 422
    assert r.status_code == 422 and r.json()["kind"] == "rule_violation" and r.json()["loc"] == []
    assert (
        client.post("/rank", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 400
    )
    r = client.post("/rank", json={"task_id": "missing"})
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["task_id"]
    r = client.post("/rank", json={"task_id": "T0", "top_k": 999})
    assert r.status_code == 400 and "at most" in r.json()["error"]


def test_non_finite_numbers_are_refused(client) -> None:
    task = {
        "task_id": "X",
        "task_type": "renewal",
        "province_id": "P01",
        "created_at": NOW.isoformat(),
        "sla_due_at": (NOW + timedelta(hours=2)).isoformat(),
        "amount": "NaN",
    }
    r = client.post("/rank", json={"task": task})
    assert r.status_code == 400 and r.json()["detail"][0]["loc"][-1] == "amount"
    r = client.put("/policy", json={"actor": "x", "weights": {"quality": "Infinity"}}, headers=AUTH)
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["weights", "quality"]


def test_assign_and_risk(client) -> None:
    r = client.post("/assign", json={"task_ids": ["T0", "T1", "T-late"]})
    assert r.status_code == 200, r.text
    assert r.json()["n_assigned"] == 3
    assert client.post("/assign", json={"task_ids": []}).status_code == 422
    assert client.post("/assign", json={"task_ids": ["T0", "T0"]}).status_code == 422
    assert client.post("/assign", json={"task_ids": "T0"}).status_code == 400
    r = client.post("/risk", json={"task_ids": ["T0"]})
    assert r.status_code == 200 and r.json()["items"][0]["tier"] in ("low", "medium", "high")
    r = client.post("/risk", json={"task_ids": ["T0", "ghost"]})
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["task_ids", 1]


def test_every_data_endpoint_needs_a_key(client) -> None:
    assert client.post("/outcomes", json=_qa(), headers=ANON).status_code == 401
    r = client.post("/outcomes", json=_qa(), headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers.get("www-authenticate", "").startswith("Bearer")
    assert r.json()["kind"] == "auth_invalid" and r.json()["loc"] == ["header", "authorization"]
    assert client.put("/policy", json={"actor": "x", "sla_cap": 3}, headers=ANON).status_code == 401
    status = {"statuses": [{"worker_id": "W0001", "at": NOW.isoformat(), "on_shift": True, "open_tasks": 1}]}
    assert client.post("/workers/status", json=status, headers=ANON).status_code == 401
    assert client.post("/alerts/any/ack", json={"actor": "x"}, headers=ANON).status_code == 401
    for path in ("/alerts", "/policy", "/info"):
        assert client.get(path, headers=ANON).status_code == 401, path
    for path in ("/rank", "/assign", "/risk"):
        assert client.post(path, json={"task_ids": ["T0"]}, headers=ANON).status_code == 401, path
    for path in ("/livez", "/readyz", "/docs.json"):  # /metrics: see the real-server tests
        assert client.get(path, headers=ANON).status_code == 200, path
    assert client.post("/outcomes", json=_qa(), headers=AUTH).status_code == 200
    assert client.post("/workers/status", json=status, headers=AUTH).status_code == 200


def test_outcomes_idempotent_over_http(client) -> None:
    first = client.post("/outcomes", json=_qa("Q7"), headers=AUTH).json()
    second = client.post("/outcomes", json=_qa("Q7"), headers=AUTH).json()
    assert first["tables"]["qa_results"]["new"] == 1 and second["tables"]["qa_results"]["duplicates"] == 1
    bad = _qa("Q8")
    bad["qa_results"][0]["score"] = 101
    r = client.post("/outcomes", json=bad, headers=AUTH)
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["qa_results", 0, "score"]


def test_policy_alerts_info_over_http(client) -> None:
    r = client.get("/policy")
    assert r.status_code == 200 and r.json()["version"] == 0
    r = client.put("/policy", json={"actor": "head", "provinces": {"P03": {"closed": True}}}, headers=AUTH)
    assert r.status_code == 200 and r.json()["closed_provinces"] == ["P03"]
    assert client.get("/policy", params={"history": 5}).json()["history"][0]["actor"] == "env-token"
    assert (
        client.put("/policy", json={"actor": "head", "weights": {"quality": -1}}, headers=AUTH).status_code
        == 400
    )
    client.post("/assign", json={"task_ids": ["T-late"]})
    r = client.get("/alerts", params={"kind": "sla_overdue", "acked": "false"})
    assert r.status_code == 200 and r.json()["count"] == 1
    alert_id = r.json()["alerts"][0]["id"]
    r = client.post(f"/alerts/{alert_id}/ack", json={"actor": "risk"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["acked"]
    assert client.post("/alerts/unknown/ack", json={"actor": "risk"}, headers=AUTH).status_code == 404
    assert client.get("/alerts", params={"limit": 0}).status_code == 400
    assert client.get("/alerts", params={"kind": "nonsense"}).status_code == 400
    assert client.get("/alerts", params={"acked": "maybe"}).status_code == 400
    info = client.get("/info").json()
    assert info["ready"] and info["policy_version"] == 1
    assert info["clock"]["mode"] == "wall" and info["clock"]["speed"] == 1.0  # the operation's clock
    assert client.get("/readyz").status_code == 200 and client.get("/livez").status_code == 200


def test_without_env_token_only_stored_keys_work(monkeypatch, settings, runtime) -> None:
    from serving.access.keys import KeyStore

    store = StateStore(settings.resolved_state_db_url)
    key = KeyStore(store).create("qa-1", "qa_system", by="test")

    def build(_settings):
        return Engine(settings, runtime, store, load_service_config())

    monkeypatch.setattr(service_module, "build_engine", build)
    monkeypatch.delenv("OPSMATCH_API_TOKEN", raising=False)
    with TestClient(_asgi()) as c:
        r = c.post("/outcomes", json=_qa(), headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 401 and r.json()["kind"] == "auth_invalid"
        r = c.post("/outcomes", json=_qa(), headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        assert store.audit_entries(action="outcomes")[0]["actor"] == "qa-1"


def test_query_dates_must_be_iso_text_not_epoch_numbers(client) -> None:  # noqa: ANN001
    """Lax parsing would read ``date=0`` as 1970-01-01: a query date or timestamp is ISO text or a 400."""
    for path, name, bad in (("/watchlist", "date", "0"), ("/tasks", "created_after", "0")):
        r = client.get(path, params={name: bad})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["loc"] == ["query", name] and r.json()["kind"] == "validation_error"
        assert r.json()["detail"][0]["msg"].startswith("expected ")
    assert client.get("/tasks", params={"created_after": "2024-03-04T08:00:00+00:00"}).status_code == 200
    assert client.get("/tasks", params={"created_after": "2024-03-04"}).status_code == 200
    assert client.get("/watchlist", params={"date": "2024-03-05"}).status_code != 400


def test_schemathesis_findings_are_documented_4xx(client) -> None:  # noqa: ANN001
    """Year 292 (pandas cannot reckon with it) is a 422 naming the parameter, not a 500; an ISO
    ``until`` is read on the FastAPI routes too (a past one is a 422 naming it); an integral float
    ``limit`` is an integer, as the schema says; POST /tasks and GET /tasks are both documented."""
    r = client.get("/watchlist", params={"date": "0292-03-26"})
    assert r.status_code == 422 and r.json()["loc"] == ["query", "date"], r.text
    r = client.get("/tasks", params={"created_after": "0292-03-26T00:00:00Z"})
    assert r.status_code == 422 and r.json()["loc"] == ["query", "created_after"], r.text
    past = {"reason": "known", "until": "2000-01-01T00:00:00Z", "minutes": None}
    r = client.post("/alerts/A-none/silence", json=past)
    assert r.status_code == 422 and r.json()["loc"] == ["body", "until"], r.text
    future = {"reason": "known", "until": (NOW + timedelta(hours=1)).isoformat()}
    assert client.post("/alerts/A-none/silence", json=future).status_code == 404
    assert client.post("/assign", json={"task_ids": ["T0"], "limit": 3.0}).status_code == 200
    doc = client.get("/docs.json").json()
    assert set(doc["paths"]["/tasks"]) == {"get", "post"}
    assert "422" in doc["paths"]["/tasks"]["get"]["responses"]


def test_without_the_complaint_pre_champion_risk_and_watchlist_say_so(client, runtime, monkeypatch) -> None:  # noqa: ANN001
    """The first champions still training (``make run``'s first minutes): a 503 naming the model."""
    versions = {m: "1" for m in ("handling_time", "qa_pass", "complaint")}
    monkeypatch.setattr(runtime.scorer, "versions", lambda: versions)
    for r in (client.get("/watchlist"), client.post("/risk", json={"task_ids": ["T-late"]})):
        assert r.status_code == 503, r.text
        assert r.json()["kind"] == "model_unavailable" and "complaint_pre" in r.json()["error"]
