"""SIGKILL writers of the event store at random points, 24 times: a raw append loop (12), ``opsmatch
ingest`` in the middle of a file (8) and the service's worker in the middle of ``POST /outcomes`` (4).
After each kill the store opens and is sound, every acknowledged row is there once, a batch is there
whole or not at all, and re-sending what was not acknowledged creates no duplicates.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from itertools import count
from pathlib import Path

import bentoml
import pandas as pd
import pytest

from opsmatch import event_admin, events
from opsmatch.settings import PROJECT_ROOT, Settings
from serving.runtime import launch
from tests import factories
from tests.factories.serving_world import TOKEN, World, private_world, wait_until
from tests.serving.store_writers import OPSMATCH, qa_rows, service_workers, start_append_loop

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BATCH = 20  # rows per append of the raw loop
KILLS = 4  # of the service's worker, each while it answers POST /outcomes


@pytest.fixture(scope="module")
def world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """This module appends rows while its writers are killed: it works on a private copy."""
    return private_world(world, tmp_path_factory.mktemp("store-crash-world"))


def test_append_loop_killed_at_random_points(tmp_path) -> None:
    rng = random.Random(11)
    where = events.store_url(tmp_path / "events")
    acked: set[int] = set()
    resend: list[int] = []
    for k in range(12):
        start = k * 1000
        proc = start_append_loop(where, "K", start, start + 1000)
        lines: list[str] = []
        reader = threading.Thread(target=_collect, args=(proc, lines))
        reader.start()
        wait_until(lambda got=lines: got, 120, interval=0.02, what="the first acknowledged append")
        time.sleep(rng.uniform(0.0, 0.4))  # then kill it at a random point of its loop
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)
        mine = {int(line.split()[1]) for line in lines if line.startswith("ACK ") and line.endswith("\n")}
        acked |= mine
        resend += [i for i in range(start, max(mine) + 3) if i not in mine]  # the one in flight, and more
        event_admin.check(where)  # opens, integrity ok, keys unique
        stored = events.read_table(where, "worker_status")
        per_batch = stored["worker_id"].str.extract(r"^K(\d+)-")[0].astype(int).value_counts()
        assert set(per_batch) <= {BATCH}  # never a partial batch
        assert acked <= set(per_batch.index)  # every acknowledged batch is there
    t0 = pd.Timestamp("2020-01-01", tz="UTC")
    for i in resend:  # re-send what was not acknowledged (some may have committed before the kill)
        rows = pd.DataFrame(
            {"worker_id": [f"K{i}-{j}" for j in range(BATCH)], "at": t0, "on_shift": True, "open_tasks": i}
        )
        events.append_rows(where, "worker_status", rows)
    stored = events.read_table(where, "worker_status")
    assert not stored.duplicated(["worker_id", "at"]).any()
    assert len(stored) == BATCH * (len(acked) + len(resend))
    event_admin.check(where)


def _collect(proc: subprocess.Popen, lines: list[str]) -> None:
    lines.extend(iter(proc.stdout.readline, ""))


def test_ingest_killed_in_the_middle_of_a_file(tmp_path) -> None:
    rng = random.Random(5)
    settings = Settings(data_dir=tmp_path / "data")
    tables = factories.event_tables()
    for name in ("provinces", "workers", "customers", "tasks", "completions"):
        events.append_rows(settings, name, tables[name])
    qa = tables["qa_results"]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = {**os.environ, "OPSMATCH_DATA_DIR": str(settings.data_dir)}

    def qa_file(k: int | str) -> Path:
        big = pd.concat([qa] * 500, ignore_index=True)
        big["qa_id"] = [f"I{k}-{i}" for i in range(len(big))]
        path = inbox / f"qa_results_{k}.csv"
        factories.to_csv_frame(big).to_csv(path, index=False)
        paths.append((path, len(big)))
        return path

    def ingest(path: Path) -> subprocess.Popen:
        argv = [OPSMATCH, "ingest", str(path)]
        return subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)

    paths: list[tuple[Path, int]] = []
    # One file ingested whole first: how long a run takes on this machine, so that the kills below fall
    # at random points of a run (start-up, parse, append) on a fast machine and a slow one alike.
    started = time.monotonic()
    assert ingest(qa_file("R")).wait(timeout=300) == 0
    run_seconds = time.monotonic() - started
    for k in range(8):
        path = qa_file(k)
        proc = ingest(path)
        time.sleep(rng.uniform(0.0, run_seconds))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        event_admin.check(settings)
        stored = events.read_table(settings, "qa_results")
        mine = stored["qa_id"].str.startswith(f"I{k}-").sum()
        assert mine in (0, paths[-1][1])  # one file is one append: whole or nothing
    done = subprocess.run(
        [OPSMATCH, "ingest", str(inbox)], env=env, cwd=PROJECT_ROOT, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stdout
    stored = events.read_table(settings, "qa_results")
    assert len(stored) == sum(n for _, n in paths) and not stored["qa_id"].duplicated().any()


def test_service_killed_in_the_middle_of_requests(world: World) -> None:
    rng = random.Random(3)
    env = world.env(OPSMATCH_SERVICE_POLICY_TTL_SECONDS="0")
    acked: set[int] = set()
    sent = count()  # batch numbers, as many as the run needs (a dead worker's refusals use some up)
    stop = threading.Event()

    def poster(url: str) -> None:
        with bentoml.SyncHTTPClient(url, server_ready_timeout=0, token=TOKEN, timeout=30) as c:
            while not stop.is_set():
                b = next(sent)
                try:
                    c.outcomes({"qa_results": _batch(world, b)})
                except Exception:  # noqa: BLE001 - the worker died under this request: not acknowledged
                    time.sleep(0.2)
                    continue
                acked.add(b)

    port = launch.free_port()
    log = world.root / "crash.log"
    proc = launch.start(env, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        launch.wait_ready(proc, url, 180, path="/livez", log_path=log)  # /outcomes needs no model
        thread = threading.Thread(target=poster, args=(url,))
        thread.start()
        for _ in range(KILLS):
            # the worker (first or restarted) is serving: it acknowledged a request since the last kill
            seen = len(acked)
            wait_until(lambda n=seen: len(acked) > n, 180, interval=0.05, what="an acknowledged request")
            time.sleep(rng.uniform(0.2, 1.5))  # then kill it at a random point of the request stream
            for w in service_workers(proc):
                w.send_signal(signal.SIGKILL)
            event_admin.check(world.settings)
        seen = len(acked)
        wait_until(lambda: len(acked) > seen, 180, interval=0.05, what="the worker back")
        stop.set()
        thread.join(timeout=120)
        stored = set(events.read_table(world.settings, "qa_results")["qa_id"])
        assert {f"QK{b}-{i}" for b in acked for i in range(10)} <= stored
        with bentoml.SyncHTTPClient(url, server_ready_timeout=0, token=TOKEN) as c:
            for b in range(max(acked) + 1):
                if b not in acked:
                    c.outcomes({"qa_results": _batch(world, b)})
    finally:
        launch.stop(proc)
    qa = events.read_table(world.settings, "qa_results")
    ours = qa[qa["qa_id"].str.startswith("QK")]
    assert not ours["qa_id"].duplicated().any()
    assert set(ours["qa_id"]) >= {f"QK{b}-{i}" for b in range(max(acked) + 1) for i in range(10)}
    event_admin.check(world.settings)


def _batch(world: World, b: int) -> list[dict]:
    """Batch ``b`` of the posted QA results: 10 rows with ids ``QK<b>-<i>``."""
    return qa_rows(world, f"QK{b}", 10)
