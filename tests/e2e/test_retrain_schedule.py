"""``apps.retrain`` as a scheduler runs it: new data detection, the inter-process lock, atomic state."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from apps.retrain import (
    RetrainError,
    changes_since,
    lock_path,
    read_state,
    retrain,
    retrain_dir,
    state_path,
)
from opsmatch import events
from opsmatch.locking import FileLock, LockHeld
from tests.factories.fast import ENV, RUNNER_PRELUDE, fast_training
from tests.factories.loop_world import ROOT, make_world
from tests.factories.serving_world import wait_until
from training.specs import MODEL_NAMES

RUNNER = RUNNER_PRELUDE + (
    "import json, os; from apps.retrain import retrain; from opsmatch.settings import Settings; "
    "r = retrain(Settings(), force=True); "
    "print('REPORT ' + json.dumps({'status': r.status, 'message': r.message, 'pid': os.getpid()}))"
)


# -- fast, pure parts ----------------------------------------------------------------------------
def test_file_lock_is_exclusive_and_names_its_holder(tmp_path) -> None:
    path = tmp_path / "x.lock"
    with FileLock(path, purpose="test") as first:
        assert first.held
        with pytest.raises(LockHeld) as err:
            FileLock(path).acquire()  # another open file description: flock refuses it, even in-process
        assert err.value.pid == os.getpid() and err.value.holder["purpose"] == "test"
    with FileLock(path):  # released on exit
        pass
    assert path.read_text() == ""  # no stale holder record


def test_changes_ignore_live_status_and_count_new_rows() -> None:
    before = {"tables": {"tasks": {"sha256": "a", "rows": 10}, "worker_status": {"sha256": "s", "rows": 5}}}
    now = {"tasks": {"sha256": "a", "rows": 10}, "worker_status": {"sha256": "t", "rows": 9}}
    assert changes_since(before, now) == ([], {"worker_status": 4})
    now["qa_results"] = {"sha256": "q", "rows": 3}
    assert changes_since(before, now) == (["qa_results"], {"worker_status": 4, "qa_results": 3})
    assert changes_since({}, {"tasks": {"sha256": "a", "rows": 10}}) == (["tasks"], {"tasks": 10})


def test_empty_event_store_is_nothing_to_do(tmp_path) -> None:
    from tests.factories.loop_world import world_settings

    report = retrain(world_settings(tmp_path))
    assert report.status == "nothing_to_do" and "holds no tasks" in report.message
    assert not state_path(world_settings(tmp_path)).exists()


# -- on a small twin world -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def params_dir(tmp_path_factory):
    """The loop's behaviour is checked here, not the models' quality: fast parameters for the module's
    retrains (``fast_training``) and its child runs (``RUNNER_PRELUDE`` reads the folder from ``ENV``)."""
    with fast_training(tmp_path_factory.mktemp("fast-params")) as folder:
        yield folder


@pytest.fixture(scope="module")
def world(tmp_path_factory, params_dir):
    w = make_world(tmp_path_factory.mktemp("schedule"), days=40, new_days=0)
    first = retrain(w.settings)
    assert first.status == "retrained", first.lines()
    assert set(first.models) == set(MODEL_NAMES) and set(first.promoted) == set(MODEL_NAMES), first.lines()
    return w


@pytest.mark.slow
def test_nothing_new_is_nothing_to_do(world) -> None:
    state = state_path(world.settings).read_bytes()
    report = retrain(world.settings)
    assert report.status == "nothing_to_do", report.lines()
    assert report.message.startswith("nothing to do") and not report.models
    assert report.seconds["total"] < 30
    # live worker status streams in all day: on its own it is no reason to retrain
    status = events.read_table(world.settings.events_dir, "worker_status").tail(1).copy()
    status["at"] = status["at"] + pd.Timedelta(minutes=1)
    assert events.append_rows(world.settings.events_dir, "worker_status", status) == 1
    report = retrain(world.settings)
    assert report.status == "nothing_to_do" and report.new_rows == {"worker_status": 1}
    assert state_path(world.settings).read_bytes() == state  # untouched


@pytest.mark.slow
def test_two_concurrent_runs_one_retrains_the_other_reports_the_lock(world, params_dir) -> None:
    before = read_state(world.settings)
    history = (retrain_dir(world.settings) / "history.jsonl").read_text().splitlines()

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", RUNNER],
            cwd=ROOT,
            env={**world.env(), ENV: str(params_dir)},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    # The second run starts once the first holds the lock (its holder record is in the lock file), so
    # they overlap however fast this machine trains.
    first = start()
    held = lambda: first.poll() is not None or lock_path(world.settings).read_text(errors="replace")  # noqa: E731
    wait_until(lambda: lock_path(world.settings).exists() and held(), 300, 0.02, what="the first run's lock")
    assert first.poll() is None, "the first run ended before it was seen holding the lock"
    procs = [first, start()]
    outs = [p.communicate(timeout=300) for p in procs]
    reports = []
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        line = next(x for x in out.splitlines() if x.startswith("REPORT "))
        reports.append(json.loads(line.removeprefix("REPORT ")))
    statuses = sorted(r["status"] for r in reports)
    assert statuses == ["locked", "retrained"], reports
    winner = next(r for r in reports if r["status"] == "retrained")
    loser = next(r for r in reports if r["status"] == "locked")
    assert f"another retrain is running (pid {winner['pid']}" in loser["message"]
    after = read_state(world.settings)
    assert after["run"] != before["run"] and after["forced"] is True  # written once, by the winner
    lines = (retrain_dir(world.settings) / "history.jsonl").read_text().splitlines()
    assert len(lines) == len(history) + 1
    assert lock_path(world.settings).read_text() == ""  # released, no stale holder


@pytest.mark.slow
def test_a_failed_run_records_nothing_and_releases_the_lock(world, monkeypatch) -> None:
    import training.frames

    state = state_path(world.settings).read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(training.frames, "train_from_store", broken)
    with pytest.raises(RetrainError) as err:
        retrain(world.settings, force=True)
    assert err.value.stage == "train" and "disk full" in str(err.value)
    assert state_path(world.settings).read_bytes() == state
    with FileLock(lock_path(world.settings)):  # free again
        pass
    assert retrain(world.settings).status == "nothing_to_do"
