"""The console in Debian's chromium (Playwright) against a real ``bentoml serve`` on the small world.

The service runs on copies of the world's event store and its own state store (keys, sessions, policy,
alerts, audit), so what the pages change stays in this module. Every state the pages act on is made
through the service's own endpoints over HTTP (tasks in, worker status, alerts), as the live twin would.
Every page's JavaScript errors (uncaught exceptions, console errors) are collected and must stay empty.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from opsmatch import event_admin, events
from serving import launch
from serving.access import ROLES
from serving.console.context import views_of
from serving.keys import KeyStore
from serving.state import StateStore
from tests.factories.console import launch_chromium, sign_in
from tests.factories.serving_world import World, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Stack:
    url: str
    keys: dict[str, str]  # role -> key
    api: httpx.Client  # admin key
    state_url: str


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory):  # noqa: ANN201
    """A service on copies of the world's stores, a key per role, an admin client."""
    root = tmp_path_factory.mktemp("console")
    # The store's own backup (VACUUM INTO on the same SQLite library): a second SQLite library opening
    # the file in this process would drop the store's POSIX locks on close and delete its live WAL.
    copied = event_admin.backup(world.settings, root / "events")
    state_url = f"sqlite:///{root / 'state.db'}"
    store = StateStore(state_url)
    keys = {role: KeyStore(store).create(f"console-{role}", role, by="test") for role in ROLES}
    store.close()
    env = world.env(
        OPSMATCH_EVENTS_URL=copied,
        OPSMATCH_STATE_DB_URL=state_url,
        OPSMATCH_KEY_CACHE_SECONDS="0",
        OPSMATCH_SERVICE__POLICY_TTL_SECONDS="0",
        OPSMATCH_SERVICE__CONSOLE_REFRESH_SECONDS="1",
        OPSMATCH_SERVICE__MONITOR_SECONDS="3600",  # the pages, not the monitor, move the tasks here
    )
    with launch.running(env, root / "serve.log") as url:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=60)
        now = datetime.now(UTC)
        workers = world.workers["worker_id"].astype(str).tolist()
        rows = [{"worker_id": w, "at": now.isoformat(), "on_shift": True, "open_tasks": 0} for w in workers]
        assert api.post("/workers/status", json={"statuses": rows}).status_code == 200
        yield Stack(url, keys, api, state_url)
        api.close()


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def open_as(stack, browser):  # noqa: ANN001, ANN201
    """``open_as(role)``: a signed-in page; after the test, no page may have had a JavaScript error."""
    pages = []

    def _open(role: str):  # noqa: ANN202
        signed = sign_in(browser, stack.url, stack.keys[role])
        pages.append(signed)
        return signed

    yield _open
    for signed in pages:
        assert signed.errors == [], signed.errors
        signed.page.context.close()


def _new_tasks(
    api: httpx.Client, world: World, province: str, n: int, hours_to_sla: float = 4.0
) -> list[str]:
    """``n`` fresh tasks of ``province`` posted through POST /tasks (intake, as a core system would)."""
    customers = events.read_table(world.settings, "customers", columns=["customer_id"])["customer_id"]
    now = datetime.now(UTC)
    rows = [
        {
            "task_id": f"CT-{uuid.uuid4().hex[:10]}",
            "task_type": "renewal",
            "province_id": province,
            "customer_id": str(customers.iloc[i % len(customers)]),
            "created_at": (now - timedelta(minutes=5)).isoformat(),
            "sla_due_at": (now + timedelta(hours=hours_to_sla)).isoformat(),
            "complexity": 2,
            "channel": "online",
            "amount": 1000.0,
        }
        for i in range(n)
    ]
    r = api.post("/tasks", json={"tasks": rows})
    assert r.status_code == 200, r.text
    return [t["task_id"] for t in rows]


def _keys(stack: Stack) -> KeyStore:
    return KeyStore(StateStore(stack.state_url))


