"""The console in Debian's chromium (Playwright) against a real ``bentoml serve`` fed by the live twin.

The service runs on a private copy of the small world (its history and the night's backlog) and its own
state store (keys, sessions, policy, alerts, audit), on a demo clock that reads a weekday 10:00 in
Beijing when the service starts and plays ten operation seconds per wall second; the twin starts as soon
as the service is ready (polled, no start-up budget). ``opsmatch live --mode people`` feeds it as the
centre would: arrivals through ``POST /tasks``, the workers' roster status, their answers to every
assignment and their outcomes; it does not dispatch: the pages' people do, and the service's monitor
(every few seconds) dispatches what waits too long. Every timestamp a test makes comes
from that clock. Every page's JavaScript errors (uncaught exceptions, console errors) must stay empty.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from playwright.sync_api import expect, sync_playwright

from opsmatch import events
from opsmatch.clock import clock_reading, next_weekday_at
from opsmatch.settings import PROJECT_ROOT
from serving.access.keys import KeyStore, demo_keys
from serving.access.routes import ROLES
from serving.console.context import views_of
from serving.runtime import launch
from serving.state.store import StateStore
from serving.tasks.monitor import REDISPATCH_WORDS
from tests.factories.console import launch_chromium, sign_in
from tests.factories.lifecycle_world import Live, live_on, private_copy
from tests.factories.serving_world import World, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEED = 10.0  # operation seconds per wall second: the monitor's 30-minute pending limit is 3 wall minutes


@dataclass
class Stack:
    url: str
    keys: dict[str, str]  # role -> key
    api: httpx.Client  # admin key
    state_url: str
    live: Live  # the copy's settings, reference rows and the clock shared with the service
    started: datetime  # the operation time the twin started at

    def now(self) -> datetime:
        return self.live.clock()


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory):  # noqa: ANN201
    """A service on a private copy, fed by the live twin; a key per role, an admin client."""
    root = tmp_path_factory.mktemp("console")
    settings = private_copy(world, root)
    state_url = f"sqlite:///{root / 'state.db'}"
    store = StateStore(state_url)
    keys = {role: KeyStore(store).create(f"console-{role}", role, by="test") for role in ROLES}
    demo_keys(KeyStore(store), settings.data_dir / "keys", by="test")  # the twin's, as bootstrap writes
    store.close()
    go = datetime.now(UTC)  # the clock reads 10:00 as the service starts
    live = live_on(settings, clock_reading(next_weekday_at(go, 10), go, SPEED), root)
    env = live.env(
        OPSMATCH_STATE_DB_URL=state_url,
        OPSMATCH_KEY_CACHE_SECONDS="0",
        OPSMATCH_SERVICE__POLICY_TTL_SECONDS="0",
        OPSMATCH_SERVICE__CONSOLE_REFRESH_SECONDS="1",
        OPSMATCH_SERVICE__MONITOR_SECONDS="5",
    )
    with launch.running(env, root / "serve.log") as url:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['admin']}"}, timeout=60)
        twin = _start_twin(url, env, root)
        try:
            started = live.clock()
            # fed: the twin's first arrivals are in the queue and its workers' statuses decide availability
            wait_until(lambda: _twin_tasks(api, started), 120, what="the live twin's first arrivals")
            yield Stack(url, keys, api, state_url, live, started)
        finally:
            twin.send_signal(signal.SIGINT)
            twin.wait(timeout=120)
            api.close()
        said = (root / "live.out").read_text()
        assert twin.returncode == 0, said[-3000:]
        assert "live twin stopped" in said and "retrying" not in said, said[-3000:]  # never lost the service


def _start_twin(url: str, env: dict[str, str], root: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "apps", "live", "--url", url, "--mode", "people"]
    argv += ["--tick-seconds", "0.1", "--log-dir", str(root / "live-log")]
    with open(root / "live.out", "w") as out:  # the child keeps its own handle
        return subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _twin_tasks(api: httpx.Client, since: datetime) -> list[dict]:
    """Tasks the live twin posted (created since it started; the tests' own are named CT-)."""
    r = api.get("/tasks", params={"created_after": since.isoformat(), "sort": "-created_at", "limit": 500})
    assert r.status_code == 200, r.text
    return [t for t in r.json()["tasks"] if not t["task_id"].startswith("CT-")]


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


def _new_tasks(stack: Stack, province: str, n: int, hours_to_sla: float = 4.0) -> list[str]:
    """``n`` fresh tasks of ``province`` posted through POST /tasks (intake, as a core system would)."""
    customers = stack.live.customers["customer_id"]
    now = stack.now()
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
    r = stack.api.post("/tasks", json={"tasks": rows})
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
    ops_views = ["board", "dispatch", "risk", "alerts", "models", "settlement", "planning"]
    assert [v["id"] for v in views_of("ops_head")] == ops_views
    assert [v["id"] for v in views_of("dispatcher")] == ["dispatch", "alerts", "models", "planning"]
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


# -- the floor the twin feeds ---------------------------------------------------------------------------
def test_the_twin_feeds_the_board_and_the_monitor_dispatches_what_waits(stack: Stack, open_as) -> None:  # noqa: ANN001
    arrived = _twin_tasks(stack.api, stack.started)
    signed = open_as("ops_head")
    board = signed.view("board")
    kpi = board.locator('#board-kpis [data-kpi="arrivals"] b')
    # the page's 24 h arrivals count the twin's (the board refreshes every second)
    wait_until(lambda: int(re.sub(r"\D", "", kpi.inner_text()) or 0) >= len(arrived) > 0, 20, what="arrivals")
    # the night's backlog waited past the 30-minute limit: the monitor dispatched it, with its reason
    moves = wait_until(
        lambda: stack.api.get("/alerts", params={"kind": "redispatch", "limit": 50}).json()["alerts"],
        60,
        what="the monitor's first re-dispatches",
    )
    view = signed.view("dispatch")
    move = moves[-1]["examples"][0]  # one incident per province, its moves as examples
    item = view.locator(f'#redispatches li[data-task="{move["subject_id"]}"]')
    expect(item).to_contain_text(move["subject_id"], timeout=20_000)
    expect(item).to_contain_text(REDISPATCH_WORDS[move["details"]["reason"]])  # in words,
    expect(item).not_to_contain_text(move["details"]["reason"])  # not its code
    # and the twin's workers answer what they are given: some of that work is accepted or started
    held = wait_until(
        lambda: [
            t
            for t in stack.api.get("/tasks", params={"status": "held", "limit": 1000}).json()["tasks"]
            if t["status"] in ("accepted", "started")
        ],
        120,
        what="a task the twin's worker accepted",
    )
    assert held


# -- national board -------------------------------------------------------------------------------------
def _backlog_agrees(stack: Stack, board, province: str) -> bool:  # noqa: ANN001
    """The page's backlog cell equals the board API and the queue at one moment (the twin moves both)."""
    api_board = stack.api.get("/console/api/board").json()
    api_row = next(p for p in api_board["provinces"] if p["province_id"] == province)
    queue = stack.api.get("/tasks", params={"status": "waiting", "province_id": province}).json()
    cell = board.locator(f'#board-rows tr[data-province="{province}"] td').nth(1).inner_text()
    return cell == str(api_row["backlog"]) and api_row["backlog"] == queue["total"]


def test_board_shows_every_province_and_toggles_through_policy(stack: Stack, open_as) -> None:  # noqa: ANN001
    provinces = stack.live.provinces["province_id"].astype(str).tolist()
    signed = open_as("ops_head")
    board = signed.view("board")
    rows = board.locator("#board-rows tr")
    expect(rows).to_have_count(len(provinces))
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.province)")) == sorted(provinces)
    first = stack.api.get("/console/api/board").json()["provinces"][0]["province_id"]
    # the board's index and the lifecycle's book agree, and the page shows them (the twin moves all three)
    wait_until(lambda: _backlog_agrees(stack, board, first), 30, what="board, page and queue agreeing")
    row = board.locator(f'#board-rows tr[data-province="{first}"]')
    row.locator('button[data-action="share_out"]').click()
    signed.confirm(note=f"{first} keeps its own work today")
    policy = wait_until(
        lambda: (p := stack.api.get("/policy").json())["policy"]["provinces"].get(first) and p,
        20,
        what="the policy change",
    )
    assert policy["policy"]["provinces"][first]["share_out"] is False
    expect(board.locator('#board-audit li[data-action="policy_update"]').first).to_contain_text(
        "console-ops_head"
    )
    expect(row.locator('button[data-action="share_out"]')).to_have_text("off")


