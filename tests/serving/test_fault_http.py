"""Faults under a real ``bentoml serve`` with a real redis-server as the online store: the champion
files gone, then Redis stopped. /rank keeps answering with ``"fallback"`` (never 503 or 500), /readyz
stays ready, /info says ``degraded`` and /metrics counts the fallbacks; when the files and the store
come back, the service recovers by itself (no restart)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.push import push_worker_status
from features.store import apply_repo, build_store, materialize
from serving.runtime import launch
from tests.factories.events import start_redis
from tests.factories.serving_world import TOKEN, World, private_world, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _redis_again(workdir: Path, url: str) -> subprocess.Popen:
    """redis-server on the same port as before (an empty store: the operator re-materializes)."""
    _, _, port = url.rpartition(":")
    exe = shutil.which("redis-server")
    assert exe, "redis-server not installed (make test installs it)"
    args = ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    proc = subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=int(port))
    wait_until(lambda: _pings(client), 10, 0.05, what="redis-server to answer again")
    return proc


def _pings(client) -> bool:  # noqa: ANN001
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture(scope="module")
def faulty(world: World, tmp_path_factory):  # noqa: ANN001, ANN201
    """A private copy of the world with its own champion files (removed here), served from Redis."""
    world = private_world(world, tmp_path_factory.mktemp("fault-world"), own_artifacts=True)
    redis_dir = tmp_path_factory.mktemp("redis")
    proc, url = start_redis(redis_dir)
    settings = world.settings.model_copy(update={"feast_profile": "redis", "redis_url": url})
    apply_repo(settings)
    materialize(settings, incremental=False)
    state = {"redis": proc}
    try:
        yield world, settings, redis_dir, url, state
    finally:
        state["redis"].terminate()
        state["redis"].wait(10)


def _rank(url: str, body: dict) -> dict:
    r = httpx.post(f"{url}/rank", json=body, headers=HEADERS, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _info(url: str) -> dict:
    return httpx.get(f"{url}/info", headers=HEADERS, timeout=10).json()


def test_rank_falls_back_on_missing_champions_and_a_stopped_redis_then_recovers(faulty) -> None:  # noqa: ANN001
    world, settings, redis_dir, redis_url, state = faulty
    away = world.root / "artifacts-away"
    (world.root / "artifacts").rename(away)  # the champions' files are gone ...
    shutil.rmtree(settings.data_dir / "model_cache", ignore_errors=True)  # ... and so is the local cache
    env = world.env(
        OPSMATCH_FEAST_PROFILE="redis",
        OPSMATCH_REDIS_URL=redis_url,
        OPSMATCH_SERVICE__CHAMPION_POLL_SECONDS="2",
    )
    as_of = (world.as_of + timedelta(minutes=1)).isoformat()
    with launch.running(env, world.root / "serve.log", 240) as url:
        # Everybody on shift, and a task with a pool big enough for the models (the small-pool guard
        # is tested elsewhere).
        statuses = [
            {"worker_id": str(w), "at": as_of, "on_shift": True, "open_tasks": 0}
            for w in world.workers["worker_id"]
        ]
        r = httpx.post(f"{url}/workers/status", json={"statuses": statuses}, headers=HEADERS, timeout=60)
        assert r.status_code == 200, r.text
        ids = world.pending["task_id"].astype(str).head(40)
        task_id = max(ids, key=lambda t: _rank(url, {"task_id": t, "top_k": 1, "as_of": as_of})["eligible"])
        body = {"task_id": task_id, "top_k": 3, "as_of": as_of}
        # 1. No champion could load: ready (profiles are), rule ranking flagged, degraded, counted.
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        out = _rank(url, body)
        assert out["fallback"] == "model_unavailable" and len(out["workers"]) == 3
        assert out["model_versions"] == {}
        assert _info(url)["degraded"] == ["model_unavailable"]
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert 'opsmatch_fallbacks_total{endpoint="rank",reason="model_unavailable"}' in metrics

        # 2. The files come back: the champion poll loads them, the models rank again.
        away.rename(world.root / "artifacts")
        healthy = wait_until(
            lambda: (o := _rank(url, body))["fallback"] is None and o, 60, 1.0, what="models"
        )
        assert set(healthy["model_versions"]) == {"handling_time", "qa_pass", "complaint", "complaint_pre"}
        assert _info(url)["degraded"] == []

        # 3. Redis stops: the task comes from the event store, ranked by rules; still ready.
        state["redis"].terminate()
        state["redis"].wait(10)
        down = _rank(url, body)
        assert (
            down["fallback"] == "feature_store" and down["task_id"] == task_id and len(down["workers"]) == 3
        )
        inline = {
            "task": {
                "task_id": "FAULT-NEW",
                "task_type": down["task_type"],
                "province_id": down["province_id"],
                "created_at": as_of,
                "sla_due_at": (world.as_of + timedelta(hours=6)).isoformat(),
            },
            "top_k": 2,
            "as_of": as_of,
        }
        assert _rank(url, inline)["fallback"] == "feature_store"
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        assert "feature_store" in _info(url)["degraded"]
        r = httpx.post(
            f"{url}/risk", json={"task_ids": [task_id], "as_of": as_of}, headers=HEADERS, timeout=30
        )
        assert r.status_code == 503 and r.json()["kind"] == "feature_store"  # no rule form of risk: retry
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert 'opsmatch_fallbacks_total{endpoint="rank",reason="feature_store"}' in metrics

        # 4. Redis comes back (re-materialized): the next request is served by the models again.
        state["redis"] = _redis_again(redis_dir, redis_url)
        materialize(settings, incremental=False)
        # The store came back empty and was rebuilt from the offline tables; the statuses posted above went
        # to the online store only, so the status feed pushes them again (as the live systems keep doing).
        push_worker_status(build_store(settings), pd.DataFrame(statuses).assign(at=pd.Timestamp(as_of)))
        back = wait_until(lambda: (o := _rank(url, body))["fallback"] is None and o, 60, 1.0, what="recovery")
        assert [w["worker_id"] for w in back["workers"]] == [w["worker_id"] for w in healthy["workers"]]
        assert _info(url)["degraded"] == []
