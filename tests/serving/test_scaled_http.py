"""The service at scale: a real PostgreSQL (events, service state, MLflow) and a real redis-server (online
features, rate limits), both started here, and ONE ``bentoml serve`` with two workers on them.

The two workers must behave as one service: the same answers; a raced transition gives one 200 and
one 409; a revoked key and a policy change count in both within 5 s; one rate bucket per key; the
receipts of one batch sent to both add up; exactly one monitor, taken over when its holder is killed.
The service is the Bento of this folder: ``bentoml build`` (bentofile.yaml), then ``bentoml serve <tag>``.
Every answer names its worker (``X-Opsmatch-Worker``); the checks poll until both workers answered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest

from opsmatch import events
from opsmatch.settings import PROJECT_ROOT
from serving.access.keys import KeyStore
from serving.runtime import launch
from serving.runtime.replica import HEADER, Lease
from serving.state.store import StateStore
from tests.factories.events import start_redis
from tests.factories.lifecycle_world import Live, new_task
from tests.factories.scaled_world import create_databases, scaled_world
from tests.factories.serving_world import TOKEN, World, wait_until
from tests.opsmatch.pg_server import postgres_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
STALE_AFTER = 5.0  # seconds: a revocation or a policy change counts in every worker after this
LEASE_SECONDS = 8.0
_ids = count(1)


@dataclass(frozen=True)
class Stack:
    live: Live
    url: str
    env: dict[str, str]
    store: StateStore  # the service state on PostgreSQL, as the workers share it
    tag: str  # the Bento the service is served from


@dataclass(frozen=True)
class Answer:
    status: int
    worker: str
    body: Any
    sent: float  # time.monotonic() when the request was sent


def call(url: str, method: str, path: str, key: str = TOKEN, **kw: Any) -> Answer:
    """One request on a fresh connection (so that either worker may take it)."""
    sent = time.monotonic()
    r = httpx.request(method, url + path, headers={"Authorization": f"Bearer {key}"}, timeout=60, **kw)
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
    return Answer(r.status_code, r.headers.get(HEADER, "?"), body, sent)


def from_both(ask: Callable[[], Answer], done: Callable[[Answer], bool], what: str) -> list[Answer]:
    """Ask until each of the two workers gave an answer that ``done`` accepts; every answer."""
    seen: list[Answer] = []

    def both() -> bool:
        seen.append(ask())
        return len({a.worker for a in seen if done(a)}) == 2

    wait_until(both, 90, 0.05, what=what)
    return seen


def together(n: int, ask: Callable[[], Answer]) -> list[Answer]:
    """``ask()`` from ``n`` threads released at the same instant; their answers."""
    go = threading.Barrier(n)
    out: list[Answer] = []

    def one() -> None:
        go.wait()
        out.append(ask())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def build_bento(bentoml_home: Path) -> subprocess.Popen:
    """``bentoml build`` of this folder (bentofile.yaml) into ``bentoml_home``, started (it runs while the
    stores are filled); :func:`built_tag` waits for it."""
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home)}
    cmd = [sys.executable, "-m", "bentoml", "build", "--output", "tag"]
    return subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def built_tag(build: subprocess.Popen) -> str:
    """The tag of the Bento ``build`` made (AssertionError with its output when it failed)."""
    out, _ = build.communicate(timeout=300)
    assert build.returncode == 0, out
    return out.strip().splitlines()[-1].removeprefix("__tag__:")


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory) -> Iterator[Stack]:  # noqa: ANN001
    root = tmp_path_factory.mktemp("scaled")
    build = build_bento(root / "bentoml")  # the env of `live.env` below uses this BentoML home
    redis_proc, redis_url = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        with postgres_server() as server:
            live = scaled_world(world, root, create_databases(server, "events", "state", "mlflow"), redis_url)
            env = live.env(
                BENTOML_CONFIG_OPTIONS="services.opsmatch.workers=2",
                OPSMATCH_SERVICE=json.dumps(
                    {
                        "monitor_seconds": 1,
                        "monitor_lease_seconds": LEASE_SECONDS,
                        "status_ttl_seconds": 2 * 86400,
                    }
                ),
                OPSMATCH_KEY_CACHE_SECONDS="2",
                OPSMATCH_RATE_LIMITS=json.dumps({"risk": {"per_second": 0.001, "burst": 4}}),
            )
            store = StateStore(live.settings.resolved_state_db_url)
            tag = built_tag(build)
            with launch.running(env, root / "serve.log", 300, target=tag) as url:
                from_both(lambda: call(url, "GET", "/readyz"), lambda a: a.status == 200, "both ready")
                put = call(url, "PUT", "/policy", json={"monitor": {"redispatch": False}})
                assert put.status == 200, put.body
                at = live.clock().isoformat()
                rows = [
                    {"worker_id": str(w), "at": at, "on_shift": True, "open_tasks": 0}
                    for w in live.workers["worker_id"]
                ]
                assert call(url, "POST", "/workers/status", json={"statuses": rows}).status == 200
                yield Stack(live, url, env, store, tag)
            store.close()
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)


def skilled(live: Live, task_type: str, province_id: str) -> str:
    w = live.workers
    has = w["skills"].map(lambda s: json.loads(s).get(task_type, 0) >= 1) & (w["province_id"] == province_id)
    return str(w.loc[has, "worker_id"].iloc[0])


def assigned_task(stack: Stack) -> tuple[str, str]:
    """A new task committed to a skilled worker: (task id, assignment id)."""
    tid = f"SC{next(_ids):05d}"
    got = call(stack.url, "POST", "/tasks", json={"tasks": [new_task(stack.live, tid, "P01", "renewal")]})
    assert got.status == 200, got.body
    worker = skilled(stack.live, "renewal", "P01")
    got = call(
        stack.url, "POST", "/assignments", json={"task_id": tid, "worker_id": worker, "source": "person"}
    )
    assert got.status == 200, got.body
    return tid, got.body["assignment_id"]


def test_the_service_is_served_from_its_bento(stack: Stack) -> None:
    assert stack.tag.startswith("opsmatch:")
    seen = from_both(lambda: call(stack.url, "GET", "/readyz"), lambda a: a.status == 200, "/readyz")
    assert all(a.status == 200 for a in seen)
    log = (stack.live.root / "serve.log").read_text(errors="replace")
    assert f'Starting production HTTP BentoServer from "{stack.tag}"' in log


def test_both_workers_give_the_same_answers(stack: Stack) -> None:
    tid, aid = assigned_task(stack)
    seen = from_both(lambda: call(stack.url, "GET", f"/tasks/{tid}"), lambda a: a.status == 200, "/tasks/id")
    same = {**seen[0].body, "hours_to_sla": 0}  # hours_to_sla is relative to the answer's now
    bodies = {a.worker: json.dumps({**a.body, "hours_to_sla": 0}, sort_keys=True) for a in seen}
    assert len(set(bodies.values())) == 1, bodies
    assert same["status"] == "assigned" and same["assignment_id"] == aid
    info = from_both(lambda: call(stack.url, "GET", "/info"), lambda a: a.status == 200, "/info")
    views = {(a.body["policy_version"], json.dumps(a.body["model_versions"])) for a in info}
    assert len(views) == 1 and info[0].body["state_store"].startswith("postgresql")


def test_a_raced_transition_gives_one_200_and_one_409(stack: Stack) -> None:
    across = 0
    # Which worker takes a connection is the kernel's choice (SO_REUSEPORT hashing): race until the two
    # racers landed on different workers twice; 8 rounds were not always enough on a loaded machine.
    for _ in range(40):
        tid, aid = assigned_task(stack)
        out = together(2, lambda a=aid: call(stack.url, "POST", f"/assignments/{a}/accept", json={}))
        assert sorted(a.status for a in out) == [200, 409], [a.body for a in out]
        lost = next(a for a in out if a.status == 409)
        assert lost.body["kind"] == "conflict" and lost.body["detail"][0]["msg"] == "accepted"
        accepts = [e for e in events.read_table(stack.live.settings, "task_events").itertuples()]
        assert sum(e.task_id == tid and e.kind == "accept" for e in accepts) == 1
        across += len({a.worker for a in out}) == 2
        if across >= 2:
            break
    assert across >= 2, "the racers never landed on both workers"


def test_revoked_key_and_policy_change_count_in_both_workers_within_5_s(stack: Stack) -> None:
    keys = KeyStore(stack.store)
    key = keys.create("scaled-revoked", "dispatcher", by="test")
    from_both(lambda: call(stack.url, "GET", "/info", key), lambda a: a.status == 200, "the key in both")
    keys.revoke("scaled-revoked", by="test")
    revoked = time.monotonic()
    seen = from_both(lambda: call(stack.url, "GET", "/info", key), lambda a: a.status == 401, "revoked")
    assert all(a.status == 401 for a in seen if a.sent > revoked + STALE_AFTER)
    assert {a.body["kind"] for a in seen if a.status == 401} == {"auth_revoked"}

    before = call(stack.url, "GET", "/policy").body["version"]
    put = call(stack.url, "PUT", "/policy", json={"weights": {"efficiency": 1.7}, "expected_version": before})
    assert put.status == 200, put.body
    changed = time.monotonic()
    seen = from_both(
        lambda: call(stack.url, "GET", "/info"), lambda a: a.body["policy_version"] == before + 1, "policy"
    )
    assert all(a.body["policy_version"] == before + 1 for a in seen if a.sent > changed + STALE_AFTER)


def test_rate_limits_are_shared_by_the_workers(stack: Stack) -> None:
    key = KeyStore(stack.store).create("scaled-limited", "risk", by="test")  # burst 4, ~0 refill
    seen = from_both(lambda: call(stack.url, "GET", "/info", key), lambda a: a.status == 429, "429 from both")
    assert [a.status for a in seen[:4]] == [200] * 4
    assert all(a.status == 429 and a.body["kind"] == "rate_limited" for a in seen[4:])


def test_receipts_of_one_batch_sent_to_both_workers_add_up(stack: Stack) -> None:
    done = events.read_table(stack.live.settings, "completions").tail(12)
    qa = [
        {
            "qa_id": f"SQ-{i}",
            "task_id": str(r.task_id),
            "worker_id": str(r.worker_id),
            "checked_at": (stack.live.clock() - timedelta(minutes=1)).isoformat(),
            "passed": True,
            "score": 90.0,
            "satisfaction": 5,
        }
        for i, r in enumerate(done.itertuples())
    ]
    out = together(4, lambda: call(stack.url, "POST", "/outcomes", json={"qa_results": qa}))
    assert all(a.status == 200 for a in out), [a.body for a in out]
    receipts = [a.body["tables"]["qa_results"] for a in out]
    assert all(r["received"] == 12 and r["new"] + r["duplicates"] == 12 for r in receipts), receipts
    assert sum(r["new"] for r in receipts) == 12, receipts
    stored = events.read_table(stack.live.settings, "qa_results")
    assert stored["qa_id"].isin([q["qa_id"] for q in qa]).sum() == 12


def _lease_gauges(stack: Stack, enough: Callable[[dict[str, tuple[int, int]]], bool]) -> dict:
    """worker -> (holds the monitor lease, monitor passes run), read from each worker's /metrics until
    ``enough`` of them were seen."""
    out: dict[str, tuple[int, int]] = {}

    def seen() -> bool:
        r = httpx.get(stack.url + "/metrics", timeout=30)
        mine = [line for line in r.text.splitlines() if line.startswith("opsmatch_monitor")]
        lines = dict(line.rsplit(" ", 1) for line in mine)
        held = next(int(float(v)) for k, v in lines.items() if k.startswith("opsmatch_monitor_lease{"))
        out[r.headers[HEADER]] = (held, int(float(lines["opsmatch_monitor_sweeps"])))
        return enough(out)

    wait_until(seen, 90, 0.05, what="/metrics of the workers")
    return out


def test_one_monitor_at_a_time_taken_over_when_its_holder_is_killed(stack: Stack) -> None:
    lease = Lease(stack.store, "monitor", LEASE_SECONDS, holder="test-observer")
    row = wait_until(lease.current, 30, what="a monitor lease")
    gauges = _lease_gauges(stack, lambda g: len(g) == 2)
    holders = [w for w, (held, _) in gauges.items() if held]
    assert len(holders) == 1 and row["holder"].startswith(holders[0] + ":"), (gauges, row)
    assert gauges[holders[0]][1] > 0  # the holder's monitor works ...
    assert all(passes == 0 for w, (_, passes) in gauges.items() if w != holders[0])  # ... the other's not
    observer = Lease(stack.store, "monitor", LEASE_SECONDS)
    assert not observer.acquire()  # nobody else gets it while the holder renews

    pid = int(holders[0].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    taken = wait_until(
        lambda: (r := lease.current()) is not None and not r["holder"].startswith(holders[0] + ":") and r,
        60,
        what="another worker to take the monitor lease over",
    )
    assert taken["term"] == row["term"] + 1
    new_holder = ":".join(taken["holder"].split(":")[:2])  # host:pid, as X-Opsmatch-Worker says
    _lease_gauges(stack, lambda g: g.get(new_holder, (0, 0))[0] == 1 and g[new_holder][1] > 0)
