"""Two workers on one state store (SQLite here; PostgreSQL in test_scaled_http.py): the monitor lease
goes to one holder, is taken over only once it expires, and is handed over at once when released;
the arrival score stored first is the one every worker reports."""

from __future__ import annotations

from datetime import UTC, datetime

from serving.risk.arrival import ArrivalRisk
from serving.runtime.replica import Lease
from serving.state.store import StateStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_until_it_stops_renewing_then_another_takes_over(tmp_path) -> None:  # noqa: ANN001
    store, clock = StateStore(f"sqlite:///{tmp_path / 'state.db'}"), Clock()
    a = Lease(store, "monitor", 10.0, holder="a", clock=clock)
    b = Lease(store, "monitor", 10.0, holder="b", clock=clock)
    assert a.acquire() and not b.acquire()
    clock.now += 9.0
    assert a.acquire() and not b.acquire()  # renewed: another 10 s from now
    clock.now += 9.0
    assert not b.acquire() and a.held()
    clock.now += 1.5  # a stopped renewing 10.5 s ago: expired
    assert b.acquire() and not a.acquire()
    assert b.current()["term"] == 2 and not a.held() and not a.holding
    b.release()
    assert b.current() is None and a.acquire() and a.current()["term"] == 1
    store.close()


def test_the_first_stored_arrival_score_is_the_one_reported(tmp_path) -> None:  # noqa: ANN001
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    first, second = ArrivalRisk(store), ArrivalRisk(store)
    at = datetime(2026, 12, 6, 9, tzinfo=UTC)
    assert first.record({"T1": 0.2}, at) == {"T1": 0.2}
    assert second.record({"T1": 0.7, "T2": 0.4}, at) == {"T1": 0.2, "T2": 0.4}
    assert second.lookup(["T1", "T2", "T3"]) == {"T1": 0.2, "T2": 0.4}
    store.close()


def test_a_killed_holder_of_this_host_is_taken_over_at_once(tmp_path) -> None:  # noqa: ANN001
    import socket
    import subprocess
    import sys

    from serving.runtime.replica import _pid_space

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # exited and reaped: its pid names no process now
    store, clock = StateStore(f"sqlite:///{tmp_path / 'state.db'}"), Clock()
    here = f"{socket.gethostname()}:{gone.pid}:{_pid_space()}:dead"
    elsewhere = f"other-host:{gone.pid}:{_pid_space()}:alive"
    assert Lease(store, "monitor", 60.0, holder=elsewhere, clock=clock).acquire()
    me = Lease(store, "monitor", 60.0, holder="me", clock=clock)
    assert not me.acquire()  # another host's holder: only its expiry frees the lease
    store.close()
    store = StateStore(f"sqlite:///{tmp_path / 'other.db'}")
    assert Lease(store, "monitor", 60.0, holder=here, clock=clock).acquire()
    me = Lease(store, "monitor", 60.0, holder="me", clock=clock)
    assert me.acquire() and me.current()["term"] == 2  # the dead holder's lease, before its expiry
    store.close()
