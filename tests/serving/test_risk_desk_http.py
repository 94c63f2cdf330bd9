"""The risk desk on a real ``bentoml serve`` of the small world: the watchlist sized to capacity with one
row per customer, its random holdout, reasons from the families only, interventions stored once.

The server has its own state store (keys, policy, audit); interventions go to the world's event store
(no other test reads that table).
"""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import numpy as np
import pytest

from opsmatch import events
from serving.access.keys import KeyStore
from serving.risk.reasons import FAMILIES
from serving.runtime import launch
from serving.state.store import StateStore
from tests.factories.serving_world import World, private_world, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CALENDAR = re.compile(r"weekday|created_hour|hour of", re.IGNORECASE)


@pytest.fixture(scope="module")
def world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """This module stores interventions: it works on a private copy."""
    return private_world(world, tmp_path_factory.mktemp("risk-desk-http-world"))


@pytest.fixture(scope="module")
def state_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('riskdesk-state') / 'state.db'}"


@pytest.fixture(scope="module")
def keys(state_url: str) -> dict[str, str]:
    store = StateStore(state_url)
    made = {role: KeyStore(store).create(f"{role}-1", role, by="test") for role in ("risk", "ops_head")}
    store.close()
    return made


@pytest.fixture(scope="module")
def server(world: World, state_url: str, keys: dict[str, str], tmp_path_factory) -> str:
    env = world.env(
        OPSMATCH_STATE_DB_URL=state_url,
        OPSMATCH_SERVICE__POLICY_TTL_SECONDS="0",
        BENTOML_HOME=str(tmp_path_factory.mktemp("riskdesk-bentoml")),
    )
    with launch.running(env, world.root / "riskdesk-serve.log", path="/livez") as url:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, what="/readyz")
        yield url


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _watchlist(server: str, keys: dict[str, str], world: World, **params: str) -> dict:
    q = {"date": world.as_of.date().isoformat(), **params}
    r = httpx.get(f"{server}/watchlist", params=q, headers=_auth(keys["risk"]), timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def _team(server: str, keys: dict[str, str], **team: object) -> None:
    r = httpx.put(f"{server}/policy", json={"risk_team": team}, headers=_auth(keys["ops_head"]), timeout=30)
    assert r.status_code == 200, r.text


def test_watchlist_is_sized_to_capacity_with_one_row_per_customer(server: str, keys, world: World) -> None:
    out = _watchlist(server, keys, world)
    rows = out["rows"]
    assert out["capacity"] == round(0.03 * out["expected_daily_arrivals"]) > 0
    assert out["eligible_customers"] > out["capacity"] * 1.5  # enough candidates to fill it
    assert out["contacts"] == out["capacity"] == sum(not r["held_out"] for r in rows)
    assert len(rows) == out["contacts"] + out["held_out"]
    assert len({r["customer_id"] for r in rows}) == len(rows)  # one row per customer
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    prevented = [r["expected_complaints_prevented"] for r in rows]
    assert prevented == sorted(prevented, reverse=True) and prevented[0] > 0
    for r in rows:
        assert r["expected_complaints_prevented"] == pytest.approx(0.5 * r["expected_complaints"], abs=1e-6)
        assert r["context"]["tasks_waiting"] >= 1 and r["context"]["hours_waiting"] >= 0
        assert r["task"]["status"] in ("pending", "assigned") and r["task"]["summary"]
        assert r["task"]["task_id"] in set(world.pending["task_id"])
    # A national team of 7 calls a day, then a province's own team of 2.
    _team(server, keys, calls_per_day=7)
    assert _watchlist(server, keys, world)["contacts"] == 7
    province = rows[0]["province_id"]
    _team(server, keys, province_calls_per_day={province: 2})
    local = _watchlist(server, keys, world, province_id=province)
    assert local["capacity"] == local["contacts"] == 2
    assert {r["province_id"] for r in local["rows"]} == {province}
    _team(server, keys, calls_per_day=None, province_calls_per_day={})
    bad = httpx.get(f"{server}/watchlist", params={"date": "2999-01-01"}, headers=_auth(keys["risk"]))
    assert bad.status_code == 422 and bad.json()["loc"] == ["query", "date"]


def test_holdout_share_is_within_sampling_error(server: str, keys, world: World) -> None:
    _team(server, keys, calls_per_day=1_000_000, holdout_share=0.3)
    try:
        out = _watchlist(server, keys, world)
        again = _watchlist(server, keys, world)
    finally:
        _team(server, keys, calls_per_day=None, holdout_share=0.1)
    rows = out["rows"]
    n = len(rows)
    assert n == out["eligible_customers"] >= 100  # everyone listed: the share is over all of them
    share = sum(r["held_out"] for r in rows) / n
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n), (share, n)
    assert [r["customer_id"] for r in rows if r["held_out"]] == [
        r["customer_id"] for r in again["rows"] if r["held_out"]
    ]  # the same customers, whoever asks again that day


