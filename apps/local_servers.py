"""Debian's PostgreSQL and Redis as local servers for the scaled stack (``opsmatch stack up``): each one
in its own folder, on a loopback port, started with the stack and stopped with it; the folders persist,
so a second start finds the same data.

PostgreSQL: ``initdb`` once (trust authentication on loopback, user ``postgres``), then ``postgres -D``;
as root both run as the ``postgres`` user, which Debian's package creates. Redis: ``redis-server`` with
an append-only file in its folder. MLflow: ``mlflow server`` on the PostgreSQL backend store, for its UI
(the product's own clients write to the backend store directly). Each server runs in its own session:
a terminal's Ctrl-C reaches the service first, and the stack stops the servers after it (the service's
shutdown still needs its stores).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    """A started server: its name, process, URL and log file."""

    name: str
    proc: subprocess.Popen
    url: str
    log: Path

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (PostgreSQL: smart shutdown; Redis: save and exit), SIGKILL after ``timeout``."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def binary(name: str) -> str:
    """A server program on PATH or in Debian's PostgreSQL folder; FileNotFoundError naming the package."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        package = "redis-server" if name.startswith("redis") else "postgresql"
        raise FileNotFoundError(f"{name} not found: apt-get install {package} (or `make system-deps`)")
    return found


def _as_postgres(folder: Path) -> list[str]:
    """The command prefix that runs PostgreSQL as ``postgres`` when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def _wait(proc: subprocess.Popen, port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"server on port {port} did not start:\n{log.read_text()[-3000:]}"
                ) from None
            time.sleep(0.2)


def start_postgres(folder: Path, port: int) -> Server:
    """PostgreSQL with its data in ``folder/data`` (``initdb`` the first time) on 127.0.0.1:``port``."""
    folder.mkdir(parents=True, exist_ok=True)
    data, log = folder / "data", folder / "postgres.log"
    prefix = _as_postgres(folder)
    if not (data / "PG_VERSION").exists():
        initdb = [binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        subprocess.run([*prefix, *initdb], check=True, capture_output=True)
    with open(log, "a") as out:  # the server keeps its own handle
        proc = subprocess.Popen(
            [
                *prefix,
                binary("postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(folder),
                "-h",
                "127.0.0.1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait(proc, port, log)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    _until_accepting(url, proc, log)
    return Server("postgresql", proc, url, log)


def _until_accepting(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:  # "the database system is starting up"
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL does not accept connections:\n{log.read_text()[-3000:]}"
                ) from None
            time.sleep(0.3)


def ensure_databases(server_url: str, *names: str) -> dict[str, str]:
    """The databases ``names`` on the server (created when missing); name -> URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        have = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in have:
                conn.execute(f'CREATE DATABASE "{name}"')
    base = server_url.rsplit("/", 1)[0]
    return {name: f"{base}/{name}" for name in names}


def start_redis(folder: Path, port: int) -> Server:
    """redis-server on 127.0.0.1:``port`` with an append-only file in ``folder``; URL ``host:port``."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "redis.log"
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--appendonly", "yes"]
    with open(log, "a") as out:
        proc = subprocess.Popen(
            [binary("redis-server"), *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    _wait(proc, port, log)
    return Server("redis", proc, f"127.0.0.1:{port}", log)


def start_mlflow(backend_uri: str, artifacts: Path, port: int, log: Path) -> Server:
    """``mlflow server`` (its UI) on ``backend_uri`` with ``artifacts`` as the default artifact root."""
    import sys

    args = ["--backend-store-uri", backend_uri, "--default-artifact-root", artifacts.resolve().as_uri()]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait(proc, port, log, timeout=120)
    return Server("mlflow", proc, f"http://127.0.0.1:{port}", log)
