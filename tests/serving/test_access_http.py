"""Access on a real ``bentoml serve`` of the small world: anonymous calls, each role inside and outside
its routes, a key revoked with the CLI while the server runs, the audit's actor, rate and body limits.

The server has its own state store (keys, policy, audit), so nothing here leaks into the other tests
of the world; its data calls only read (or are refused before they write).
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving.access.keys import KeyStore
from serving.runtime import launch
from serving.state.store import StateStore
from tests.factories.serving_world import World, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OPSMATCH = str(Path(sys.executable).parent / "opsmatch")
# The roles, by hand: who may call which of the calls below (ops_head and admin: all of them).
ALLOWED = {
    "dispatcher": {"rank", "assign", "alerts", "info"},
    "risk": {"risk", "alerts", "ack", "info", "watchlist", "interventions"},
    "qa_system": {"outcomes", "status", "info"},
}


@pytest.fixture(scope="module")
def state_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('access-state') / 'state.db'}"


@pytest.fixture(scope="module")
def keys(state_url: str) -> dict[str, str]:
    store = StateStore(state_url)
    made = {
        role: KeyStore(store).create(f"{role}-1", role, by="test")
        for role in ("dispatcher", "risk", "qa_system", "ops_head", "admin")
    }
    made["risk-burst"] = KeyStore(store).create("risk-burst", "risk", by="test")
    store.close()
    return made


@pytest.fixture(scope="module")
def env(world: World, state_url: str, tmp_path_factory) -> dict[str, str]:
    return world.env(
        OPSMATCH_STATE_DB_URL=state_url,
        OPSMATCH_KEY_CACHE_SECONDS="1",
        OPSMATCH_MAX_BODY_BYTES="65536",
        OPSMATCH_RATE_LIMITS='{"risk": {"per_second": 2, "burst": 20}}',
        BENTOML_HOME=str(tmp_path_factory.mktemp("access-bentoml")),
    )


@pytest.fixture(scope="module")
def server(world: World, env: dict[str, str], keys: dict[str, str]) -> str:
    with launch.running(env, world.root / "access-serve.log", path="/livez") as url:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, what="/readyz")
        yield url


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _calls(world: World) -> dict[str, tuple[str, str, dict | None]]:
    task = str(world.pending["task_id"].iloc[0])
    as_of = world.as_of.isoformat()
    status = {"worker_id": "W-none", "at": as_of, "on_shift": True, "open_tasks": 0}
    return {
        "rank": ("POST", "/rank", {"task_id": task, "as_of": as_of, "top_k": 3}),
        "assign": ("POST", "/assign", {"task_ids": [task], "as_of": as_of}),
        "risk": ("POST", "/risk", {"task_ids": [task]}),
        "alerts": ("GET", "/alerts", None),
        "ack": ("POST", "/alerts/none/ack", {"note": "seen"}),
        "outcomes": ("POST", "/outcomes", {"qa_results": []}),
        "status": ("POST", "/workers/status", {"statuses": [status]}),
        "policy": ("GET", "/policy", None),
        "put_policy": ("PUT", "/policy", {"sla_cap": 8.0}),  # the default: no change, version 0
        "info": ("GET", "/info", None),
        "watchlist": ("GET", "/watchlist?province_id=P-none", None),
        "interventions": ("POST", "/interventions", {"interventions": []}),
    }


def test_every_data_endpoint_refuses_anonymous_calls(server: str) -> None:
    doc = httpx.get(f"{server}/docs.json").json()
    secured = [(m, p) for p, item in doc["paths"].items() for m, op in item.items() if op.get("security")]
    assert len(secured) >= 10
    for method, path in secured:
        r = httpx.request(method.upper(), server + path.replace("{alert_id}", "x"), json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer") and r.json()["kind"] == "auth_missing"
    for path in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(server + path).status_code == 200, path


def test_each_role_is_refused_outside_its_routes_and_served_inside(server: str, world: World, keys) -> None:
    calls = _calls(world)
    for role in ("dispatcher", "risk", "qa_system", "ops_head", "admin"):
        for name, (method, path, body) in calls.items():
            r = httpx.request(method, server + path, json=body, headers=_auth(keys[role]), timeout=60)
            inside = role in ("ops_head", "admin") or name in ALLOWED[role]
            if inside:
                assert r.status_code not in (401, 403), (role, name, r.text)
            else:
                assert r.status_code == 403 and r.json()["kind"] == "forbidden", (role, name, r.text)
    rank = httpx.post(server + "/rank", json=calls["rank"][2], headers=_auth(keys["dispatcher"]), timeout=60)
    assert rank.status_code == 200 and rank.json()["task_id"] == calls["rank"][2]["task_id"]
    assert httpx.post(server + "/alerts/none/ack", json={}, headers=_auth(keys["risk"])).status_code == 404
    assert httpx.get(server + "/policy", headers=_auth(keys["ops_head"])).json()["version"] == 0


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([OPSMATCH, "keys", *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_revoked_key_is_refused_within_5_seconds(server: str, env: dict[str, str]) -> None:
    made = _cli(env, "create", "--name", "desk-9", "--role", "dispatcher")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]  # printed once, as the last line
    assert httpx.get(f"{server}/info", headers=_auth(key)).status_code == 200
    listed = _cli(env, "list").stdout
    assert "desk-9" in listed and "dispatcher" in listed
    assert _cli(env, "revoke", "desk-9").returncode == 0
    start = time.monotonic()
    wait_until(
        lambda: httpx.get(f"{server}/info", headers=_auth(key)).status_code == 401, 5, 0.1, "revocation"
    )
    assert time.monotonic() - start < 5
    r = httpx.get(f"{server}/info", headers=_auth(key))
    assert r.json()["kind"] == "auth_revoked"


def test_the_policy_audit_names_the_key_not_the_body(server: str, keys, state_url: str) -> None:
    body = {"actor": "mallory", "note": "storm drill", "sla_cap": 4.0}
    r = httpx.put(f"{server}/policy", json=body, headers=_auth(keys["ops_head"]))
    assert r.status_code == 200, r.text
    latest = r.json()["history"][0]
    assert latest["actor"] == "ops_head-1" and "mallory" in latest["note"]
    store = StateStore(state_url)
    try:
        entry = store.audit_entries(action="policy_update")[0]
    finally:
        store.close()
    assert entry["actor"] == "ops_head-1"
    r = httpx.put(f"{server}/policy", json={"sla_cap": 5.0, "actor": "x"}, headers=_auth(keys["ops_head"]))
    assert r.status_code == 200 and r.json()["history"][0]["actor"] == "ops_head-1"


def test_rate_and_body_limits_answer_429_and_413_and_are_counted(server: str, keys) -> None:
    burst = _auth(keys["risk-burst"])
    url = f"{server}/alerts"
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:  # concurrent, so the bucket barely refills meanwhile
        answers = list(pool.map(lambda _: httpx.get(url, headers=burst, timeout=60), range(40)))
    elapsed = time.monotonic() - start
    limited = [r for r in answers if r.status_code == 429]
    # The bucket (burst 20, 2 a second) lets through at most 20 + 2 per elapsed second (+1 at the edge):
    # the bound follows the machine's speed instead of assuming the 40 calls take under 5 seconds.
    allowed = 20 + math.ceil(2 * elapsed) + 1
    assert len(limited) >= max(1, 40 - allowed), (len(limited), elapsed)
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert limited[0].json()["kind"] == "rate_limited"
    big = {"qa_results": [{"qa_id": "x" * 100}] * 1000}
    r = httpx.post(f"{server}/outcomes", json=big, headers=_auth(keys["qa_system"]))
    assert r.status_code == 413 and r.json()["kind"] == "body_too_large"
    metrics = httpx.get(f"{server}/metrics").text
    lines = [ln for ln in metrics.splitlines() if ln.startswith("opsmatch_refused_requests_total")]
    assert any('status="429"' in ln and 'role="risk"' in ln for ln in lines), lines
    assert any('status="413"' in ln for ln in lines), lines