def test_reasons_come_from_the_families_without_calendar_artefacts(server: str, keys, world: World) -> None:
    rows = _watchlist(server, keys, world)["rows"]
    ids = world.pending["task_id"].astype(str).head(40).tolist()
    risk = httpx.post(f"{server}/risk", json={"task_ids": ids}, headers=_auth(keys["risk"]), timeout=60)
    assert risk.status_code == 200, risk.text
    reasons = [x for r in rows for x in r["reasons"]] + [
        x for it in risk.json()["items"] for x in it["reasons"]
    ]
    assert reasons and all(r["reasons"] for r in rows)
    for x in reasons:
        assert x["code"] in FAMILIES and x["contribution"] > 0
        assert x["text"].startswith(FAMILIES[x["code"]])
        assert not CALENDAR.search(x["text"]) and not any(CALENDAR.search(f) for f in x["features"])


def test_an_intervention_is_stored_once_when_sent_twice(server: str, keys, world: World) -> None:
    target = _watchlist(server, keys, world)["rows"][0]
    at = (world.as_of - timedelta(minutes=5)).isoformat()
    row = {
        "intervention_id": "IV-riskdesk-1",
        "customer_id": target["customer_id"],
        "task_id": target["task"]["task_id"],
        "at": at,
        "kind": "proactive",
        "outcome": "resolved",
        "note": "explained the delay",
    }
    url, auth = f"{server}/interventions", _auth(keys["risk"])
    first = httpx.post(url, json={"interventions": [row]}, headers=auth, timeout=30)
    second = httpx.post(url, json={"interventions": [row]}, headers=auth, timeout=30)
    assert first.status_code == 200 and first.json() == {
        "received": 1,
        "new": 1,
        "duplicates": 0,
        "actor": "risk-1",
    }
    assert second.status_code == 200 and second.json()["new"] == 0 and second.json()["duplicates"] == 1
    stored = events.read_table(world.settings.events_dir, "interventions")
    mine = stored[stored["intervention_id"] == "IV-riskdesk-1"]
    assert len(mine) == 1 and mine["actor"].iloc[0] == "risk-1"  # the key's name, never the body's
    # The body cannot name the actor; unknown customers and future contacts are refused, naming the field.
    claimed = httpx.post(url, json={"interventions": [{**row, "actor": "mallory"}]}, headers=auth)
    assert claimed.status_code in (400, 422) and claimed.json()["loc"][-1] == "actor"
    ghost = {**row, "intervention_id": "IV-riskdesk-2", "customer_id": "C-none"}
    r = httpx.post(url, json={"interventions": [ghost]}, headers=auth)
    assert r.status_code == 422 and r.json()["loc"] == ["interventions", 0, "customer_id"], r.text
    changed = httpx.post(url, json={"interventions": [{**row, "outcome": "no_answer"}]}, headers=auth)
    assert changed.status_code == 409
    # The contacted customer is under the contact's effect: not listed again within recontact_days.
    after = _watchlist(server, keys, world)
    assert target["customer_id"] not in {r["customer_id"] for r in after["rows"]}
    assert after["recently_contacted"] >= 1


def test_todays_held_out_rows_are_recorded_for_the_field_measurement(
    server: str, keys, world: World, state_url: str
) -> None:
    # Today: the world's history ended earlier, so no arrivals in the last 28 days; a team of 40 calls.
    _team(server, keys, holdout_share=0.5, calls_per_day=40)
    try:
        r = httpx.get(f"{server}/watchlist", headers=_auth(keys["risk"]), timeout=120)
    finally:
        _team(server, keys, holdout_share=0.1, calls_per_day=None)
    assert r.status_code == 200, r.text
    held = [row["customer_id"] for row in r.json()["rows"] if row["held_out"]]
    assert held
    store = StateStore(state_url)
    try:
        records = store.audit_entries(action="watchlist_holdout", limit=10)
    finally:
        store.close()
    assert records[0]["actor"] == "risk-1" and records[0]["detail"]["customers"] == held


def test_the_same_inline_task_is_riskier_48_hours_past_its_sla_than_at_intake(
    server: str, keys, world: World
) -> None:
    # The twin's truth adds complaint hazard for every hour past the SLA (capped at 48 h): the risk of an
    # open task must move with its wait, and the reason must say the wait in words.
    src = world.pending.iloc[0]
    created = world.as_of - timedelta(days=6)
    due = created + (src["sla_due_at"] - src["created_at"])
    task = {
        "task_id": "T-WAITING-1",
        "task_type": str(src["task_type"]),
        "province_id": str(src["province_id"]),
        "created_at": created.isoformat(),
        "sla_due_at": due.isoformat(),
        "complexity": int(src["complexity"]),
        "customer_id": str(src["customer_id"]),
    }

    def risk(at) -> dict:  # noqa: ANN001
        body = {"tasks": [task], "as_of": at.isoformat()}
        r = httpx.post(f"{server}/risk", json=body, headers=_auth(keys["risk"]), timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["items"][0]

    intake, late = risk(created), risk(due + timedelta(hours=48))
    assert late["probability"] > intake["probability"], (intake, late)
    hours = (due + timedelta(hours=48) - created) / timedelta(hours=1)
    said = [r["text"] for r in late["reasons"] if r["code"] == "waiting_sla"]
    assert said and f"waiting {hours:.0f} h, 48 h past its SLA" in said[0], late["reasons"]
