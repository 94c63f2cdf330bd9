"""Run ``bentoml serve serving.http.service:OpsMatch`` as a child process: the command, a free loopback
port, the environment of a service on given settings, start, wait until it answers, stop.

Used by ``opsmatch serve`` (the command line only) and by the tests and benchmarks that need a real
server; the child runs in its own process group so that stopping it also stops BentoML's workers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opsmatch.settings import PROJECT_ROOT, Settings

SERVICE = "serving.http.service:OpsMatch"
SCALE_SETTINGS = ("events_url", "state_db_url", "feast_profile", "redis_url", "rate_limit_url")


def serve_command(host: str = "127.0.0.1", port: int = 3000, target: str = SERVICE) -> list[str]:
    """The ``bentoml serve`` command line of the service (run it from ``PROJECT_ROOT``); ``target``: the
    service's import path, or a built Bento's tag (``opsmatch:latest``)."""
    return [sys.executable, "-m", "bentoml", "serve", target, "--host", host, "--port", str(port)]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def service_env(settings: Settings, bentoml_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment plus the ``OPSMATCH_*`` settings of a service on ``settings``
    (data dir, MLflow store, token, the stores at scale when set), its own ``BENTOML_HOME`` and
    ``extra`` variables."""
    env = {
        **os.environ,
        "OPSMATCH_DATA_DIR": str(settings.data_dir),
        "OPSMATCH_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "OPSMATCH_MLFLOW_ARTIFACT_ROOT": str(settings.mlflow_artifact_root),
        "OMP_WAIT_POLICY": "PASSIVE",
        "BENTOML_HOME": str(bentoml_home),
        **extra,
    }
    for name in SCALE_SETTINGS:  # the engines at scale, when set (PostgreSQL, Redis)
        if getattr(settings, name) != type(settings).model_fields[name].default:
            env[f"OPSMATCH_{name.upper()}"] = str(getattr(settings, name))
    if settings.service:
        env["OPSMATCH_SERVICE"] = json.dumps(settings.service)
    if settings.api_token is not None:
        env["OPSMATCH_API_TOKEN"] = settings.api_token.get_secret_value()
    return env


def start(
    env: dict[str, str], port: int, log_path: Path, host: str = "127.0.0.1", target: str = SERVICE
) -> subprocess.Popen:
    """Start the service (or the Bento ``target``) in its own process group, output to ``log_path``."""
    with open(log_path, "w") as log:  # the child keeps its own handle
        return subprocess.Popen(
            serve_command(host, port, target),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _tail(log_path: Path | None, chars: int = 4000) -> str:
    if log_path is None or not log_path.exists():
        return ""
    return log_path.read_text(errors="replace")[-chars:]


def wait_ready(
    proc: subprocess.Popen,
    url: str,
    timeout: float,
    *,
    path: str = "/readyz",
    log_path: Path | None = None,
) -> None:
    """Poll ``url + path`` until it answers 200 (``/livez`` for alive, ``/readyz`` for ready);
    RuntimeError with the log's tail when the process exits or ``timeout`` seconds pass."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"bentoml serve: no 200 on {path} after {timeout:.0f} s:\n{_tail(log_path)}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the service's process group, SIGKILL it when it has not exited after ``timeout``."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # also when the leader exited: its workers may remain
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def running(
    env: dict[str, str],
    log_path: Path,
    timeout: float = 180.0,
    *,
    path: str = "/readyz",
    target: str = SERVICE,
) -> Iterator[str]:
    """The service (or the Bento ``target``) on a free loopback port for the ``with`` block; yields its
    URL once ``path`` answers."""
    port = free_port()
    proc = start(env, port, log_path, target=target)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(proc, url, timeout, path=path, log_path=log_path)
        yield url
    finally:
        stop(proc)