def _task(api: httpx.Client, task_id: str) -> dict:
    r = api.get(f"/tasks/{task_id}")
    assert r.status_code == 200, r.text
    return r.json()


# -- sign-in and access -------------------------------------------------------------------------------
def test_each_role_signs_in_and_sees_only_its_views(stack: Stack, open_as) -> None:  # noqa: ANN001
    for role in ROLES:
        signed = open_as(role)
        shown = signed.page.locator("nav a").all_inner_texts()
        assert shown == [v["title"] for v in views_of(role)], role
        expect(signed.page.locator("#who")).to_have_text(f"console-{role} ({role})")
        cookie = next(c for c in signed.page.context.cookies() if c["name"] == "om_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        first = views_of(role)[0]["id"]
        signed.page.wait_for_selector(f"#view-{first}[data-rendered]", state="attached")
    assert [v["id"] for v in views_of("ops_head")] == ["board", "dispatch", "risk", "alerts", "models"]
    assert [v["id"] for v in views_of("dispatcher")] == ["dispatch", "alerts", "models"]
    assert [v["id"] for v in views_of("risk")] == ["risk", "alerts", "models"]
    assert [v["id"] for v in views_of("qa_system")] == ["models"]
    audit = stack.api.get("/console/api/audit", params={"action": "console_sign_in"}).json()["entries"]
    assert {e["actor"] for e in audit} >= {f"console-{r}" for r in ROLES}


def test_bad_key_signout_and_revocation_end_access(stack: Stack, browser) -> None:  # noqa: ANN001
    page = browser.new_page()
    page.goto(f"{stack.url}/console")
    page.fill("input[name=key]", "om_000000000000_" + "x" * 30)
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("This key is not valid.")
    page.close()
    with httpx.Client(base_url=stack.url, timeout=30) as web:
        assert web.post("/console/login", data={"key": stack.keys["risk"]}).status_code == 303
        assert web.get("/alerts").status_code == 200  # the cookie authenticates the API calls
        assert web.get("/console/api/board").status_code == 403  # the board is the ops head's
        assert web.post("/alerts/x/ack", json={"note": "n"}).json()["kind"] == "csrf"
        assert web.post("/console/logout", headers={"X-OpsMatch-Console": "1"}).status_code == 200
        assert web.get("/alerts").status_code == 401
    keys = _keys(stack)
    name = f"temp-{uuid.uuid4().hex[:6]}"
    key = keys.create(name, "dispatcher", by="test")
    with httpx.Client(base_url=stack.url, timeout=30) as web:
        assert web.post("/console/login", data={"key": key}).status_code == 303
        assert web.get("/alerts").status_code == 200
        keys.revoke(name, by="test")
        assert web.get("/alerts").status_code == 401  # revoking the key ends its session
        assert "sign in" in web.get("/console").text.lower()


# -- national board -------------------------------------------------------------------------------------
def test_board_shows_every_province_and_toggles_through_policy(stack: Stack, open_as, world: World) -> None:  # noqa: ANN001
    provinces = events.read_table(world.settings, "provinces")["province_id"].astype(str).tolist()
    signed = open_as("ops_head")
    board = signed.view("board")
    rows = board.locator("#board-rows tr")
    expect(rows).to_have_count(len(provinces))
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.province)")) == sorted(provinces)
    waiting = stack.api.get("/console/api/board").json()
    first = waiting["provinces"][0]
    row = board.locator(f'#board-rows tr[data-province="{first["province_id"]}"]')
    expect(row.locator("td").nth(1)).to_have_text(str(first["backlog"]))
    queue = stack.api.get("/tasks", params={"status": "waiting", "province_id": first["province_id"]}).json()
    assert first["backlog"] == queue["total"]  # the board's index and the lifecycle's book agree
    row.locator('button[data-action="share_out"]').click()
    signed.confirm(note="P01 keeps its own work today")
    policy = wait_until(
        lambda: (p := stack.api.get("/policy").json())["policy"]["provinces"].get(first["province_id"]) and p,
        20,
        what="the policy change",
    )
    assert policy["policy"]["provinces"][first["province_id"]]["share_out"] is False
    expect(board.locator('#board-audit li[data-action="policy_update"]').first).to_contain_text(
        "console-ops_head"
    )
    expect(row.locator('button[data-action="share_out"]')).to_have_text("off")


