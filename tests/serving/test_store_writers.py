"""Every writer of the event store at once, for real: ``opsmatch ingest`` in a subprocess loop, ``POST
/outcomes`` and ``POST /workers/status`` to a real ``bentoml serve``, and a thread appending directly.
Some keys are sent by two writers. Every row is stored exactly once, the "new" counts of all writers add
up to the rows stored, and sending everything again reports everything as already stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import bentoml
import pandas as pd
import pytest

from opsmatch import event_admin, events
from serving.runtime import launch
from tests.factories.serving_world import TOKEN, World, private_world
from tests.serving.store_writers import ingest_cli, qa_rows, status_rows, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """This module appends rows from every writer: it works on a private copy."""
    return private_world(world, tmp_path_factory.mktemp("store-writers-world"))


FILES, FILE_ROWS, POSTS, POST_ROWS, STATUS_POSTS = 4, 30, 12, 10, 8


@pytest.fixture(scope="module")
def served(world: World):  # noqa: ANN201
    env = world.env(OPSMATCH_SERVICE_POLICY_TTL_SECONDS="0")
    with launch.running(env, world.root / "writers.log") as url:
        yield url


def _run_all(jobs: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors


def test_concurrent_writers_store_every_row_exactly_once(served: str, world: World, tmp_path) -> None:
    files = [
        write_csv(tmp_path / f"qa_results_w{f}.csv", qa_rows(world, f"QW{f}", FILE_ROWS))
        for f in range(FILES)
    ]
    posts = [qa_rows(world, f"QP{b}", POST_ROWS) + qa_rows(world, f"QW{b % FILES}", 2) for b in range(POSTS)]
    status_posts = [status_rows(world, minute=m, n=5) for m in range(STATUS_POSTS)]
    own = [pd.DataFrame(status_rows(world, minute=m, n=7)) for m in range(STATUS_POSTS)]  # overlaps the posts
    reported = {"qa_results": 0, "worker_status": 0}
    lock = threading.Lock()

    def count(table: str, n: int) -> None:
        with lock:
            reported[table] += n

    def ingest_loop() -> None:
        for path in files:
            count("qa_results", ingest_cli(world, path)[0])

    def outcomes() -> None:
        with bentoml.SyncHTTPClient(served, server_ready_timeout=0, token=TOKEN) as c:
            for rows in posts:
                count("qa_results", c.outcomes({"qa_results": rows})["tables"]["qa_results"]["new"])

    def statuses() -> None:
        with bentoml.SyncHTTPClient(served, server_ready_timeout=0, token=TOKEN) as c:
            for rows in status_posts:
                count("worker_status", c.workers_status({"statuses": rows})["stored"])

    def direct() -> None:
        for frame in own:
            count("worker_status", events.append_rows(world.settings, "worker_status", frame))

    before = {t: events.row_count(world.settings, t) for t in reported}
    _run_all([ingest_loop, outcomes, statuses, direct])

    qa = events.read_table(world.settings, "qa_results")
    ours = qa[qa["qa_id"].str.startswith(("QW", "QP"))]
    assert len(ours) == FILES * FILE_ROWS + POSTS * POST_ROWS and not ours["qa_id"].duplicated().any()
    expected_status = len(pd.concat(own).drop_duplicates(["worker_id", "at"]))
    added = {t: events.row_count(world.settings, t) - before[t] for t in reported}
    assert added == {"qa_results": len(ours), "worker_status": expected_status}
    assert reported == added  # each row counted as new by exactly one writer
    event_admin.check(world.settings)

    # Everything again, from every writer: all already stored, nothing new.
    reported = {"qa_results": 0, "worker_status": 0}
    _run_all([ingest_loop, outcomes, statuses, direct])
    assert reported == {"qa_results": 0, "worker_status": 0}
    assert {t: events.row_count(world.settings, t) - before[t] for t in reported} == added
