"""One of several service workers or replicas on one store: who this worker is, and the monitor's lease.

Every worker answers with the header ``X-Opsmatch-Worker`` (host and process id), so a client or a
test can tell which worker said what. Work that must run once for the whole service (the monitor's
re-dispatch passes) runs only in the worker holding the lease row ``service_leases[name]`` of the
state store: a worker takes the row when it is free or expired, renews it every ``ttl / 3`` seconds
from its own thread (:meth:`Lease.keep`), and releases it on shutdown. A holder that dies stops
renewing, so another worker takes over once the row has expired (``ttl`` seconds), or at once when the
holder was a process of the same host and PID namespace that no longer exists (a killed worker).
Portable SQL: an UPDATE guarded by holder/expiry, else an INSERT that the primary key lets only one
writer win; the same code on SQLite and PostgreSQL. Expiry is wall-clock time (``time.time``) of the workers'
machines, which must agree to well under ``ttl``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from serving.state.store import StateStore, metadata

log = logging.getLogger("opsmatch.serving")
HEADER = "x-opsmatch-worker"

service_leases = sa.Table(
    "service_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Float(precision=53), nullable=False),  # epoch seconds (wall clock)
    sa.Column("acquired_at", sa.Float(precision=53), nullable=False),
    sa.Column("term", sa.Integer, nullable=False),  # how many times the lease changed hands
)


def _pid_space() -> str:
    """This process's PID namespace (Linux), so that a PID is only judged inside its own namespace."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def worker_id() -> str:
    """This worker process, as ``host:pid`` (the pid is the process a supervisor or a test can signal)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """The lease ``name`` in the state store, held by this process while it renews it."""

    def __init__(
        self,
        store: StateStore,
        name: str,
        ttl: float,
        *,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = store.engine
        self.name, self.ttl, self.clock = name, ttl, clock
        self.holder = holder or f"{worker_id()}:{_pid_space()}:{uuid.uuid4().hex[:8]}"
        self.holding = False  # as of this process's last acquire
        service_leases.create(self.engine, checkfirst=True)

    def acquire(self) -> bool:
        """Take or renew the lease for ``ttl`` seconds; False while another live holder has it."""
        self.holding = self._take()
        return self.holding

    def _take(self) -> bool:
        now = self.clock()
        t = service_leases.c
        try:
            if self._update(sa.or_(t.holder == self.holder, t.expires_at < now), now):
                return True
            dead = self._dead_holder()
            if dead is not None and self._update(t.holder == dead, now):
                log.info("lease %s: taken over from %s, a process of this host that is gone", self.name, dead)
                return True
            with self.engine.begin() as conn:
                conn.execute(
                    service_leases.insert().values(
                        name=self.name, holder=self.holder, expires_at=now + self.ttl, acquired_at=now, term=1
                    )
                )
            return True
        except IntegrityError:  # another worker inserted the row first
            return False
        except OperationalError:  # the store is unreachable: hold nothing rather than risk two monitors
            log.warning("lease %s: state store unreachable; not holding it", self.name, exc_info=True)
            return False

    def _update(self, free: Any, now: float) -> bool:
        """Take the row where ``free`` holds (renewal keeps ``acquired_at`` and the term); True if taken."""
        t = service_leases.c
        mine = t.holder == self.holder
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    service_leases.update()
                    .where(t.name == self.name, free)
                    .values(
                        expires_at=now + self.ttl,
                        acquired_at=sa.case((mine, t.acquired_at), else_=now),
                        term=sa.case((mine, t.term), else_=t.term + 1),
                        holder=self.holder,
                    )
                ).rowcount
            )

    def _dead_holder(self) -> str | None:
        """The holder when it is a process of this host and PID namespace that no longer exists (killed:
        taken over at once rather than after ``ttl``); None otherwise."""
        row = self.current()
        if row is None or row["holder"] == self.holder:
            return None
        host, pid, space, *_ = (row["holder"].split(":") + ["", "", ""])[:3]
        if f"{host}:{space}" != f"{socket.gethostname()}:{_pid_space()}" or not pid.isdigit() or not space:
            return None
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return str(row["holder"])
        except PermissionError:  # alive, another user's
            return None
        return None

    def keep(self, stop: threading.Event) -> None:
        """Take or renew the lease every ``ttl / 3`` seconds until ``stop`` is set, then release it: the
        lease is held apart from the work it guards, so a long pass does not let it lapse."""
        while True:
            self.acquire()
            if stop.wait(self.ttl / 3):
                break
        self.release()

    def release(self) -> None:
        """Give the lease up (a graceful stop hands over at once instead of after ``ttl``)."""
        self.holding = False
        t = service_leases.c
        try:
            with self.engine.begin() as conn:
                conn.execute(service_leases.delete().where(t.name == self.name, t.holder == self.holder))
        except OperationalError:
            log.warning("lease %s: not released (state store unreachable)", self.name)

    def current(self) -> dict[str, Any] | None:
        """The lease row (holder, expires_at, acquired_at, term), or None when nobody holds it."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(service_leases).where(service_leases.c.name == self.name))
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    def held(self) -> bool:
        """This process holds the lease now (as of the store)."""
        row = self.current()
        return row is not None and row["holder"] == self.holder and row["expires_at"] > self.clock()


def lease_lines(lease: Lease) -> list[str]:
    """Prometheus lines: whether this worker holds ``lease`` (``worker`` label: this process)."""
    name = f"opsmatch_{lease.name}_lease"
    return [
        f"# HELP {name} 1 when this worker holds the {lease.name} lease (its work runs here only).",
        f"# TYPE {name} gauge",
        f'{name}{{worker="{worker_id()}"}} {int(lease.holding)}',
    ]


class WorkerHeader:
    """ASGI middleware: every HTTP response names the worker that produced it (``X-Opsmatch-Worker``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.value = worker_id().encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (HEADER.encode(), self.value)]}
            await send(message)

        await self.app(scope, receive, named)
