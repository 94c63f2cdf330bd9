"""``opsmatch demo``: the service in the foreground, the slow and the recurring work beside it.

The service starts first and answers ``/readyz`` as soon as its models and profiles are loaded; only then
do the background jobs start: the twin A/B report when it is missing (minutes of replays; its path is
printed when it is written) and the retrain loop on a schedule (its own lock makes overlaps safe). One
Ctrl-C (or SIGTERM) stops the service and every job, each in its own process group.

The demo clock (``OPSMATCH_CLOCK=demo``, ``make run``'s) is chosen here, once per process, by
:func:`with_clock`, and handed to the service and every job through the environment
(:func:`clock_env`), so they all read the same "now".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from opsmatch.settings import PROJECT_ROOT, Settings

CLI = (sys.executable, "-m", "apps")


@dataclass
class Job:
    """A background command: run once (``every_seconds`` None) or again every ``every_seconds``."""

    name: str
    argv: Sequence[str]
    log_path: Path
    every_seconds: float | None = None
    first_delay: float = 0.0
    done_message: str = ""
    waits_for: Job | None = None  # a one-shot job that must have finished first (e.g. the first champions)
    proc: subprocess.Popen | None = field(default=None, repr=False)
    next_start: float = 0.0
    runs: int = 0

    def due(self, now: float) -> bool:
        """Whether the job should start now (never while it runs, once only when not recurring)."""
        if self.proc is not None:
            return False
        if self.waits_for is not None and (self.waits_for.runs == 0 or self.waits_for.proc is not None):
            return False
        return (self.runs == 0 or self.every_seconds is not None) and now >= self.next_start


def with_clock(settings: Settings, wall: datetime | None = None) -> Settings:
    """``settings`` with the demo clock chosen (``OPSMATCH_CLOCK=demo`` without an anchor): it reads
    a past working-day morning now (``opsmatch.clock.demo_start``, never before the store's newest
    event) and never passes the wall clock. Other settings are returned as they are."""
    if settings.clock != "demo" or settings.clock_anchor is not None:
        return settings
    from opsmatch.clock import demo_clock
    from simulator.catchup import last_activity

    last = last_activity(settings)
    at = wall or datetime.now(UTC)
    clock = demo_clock(at, None if last is None else last.to_pydatetime(), settings.clock_speed)
    return settings.model_copy(update={"clock_anchor": clock.anchor, "clock_start": clock.start})


def clock_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same clock as ``settings``."""
    env = {"OPSMATCH_CLOCK": settings.clock, "OPSMATCH_CLOCK_SPEED": f"{settings.clock_speed:g}"}
    for name in ("clock_anchor", "clock_start"):
        value = getattr(settings, name)
        if value is not None:
            env[f"OPSMATCH_{name.upper()}"] = value.isoformat()
    return env


def cli(*args: str) -> list[str]:
    """The ``opsmatch`` command line for ``args`` in this interpreter."""
    return [*CLI, *args]


def _spawn(argv: Sequence[str], log_path: Path | None) -> subprocess.Popen:
    out = open(log_path, "a") if log_path is not None else None  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        list(argv),
        cwd=PROJECT_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT if out is not None else None,
        start_new_session=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )


def _stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def supervise(
    service_argv: Sequence[str],
    ready: Callable[[subprocess.Popen], None],
    jobs: Sequence[Job],
    say: Callable[[str], None],
    *,
    poll_seconds: float = 1.0,
) -> int:
    """Run the service, then the jobs once it is ready; returns the service's exit code."""
    service = _spawn(service_argv, None)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ready(service)
        started = time.monotonic()
        for job in jobs:
            job.next_start = started + job.first_delay
        while not stopping and service.poll() is None:
            now = time.monotonic()
            for job in jobs:
                if job.proc is not None and job.proc.poll() is not None:
                    code = job.proc.returncode
                    say(
                        f"{job.name}: {'done' if code == 0 else f'failed (exit {code})'}"
                        f"{' - ' + job.done_message if code == 0 and job.done_message else ''}"
                        f" (log {job.log_path})"
                    )
                    job.proc = None
                    if job.every_seconds is not None:
                        job.next_start = now + job.every_seconds
                if job.due(now):
                    job.runs += 1
                    job.proc = _spawn(job.argv, job.log_path)
                    say(f"{job.name}: started in the background (log {job.log_path})")
            time.sleep(poll_seconds)
    finally:
        for job in jobs:
            if job.proc is not None:
                _stop(job.proc)
        _stop(service)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return service.returncode or 0
