"""Screenshots of every console view (PNG, headless Debian chromium at 1366x768) into docs/console/.

It builds the tests' small world with a history that ends now (twin -> features -> champions, ~2
minutes) in ``--work`` unless today's is there, serves it with ``bentoml serve`` on copies of its
stores, and makes some state through the service's own endpoints as the live twin would (worker status,
the monitor's dispatch of the history's backlog, new tasks, a dispatch, a province not sharing), then
signs in as the ops head and shoots each view. ``--ab-summary`` copies a twin A/B ``summary.json``
(``opsmatch evaluate``) so the proof view has its charts.

Run: ``.venv/bin/python scripts/console_screenshots.py [--ab-summary <a summary.json>]``, or, against a
running ``make run`` (the live twin feeding it): ``.venv/bin/python scripts/console_screenshots.py --url
http://127.0.0.1:3000 --key-file data/keys/ops_head.key``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opsmatch import event_admin, events  # noqa: E402
from serving.access.keys import KeyStore  # noqa: E402
from serving.runtime import launch  # noqa: E402
from serving.state.store import StateStore  # noqa: E402
from tests.factories.console import launch_chromium, sign_in  # noqa: E402
from tests.factories.serving_world import build_world, world_settings  # noqa: E402
from training.forecast import ForecastSpec  # noqa: E402
from training.forecast_run import make_and_store  # noqa: E402

OUT = ROOT / "docs" / "console"
VIEWS = ("board", "dispatch", "risk", "alerts", "models", "planning")


def _state(api: httpx.Client, settings, workers: list[str]) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    rows = [{"worker_id": w, "at": now.isoformat(), "on_shift": True, "open_tasks": 0} for w in workers]
    api.post("/workers/status", json={"statuses": rows}).raise_for_status()
    # the monitor dispatches the history's backlog (waiting past 30 minutes): its moves, with reasons
    for _ in range(120):
        if api.get("/alerts", params={"kind": "redispatch", "limit": 1}).json()["alerts"]:
            break
        time.sleep(1.0)
    else:
        raise SystemExit("the monitor made no re-dispatch within 2 minutes")
    customers = events.read_table(settings, "customers", columns=["customer_id"])["customer_id"].astype(str)
    provinces = sorted(events.read_table(settings, "provinces")["province_id"].astype(str))
    tasks = [
        {
            "task_id": f"DEMO-{uuid.uuid4().hex[:8]}",
            "task_type": ("renewal", "claims_review", "policy_change")[i % 3],
            "province_id": provinces[i % len(provinces)],
            "customer_id": customers.iloc[i * 7 % len(customers)],
            "created_at": (now - timedelta(minutes=10 + 3 * i)).isoformat(),
            "sla_due_at": (now + timedelta(hours=1 + i % 6)).isoformat(),
            "complexity": 1 + i % 5,
            "channel": "online",
            "amount": 500.0 + 100 * i,
        }
        for i in range(24)
    ]
    api.post("/tasks", json={"tasks": tasks}).raise_for_status()
    first = [t["task_id"] for t in tasks[:6]]
    api.post("/assign", json={"task_ids": first, "commit": True}).raise_for_status()
    change = {
        "provinces": {provinces[-1]: {"share_in": False}},
        "risk_team": {"calls_per_day": 12},
        "note": "demo: storm warning; two callers today",
    }
    api.put("/policy", json=change).raise_for_status()


def _shrink(path: Path) -> None:
    """256 colours are plenty for a UI screenshot: a third of the bytes."""
    from PIL import Image

    with Image.open(path) as img:
        img.convert("RGB").quantize(colors=256).save(path, optimize=True)


def shoot(url: str, key: str, views: tuple[str, ...] = VIEWS) -> None:
    """Sign in with ``key`` and write one PNG per view."""
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        signed = sign_in(browser, url, key)
        for view in views:
            signed.view(view)
            if view == "dispatch":
                signed.page.locator("#queue-sort").select_option("-created_at")
                signed.page.locator("#queue-filter").click()
                signed.page.locator("#queue-rows tr").first.click()
                signed.page.wait_for_selector("#rank-table tbody tr")
            signed.page.wait_for_timeout(800)
            path = OUT / f"{view}.png"
            signed.page.screenshot(path=str(path))
            _shrink(path)
            print(path)
        if signed.errors:
            raise SystemExit(f"JavaScript errors: {signed.errors}")
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "opsmatch-console-shots")
    ap.add_argument("--ab-summary", type=Path, default=None)
    ap.add_argument("--url", default=None, help="A running service to shoot (no world is built).")
    ap.add_argument("--key-file", type=Path, default=None, help="The ops head's key file (with --url).")
    ap.add_argument("--views", default=",".join(VIEWS), help="Comma-separated views to shoot.")
    args = ap.parse_args()
    views = tuple(v for v in args.views.split(",") if v)
    if args.url is not None:
        if args.key_file is None:
            raise SystemExit("--url needs --key-file (e.g. data/keys/ops_head.key)")
        shoot(args.url, args.key_file.read_text().strip(), views)
        return
    world_root = args.work / f"world-{datetime.now(UTC):%Y%m%d}"  # a history that ends today
    if not (world_root / "data" / "events" / "events.db").exists():
        build_world(world_root, end=datetime.now(UTC))
    settings = world_settings(world_root)
    run = args.work / f"run-{uuid.uuid4().hex[:6]}"
    copied = event_admin.backup(settings, run / "events")  # the store's own backup (one SQLite library)
    state_url = f"sqlite:///{run / 'state.db'}"
    store = StateStore(state_url)
    key = KeyStore(store).create("ops-head-demo", "ops_head", by="screenshots")
    admin = KeyStore(store).create("admin-demo", "admin", by="screenshots")
    store.close()
    if args.ab_summary is not None:
        target = settings.data_dir / "reports" / f"evaluation-{settings.scenario}" / "summary.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.ab_summary, target)
    make_and_store(settings, replace(ForecastSpec(), horizon_days=3))  # the planning view's forecast
    env = launch.service_env(
        settings,
        world_root / "bentoml",
        OPSMATCH_EVENTS_URL=copied,
        OPSMATCH_STATE_DB_URL=state_url,
        OPSMATCH_SERVICE__MONITOR_SECONDS="5",
    )
    with launch.running(env, run / "serve.log") as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as api:
            _state(api, settings, events.read_table(settings, "workers")["worker_id"].astype(str).tolist())
        shoot(url, key, views)


if __name__ == "__main__":
    main()