def _assigned_since(task: dict, since: datetime) -> dict | None:
    """The task's latest assign event at or after ``since``, if any."""
    moves = [e for e in task["history"] if e["kind"] == "assign" and pd.Timestamp(e["at"]) >= since]
    return moves[-1] if moves else None


def test_emergency_close_redispatches_the_provinces_waiting_tasks(stack: Stack, open_as) -> None:  # noqa: ANN001
    province = sorted(stack.live.provinces["province_id"].astype(str))[-1]
    home = set(stack.live.workers.loc[stack.live.workers["province_id"] == province, "worker_id"])
    _new_tasks(stack, province, 3)
    signed = open_as("ops_head")
    board = signed.view("board")
    row = board.locator(f'#board-rows tr[data-province="{province}"]')
    row.locator('button[data-action="close"]').click()
    expect(signed.page.locator("#ask-text")).to_contain_text("re-dispatched")
    waiting = stack.api.get("/tasks", params={"status": "waiting", "province_id": province}).json()
    closing = stack.now()
    signed.confirm(note="storm: office closed")
    expect(row.locator('button[data-action="reopen"]')).to_be_visible(timeout=20_000)
    # every task that waited in the province when it closed (ours and the twin's) went to another one's
    # workers; the twin's workers may since have accepted or rejected it, so the history is what counts
    assert len(waiting["tasks"]) >= 3
    for queued in waiting["tasks"]:
        tid = queued["task_id"]
        move = wait_until(lambda t=tid: _assigned_since(_task(stack.api, t), closing), 30, what=tid)
        assert move["worker_id"] not in home, move
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


