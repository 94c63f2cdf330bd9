"""A real ``bentoml serve serving.http.service:OpsMatch`` on a loopback port, called with SyncHTTPClient.

The data dir is empty, so the real runtime starts without feature tables or champions: the service
must be alive, not ready, answer 503 (never 500) where models are needed, and serve policy, alerts,
auth and validation normally.
"""

from __future__ import annotations

import bentoml
import pytest
from bentoml.exceptions import BentoMLException

from opsmatch.settings import Settings
from serving.runtime import launch

pytestmark = pytest.mark.integration
TOKEN = "integration-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve-data")
    settings = Settings(data_dir=data, mlflow_tracking_uri=f"sqlite:///{data / 'mlflow.db'}", api_token=TOKEN)
    env = launch.service_env(settings, data / "bentoml")
    with launch.running(env, data / "serve.log", 120, path="/livez") as url:  # alive, never ready here
        yield url


@pytest.fixture(scope="module")
def client(server):
    with bentoml.SyncHTTPClient(server, server_ready_timeout=0, token=TOKEN) as c:
        yield c


def test_alive_but_not_ready_without_models(client) -> None:
    assert client.request("GET", "/livez").status_code == 200
    assert client.request("GET", "/readyz").status_code == 503
    with pytest.raises(BentoMLException) as err:
        client.rank({"task_id": "T1"})
    assert err.value.error_code == 503
    info = client.request("GET", "/info").json()
    assert info["ready"] is False and info["workers"] == 0


def test_bad_input_is_400_naming_the_field(client) -> None:
    with pytest.raises(BentoMLException) as err:
        client.rank({"task_id": "T1", "top_k": -1})
    assert err.value.error_code == 400 and '"top_k"' in str(err.value)
    with pytest.raises(BentoMLException) as err:  # a rule beyond the field types: 422
        client.assign({"task_ids": []})
    assert err.value.error_code == 422


def test_policy_auth_and_versioning(server, client) -> None:
    import httpx

    r = httpx.put(f"{server}/policy", json={"actor": "x", "sla_cap": 3.0})
    assert r.status_code == 401
    r = client.request(
        "PUT", "/policy", json={"actor": "ops-head", "note": "storm", "provinces": {"P15": {"closed": True}}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["closed_provinces"] == ["P15"] and r.json()["version"] == 1
    latest = client.request("GET", "/policy", params={"history": 1}).json()["history"][0]
    assert latest["actor"] == "env-token" and "ops-head" in latest["note"]  # the key, not the body
    r = client.request("PUT", "/policy", json={"actor": "x", "weights": {"quality": "NaN"}})
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["weights", "quality"]


def test_alerts_and_metrics(server, client) -> None:
    r = client.request("GET", "/alerts", params={"limit": 5})
    assert r.status_code == 200 and r.json()["count"] == 0
    assert client.request("POST", "/alerts/none/ack", json={"actor": "x"}).status_code == 404
    assert client.request("GET", "/alerts", params={"limit": "many"}).status_code == 400
    text = client.request("GET", "/metrics").text
    assert "opsmatch_ready 0" in text and "opsmatch_policy_version" in text


def test_outcomes_require_token_and_validate(server, client) -> None:
    import httpx

    body = {
        "qa_results": [
            {
                "qa_id": "Q1",
                "task_id": "T1",
                "worker_id": "W1",
                "checked_at": "2026-01-01T00:00:00Z",
                "passed": True,
                "score": 80,
            }
        ]
    }
    assert httpx.post(f"{server}/outcomes", json=body).status_code == 401
    assert httpx.get(f"{server}/info").status_code == 401 and httpx.get(f"{server}/alerts").status_code == 401
    with pytest.raises(BentoMLException) as err:  # empty event store: T1 is unknown
        client.outcomes(body)
    assert err.value.error_code == 422 and "task_id" in str(err.value)