def test_emergency_close_redispatches_the_provinces_waiting_tasks(
    stack: Stack, open_as, world: World
) -> None:  # noqa: ANN001
    province = sorted(events.read_table(world.settings, "provinces")["province_id"].astype(str))[-1]
    mine = _new_tasks(stack.api, world, province, 3)
    signed = open_as("ops_head")
    board = signed.view("board")
    row = board.locator(f'#board-rows tr[data-province="{province}"]')
    row.locator('button[data-action="close"]').click()
    expect(signed.page.locator("#ask-text")).to_contain_text("re-dispatched")
    signed.confirm(note="storm: office closed")
    expect(row.locator('button[data-action="reopen"]')).to_be_visible(timeout=20_000)
    for task_id in mine:
        task = wait_until(lambda t=task_id: (x := _task(stack.api, t))["status"] == "assigned" and x, 30)
        assert task["worker_id"] not in set(
            world.workers.loc[world.workers["province_id"] == province, "worker_id"]
        )
    waiting = stack.api.get("/tasks", params={"status": "waiting", "province_id": province}).json()
    assert waiting["total"] == 0
    audit = stack.api.get("/console/api/audit", params={"action": "emergency_close"}).json()["entries"]
    assert audit[0]["actor"] == "console-ops_head" and audit[0]["target"] == f"province:{province}"
    row.locator('button[data-action="reopen"]').click()
    signed.confirm()
    expect(row.locator('button[data-action="close"]')).to_be_visible(timeout=20_000)


# -- dispatcher -----------------------------------------------------------------------------------------
def _queue_row(signed, task_id: str, province: str):  # noqa: ANN001, ANN202
    view = signed.view("dispatch")
    view.locator("#queue-province").fill(province)
    view.locator("#queue-sort").select_option("-created_at")
    view.locator("#queue-filter").click()
    row = view.locator(f'#queue-rows tr[data-task="{task_id}"]')
    expect(row).to_be_visible(timeout=20_000)
    return view, row


def test_a_waiting_task_is_assigned_from_the_page(stack: Stack, open_as, world: World) -> None:  # noqa: ANN001
    province = str(world.workers["province_id"].iloc[0])
    task_id = _new_tasks(stack.api, world, province, 1)[0]
    signed = open_as("dispatcher")
    view, row = _queue_row(signed, task_id, province)
    row.click()
    ranked = view.locator("#rank-table tbody tr")
    expect(ranked.first).to_be_visible(timeout=20_000)
    top = ranked.first.get_attribute("data-worker")
    expect(ranked.first.locator("td.why")).not_to_be_empty()
    view.locator("#assign-top").click()
    expect(view.locator("#assigned-note")).to_contain_text(task_id)
    task = _task(stack.api, task_id)
    assert (task["status"], task["worker_id"]) == ("assigned", top)
    assert task["history"][-1]["actor"] == "console-dispatcher"
    expect(view.locator(f'#queue-rows tr[data-task="{task_id}"]')).to_have_count(0)