def _busiest_province(stack: Stack) -> str:
    """The province with the most workers (the twin reports them on shift at 10:00)."""
    return str(stack.live.workers["province_id"].value_counts().index[0])


def test_a_waiting_task_is_assigned_from_the_page(stack: Stack, open_as) -> None:  # noqa: ANN001
    province = _busiest_province(stack)
    task_id = _new_tasks(stack, province, 1)[0]
    signed = open_as("dispatcher")
    view, row = _queue_row(signed, task_id, province)
    asked = stack.now()
    row.click()
    ranked = view.locator("#rank-table tbody tr")
    expect(ranked.first).to_be_visible(timeout=20_000)
    top = ranked.first.get_attribute("data-worker")
    expect(ranked.first.locator("td.why")).not_to_be_empty()
    view.locator("#assign-top").click()
    expect(view.locator("#assigned-note")).to_contain_text(task_id)
    task = _task(stack.api, task_id)
    move = _assigned_since(task, asked)
    assert move is not None and (move["worker_id"], move["actor"]) == (top, "console-dispatcher"), task
    assert move["source"] == "rank" and task["worker_id"] == top
    assert task["status"] in ("assigned", "accepted", "started"), task  # the twin's worker may have answered
    expect(view.locator(f'#queue-rows tr[data-task="{task_id}"]')).to_have_count(0)


def test_an_override_asks_for_and_records_a_reason(stack: Stack, open_as) -> None:  # noqa: ANN001
    province = _busiest_province(stack)
    task_id = _new_tasks(stack, province, 1)[0]
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
    assign = [e for e in task["history"] if e["kind"] == "assign"][-1]
    assert assign["worker_id"] == second and assign["ranked_worker_id"] == top
    assert assign["override_reason"] == "specialist_knowledge" and assign["source"] == "person"
    assert assign["note"] == "knows the product line" and assign["actor"] == "console-dispatcher"


# -- risk team and alerts -------------------------------------------------------------------------------
def test_an_alert_is_acked_with_a_note(stack: Stack, open_as) -> None:  # noqa: ANN001
    # the monitor raises them on its own: the night's backlog is late or near its SLA by 10:00
    alerts = wait_until(
        lambda: [
            a
            for a in stack.api.get("/alerts", params={"acked": "false", "limit": 50}).json()["alerts"]
            if a["kind"] != "redispatch"
        ],
        60,
        what="an open alert raised by the monitor",
    )
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
    expect(view.locator("#watchlist-rows tr").first).to_be_visible(timeout=20_000)
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


# -- settlement between provinces -------------------------------------------------------------------------
def _march_of_shared_work(stack: Stack) -> list[tuple[str, str, str]]:
    """Tasks of March 2026 (long before the history) each done by a worker of the next province, and one
    own task, stored in the copy's event store: (task id, owner, worker)."""
    workers = stack.live.workers.sort_values("worker_id").groupby("province_id")["worker_id"].first()
    provinces = sorted(workers.index)
    done = [
        (f"ST-{i}", p, str(workers[provinces[(i + 1) % len(provinces)]])) for i, p in enumerate(provinces)
    ]
    done.append(("ST-own", provinces[0], str(workers[provinces[0]])))
    at = [pd.Timestamp("2026-03-10T02:00:00Z") + pd.Timedelta(hours=i) for i in range(len(done))]
    customer = str(stack.live.customers["customer_id"].iloc[0])
    tasks = pd.DataFrame(
        {"task_id": [t for t, _, _ in done], "task_type": "renewal", "province_id": [p for _, p, _ in done],
         "customer_id": customer, "created_at": [a - pd.Timedelta(hours=1) for a in at],
         "sla_due_at": [a + pd.Timedelta(days=1) for a in at], "complexity": 2, "channel": "online",
         "amount": 10.0}
    )  # fmt: skip
    completions = pd.DataFrame(
        {"task_id": tasks["task_id"], "worker_id": [w for _, _, w in done], "completed_at": at,
         "started_at": [a - pd.Timedelta(minutes=15) for a in at], "handling_minutes": 15.0}
    )  # fmt: skip
    events.append_many(stack.live.settings, {"tasks": tasks, "completions": completions})
    return done


