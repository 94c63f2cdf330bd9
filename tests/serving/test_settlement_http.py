"""``GET /settlement`` and ``POST /settlement/close`` through the service's ASGI app in process (the toy
log of ``test_settlement``): roles, the error shape naming the field, paging, the close and its audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from serving.access.keys import KeyStore
from serving.config import load_service_config
from serving.http import service as service_module
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from tests.factories.fakes import TOKEN
from tests.serving.test_http import _asgi
from tests.serving.test_settlement import write_toy

AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEC_2 = datetime(2026, 12, 2, tzinfo=UTC)


@pytest.fixture
def client(monkeypatch, settings, runtime):  # noqa: ANN001, ANN201
    write_toy(settings.resolved_events_url)

    def build(_settings):  # noqa: ANN001, ANN202
        store = StateStore(settings.resolved_state_db_url)
        config = load_service_config({"policy_ttl_seconds": 0})
        return Engine(settings, runtime, store, config, clock=lambda: DEC_2)

    monkeypatch.setattr(service_module, "build_engine", build)
    monkeypatch.setenv("OPSMATCH_API_TOKEN", TOKEN)
    with TestClient(_asgi(), headers=AUTH) as c:
        yield c


def _key(settings, role: str) -> dict[str, str]:  # noqa: ANN001
    store = StateStore(settings.resolved_state_db_url)
    try:
        return {"Authorization": f"Bearer {KeyStore(store).create(f'st-{role}', role, by='test')}"}
    finally:
        store.close()


def test_settlement_route_roles_errors_paging_and_close(client, settings) -> None:  # noqa: ANN001
    ops, desk = _key(settings, "ops_head"), _key(settings, "dispatcher")
    r = client.get("/settlement", params={"from": "2026-11-01", "to": "2026-12-01", "limit": 4}, headers=ops)
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["month"] == "2026-11" and st["from"] == "2026-11-01T00:00:00+08:00"
    # the service's settlement.yaml: 1.4368 CNY a minute everywhere; October's 4 completions are under the
    # 20 a cell needs, so every task's standard is their median, 25 min: 35.92 CNY a line (T08 failed QA: 0)
    assert (st["lines_total"], len(st["lines"]), st["national"]["credit_cents"]) == (9, 4, 8 * 3592)
    nets = {p["province_id"]: p["net"] for p in st["provinces"]}
    assert nets == {"P01": "35.92", "P02": "35.92", "P03": "-71.84"}
    page2 = client.get(
        "/settlement", params={"month": "2026-11", "offset": 4, "limit": 4}, headers=ops
    ).json()
    assert [x["task_id"] for x in page2["lines"]] == ["T05", "T06", "T08", "T09"]
    one = client.get("/settlement", params={"month": "2026-11", "province_id": "P03"}, headers=ops).json()
    assert [p["province_id"] for p in one["provinces"]] == ["P03"] and one["lines_total"] == 5
    assert client.get("/settlement", params={"month": "2026-11"}, headers=desk).status_code == 403
    assert (
        client.get("/settlement", params={"month": "2026-11"}, headers={"Authorization": ""}).status_code
        == 401
    )
    for params, status, loc in (
        ({"month": "2026-11", "province_id": "P99"}, 422, ["query", "province_id"]),
        ({"from": "2026-11-05", "to": "2026-11-01"}, 422, ["query", "to"]),
        ({"month": "2026-12"}, 422, ["query", "month"]),  # December has not ended on Dec 2
        ({"from": "2026-11-20", "to": "2026-12-20"}, 422, ["query", "to"]),
        ({"month": "2026-13"}, 422, ["query", "month"]),
        ({"from": "2026-11-01"}, 422, ["query", "to"]),
        ({"from": "0001-01-01", "to": "2026-01-01"}, 422, ["query", "from"]),
        ({"from": "1700000000", "to": "2026-12-01"}, 400, ["query", "from"]),
        ({"month": "2026-11", "limit": 0}, 400, ["query", "limit"]),
    ):
        bad = client.get("/settlement", params=params, headers=ops)
        body = bad.json()
        assert bad.status_code == status and body["loc"] == loc, (params, bad.text)
        assert set(body) == {"error", "kind", "loc", "detail"}
    assert (
        client.get("/settlement", params={"month": "2026-12", "provisional": True}, headers=ops).json()[
            "status"
        ]
        == "provisional"
    )

    assert client.post("/settlement/close", json={"month": "2026-11"}, headers=desk).status_code == 403
    bad = client.post("/settlement/close", json={"month": "2026-12"}, headers=ops)
    assert bad.status_code == 422 and bad.json()["loc"] == ["month"]
    bad = client.post("/settlement/close", json={"month": "Nov"}, headers=ops)
    assert bad.status_code == 400 and bad.json()["loc"] == ["month"]
    done = client.post("/settlement/close", json={"month": "2026-11", "note": "November"}, headers=ops)
    assert done.status_code == 200 and done.json()["closed_by"] == "st-ops_head", done.text
    assert client.post("/settlement/close", json={"month": "2026-11"}, headers=ops).status_code == 409
    frozen = client.get("/settlement", params={"month": "2026-11", "limit": 1000}, headers=ops)
    assert frozen.json()["status"] == "closed" and frozen.json()["lines_total"] == 9
    audit = client.get("/console/api/audit", params={"action": "settlement_close"}).json()["entries"]
    assert audit[0]["actor"] == "st-ops_head" and audit[0]["detail"]["lines"] == 9


def test_settlement_is_documented(client) -> None:  # noqa: ANN001
    paths = client.get("/docs.json").json()["paths"]
    got = paths["/settlement"]["get"]
    assert {"200", "400", "401", "403", "422"} <= set(got["responses"])
    assert {p["name"] for p in got["parameters"]} >= {"from", "to", "month", "province_id", "provisional"}
    assert {"200", "409", "422"} <= set(paths["/settlement/close"]["post"]["responses"])