def test_an_override_asks_for_and_records_a_reason(stack: Stack, open_as, world: World) -> None:  # noqa: ANN001
    province = str(world.workers["province_id"].iloc[0])
    task_id = _new_tasks(stack.api, world, province, 1)[0]
    signed = open_as("dispatcher")
    view, row = _queue_row(signed, task_id, province)
    row.click()
    ranked = view.locator("#rank-table tbody tr")
    expect(ranked.nth(1)).to_be_visible(timeout=20_000)
    top, second = ranked.nth(0).get_attribute("data-worker"), ranked.nth(1).get_attribute("data-worker")
    ranked.nth(1).locator('button[data-action="override"]').click()
    expect(signed.page.locator("#ask-title")).to_contain_text(top)
    signed.page.locator("#ask-ok").click()  # no reason chosen: the form refuses
    expect(signed.page.locator("dialog#ask")).to_be_visible()
    signed.confirm(reason="specialist_knowledge", note="knows the product line")
    expect(view.locator("#assigned-note")).to_contain_text(second)
    task = _task(stack.api, task_id)
    assert (task["status"], task["worker_id"]) == ("assigned", second)
    assign = [e for e in task["history"] if e["kind"] == "assign"][-1]
    assert assign["override_reason"] == "specialist_knowledge" and assign["ranked_worker_id"] == top
    assert assign["note"] == "knows the product line" and assign["source"] == "person"


# -- risk team and alerts -------------------------------------------------------------------------------
def test_an_alert_is_acked_with_a_note(stack: Stack, open_as, world: World) -> None:  # noqa: ANN001
    ids = world.pending["task_id"].astype(str).head(5).tolist()
    assert stack.api.post("/assign", json={"task_ids": ids}).status_code == 200  # raises SLA alerts
    alerts = stack.api.get("/alerts", params={"acked": "false", "limit": 5}).json()["alerts"]
    target = alerts[0]
    signed = open_as("risk")
    view = signed.view("alerts")
    row = view.locator(f'#alerts-open tr[data-alert="{target["id"]}"]')
    row.locator('button[data-action="ack"]').click()
    signed.confirm(note="called the branch, on it")
    expect(view.locator(f'#alerts-history tr[data-alert="{target["id"]}"]')).to_contain_text("console-risk")
    got = [
        a
        for a in stack.api.get("/alerts", params={"acked": "true"}).json()["alerts"]
        if a["id"] == target["id"]
    ]
    assert got[0]["acked_by"] == "console-risk" and got[0]["ack_note"] == "called the branch, on it"


def test_an_intervention_is_recorded(stack: Stack, open_as) -> None:  # noqa: ANN001
    r = stack.api.put("/policy", json={"risk_team": {"calls_per_day": 12}, "note": "two callers today"})
    assert r.status_code == 200, r.text
    listed = stack.api.get("/watchlist").json()
    assert listed["rows"], listed
    signed = open_as("risk")
    view = signed.view("risk")
    expect(view.locator("#watchlist-rows tr")).to_have_count(len(listed["rows"]))
    row = view.locator("#watchlist-rows tr:has(button[data-action=intervene])").first
    customer = row.get_attribute("data-customer")
    row.locator("button[data-action=intervene]").click()
    signed.confirm(kind="callback", outcome="resolved", note="explained the delay")
    expect(signed.page.locator("#toast")).to_contain_text(f"{customer}: callback recorded")
    audit = stack.api.get("/console/api/audit", params={"action": "interventions"}).json()["entries"]
    assert audit[0]["actor"] == "console-risk" and audit[0]["detail"]["new"] == 1
    after = stack.api.get("/watchlist").json()
    assert customer not in {x["customer_id"] for x in after["rows"]}  # contacted: off the list for now
    assert after["recently_contacted"] >= 1


# -- models and proof -----------------------------------------------------------------------------------
def test_models_view_shows_the_served_champions(stack: Stack, open_as) -> None:  # noqa: ANN001
    served = stack.api.get("/info").json()["model_versions"]
    signed = open_as("qa_system")
    view = signed.view("models")
    for model, version in served.items():
        cell = view.locator(f'#models-registry tr[data-model="{model}"] td[data-served]')
        expect(cell).to_have_text(f"v{version}")
    expect(view.locator("#models-registry a").first).to_have_attribute(
        "href", re.compile("/#/models/opsmatch-")
    )
