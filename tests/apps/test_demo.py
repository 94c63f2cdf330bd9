"""The demo supervisor: service first, jobs once it is ready, everything stopped by one signal."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx

from apps.demo import Job, supervise
from serving.runtime.launch import free_port

SERVER = (
    "import http.server as h, sys; "
    "h.test(HandlerClass=h.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind='127.0.0.1')"
)


def test_jobs_start_after_ready_and_one_signal_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    once = Job("once", [sys.executable, "-c", "print('report written')"], tmp_path / "once.log")
    again = Job("again", [sys.executable, "-c", "print('tick')"], tmp_path / "again.log", every_seconds=0.2)
    said: list[str] = []
    seen: dict[str, object] = {}

    def ready(service) -> None:  # noqa: ANN001
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the fake service never answered"
                time.sleep(0.1)
        seen["service"] = service
        assert not (tmp_path / "once.log").exists()  # nothing started before the service was ready

    def stop_when_done() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (again.runs < 3 or once.runs < 1 or once.proc is not None):
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_done, daemon=True).start()
    supervise([sys.executable, "-c", SERVER, str(port)], ready, [once, again], said.append, poll_seconds=0.05)

    assert once.runs == 1 and again.runs >= 3  # once only, and again on its period
    assert "report written" in (tmp_path / "once.log").read_text()
    assert any(line.startswith("once: done") for line in said)
    service = seen["service"]
    assert service.poll() is not None  # the service was stopped with the supervisor
    try:
        httpx.get(url, timeout=1)
        raise AssertionError("the service still answers after the stop")
    except httpx.HTTPError:
        pass


def test_a_job_that_waits_for_another_starts_only_after_it_finished(tmp_path: Path) -> None:
    port = free_port()
    stamp = (
        "import time, sys; open(sys.argv[1], 'a').write(f'{time.monotonic()}\\n'); "
        "time.sleep(float(sys.argv[2]))"
    )
    first = Job("first", [sys.executable, "-c", stamp, str(tmp_path / "first"), "0.6"], tmp_path / "f.log")
    later = Job(
        "later",
        [sys.executable, "-c", stamp, str(tmp_path / "later"), "0"],
        tmp_path / "l.log",
        waits_for=first,
    )
    said: list[str] = []

    def ready(service) -> None:  # noqa: ANN001
        time.sleep(0.2)

    def stop_when_done() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (later.runs and later.proc is None):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_done, daemon=True).start()
    supervise(
        [sys.executable, "-c", SERVER, str(port)], ready, [later, first], said.append, poll_seconds=0.05
    )
    started_first = float((tmp_path / "first").read_text())
    started_later = float((tmp_path / "later").read_text())
    assert started_later - started_first >= 0.6  # not before the first had run its 0.6 s
    names = [line.split(":")[0] for line in said if "started" in line]
    assert names == ["first", "later"] and any(line.startswith("first: done") for line in said)