def test_settlement_route_and_view_with_close(stack: Stack, open_as) -> None:  # noqa: ANN001
    done = _march_of_shared_work(stack)
    head = {"Authorization": f"Bearer {stack.keys['ops_head']}"}
    with httpx.Client(base_url=stack.url, headers=head, timeout=60) as ops:
        r = ops.get("/settlement", params={"from": "2026-03-01", "to": "2026-04-01", "limit": 2})
        assert r.status_code == 200, r.text
        st = r.json()
        assert st["month"] == "2026-03" and st["status"] == "open" and st["lines_total"] == len(done) - 1
        assert len(st["lines"]) == 2 and st["national"]["credit_cents"] == st["national"]["debit_cents"] > 0
        assert {p["province_id"]: p["own_tasks"] for p in st["provinces"]}[done[-1][1]] == 1
        for params, status, loc in (
            ({"month": "2026-03", "province_id": "P99"}, 422, ["query", "province_id"]),
            ({"from": "2026-03-05", "to": "2026-03-01"}, 422, ["query", "to"]),
            ({"month": stack.now().strftime("%Y-%m")}, 422, ["query", "month"]),  # not ended
            ({"from": "March", "to": "2026-04-01"}, 400, ["query", "from"]),
        ):
            bad = ops.get("/settlement", params=params)
            assert bad.status_code == status and bad.json()["loc"] == loc, bad.text
        now = ops.get("/settlement", params={"month": stack.now().strftime("%Y-%m"), "provisional": "true"})
        assert now.status_code == 200 and now.json()["status"] == "provisional"
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {stack.keys['dispatcher']}"}
    ) as desk:
        assert desk.get("/settlement", params={"month": "2026-03"}).status_code == 403

    signed = open_as("ops_head")
    view = signed.view("settlement")
    view.locator("#settlement-month").fill("2026-03")
    view.locator("button", has_text="Show").click()
    expect(view.locator("#settlement-head")).to_contain_text("2026-03: open")
    expect(view.locator("#settlement-net tr")).to_have_count(len(stack.live.provinces))
    task, owner, worker = done[0]
    home = stack.live.workers.set_index("worker_id").loc[worker, "province_id"]
    view.locator(f'#settlement-matrix td[data-worker="{home}"][data-owner="{owner}"]').click()
    expect(view.locator(f'#settlement-lines tr[data-task="{task}"]')).to_contain_text(worker)
    view.locator("#settlement-close").click()
    signed.confirm(note="March settled")
    expect(view.locator("#settlement-head")).to_contain_text("closed by console-ops_head")
    audit = stack.api.get("/console/api/audit", params={"action": "settlement_close"}).json()["entries"]
    assert audit[0]["actor"] == "console-ops_head" and audit[0]["target"] == "settlement:2026-03"
    frozen = stack.api.get("/settlement", params={"month": "2026-03", "limit": 1000})
    again = stack.api.get("/settlement", params={"month": "2026-03", "limit": 1000})
    assert frozen.json()["status"] == "closed" and frozen.content == again.content


# -- planning: forecast, staffing gap, sharing recommendations ---------------------------------------------
def test_planning_view_shows_forecast_gap_and_applies_a_recommendation(
    stack: Stack,
    open_as,  # noqa: ANN001
    world: World,
) -> None:
    from dataclasses import replace

    from training.forecast import ForecastSpec
    from training.forecast_run import make_and_store

    # the copy's history ends at the world's as_of, long before the demo clock: forecast from there
    made = make_and_store(stack.live.settings, replace(ForecastSpec(), horizon_days=3), until=world.as_of)
    day = pd.Timestamp(world.as_of).tz_convert(made.inputs["zone"]).floor("D")
    assert pd.Timestamp(made.inputs["origin"]) == day
    signed = open_as("ops_head")
    view = signed.view("planning")
    expect(view.locator("#planning-head")).to_contain_text("forecast from")
    expect(view.locator("#planning-chart polygon")).to_have_count(1)  # the 80 % band
    assert view.locator("#planning-chart circle").count() > 0  # the arrivals so far
    expect(view.locator("#planning-heat tbody tr")).to_have_count(len(stack.live.provinces))
    recs = view.locator("#planning-recs li.rec")
    if recs.count() == 0:  # the next 24 h have no shortage beside an idle province: nothing to apply
        expect(view.locator("#planning-recs")).to_contain_text("no shortage")
        return
    before = stack.api.get("/policy").json()["version"]
    recs.first.locator("button", has_text="Apply").click()
    signed.confirm()
    wait_until(lambda: stack.api.get("/policy").json()["version"] > before, 20, what="the sharing applied")
    audit = stack.api.get("/console/api/audit", params={"limit": 5}).json()["entries"]
    assert any(e["actor"] == "console-ops_head" for e in audit)
