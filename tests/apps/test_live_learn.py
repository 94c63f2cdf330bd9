"""The twin learns the facts of tasks it did not create from one ``GET /tasks`` listing, not a call each."""

from types import SimpleNamespace

import pandas as pd

from apps.live import LivePlayer

ROW = {
    "task_id": "T0379026",
    "status": "assigned",
    "task_type": "policy_change",
    "province_id": "P28",
    "customer_id": "C004242",
    "created_at": "2026-12-02T09:22:30Z",
    "sla_due_at": "2026-12-03T09:22:30Z",
    "complexity": 4,
    "channel": "branch",
    "amount": 4597.07,
    "assignment_id": "A1",
    "worker_id": "W0001",
}


def test_a_backlog_assignment_is_offered_with_the_facts_of_the_listing() -> None:
    player = LivePlayer.__new__(LivePlayer)  # no world, no service: the client records its calls
    calls: list[tuple[str, str]] = []

    def call(method: str, path: str, role: str, body=None, params=None, timeout=None):  # noqa: ANN001, ANN202
        calls.append((method, path))
        if path == "/assign":
            made = {"assignment_id": "A1", "task_id": "T0379026", "worker_id": "W0001"}
            return 200, {"assignments": [made]}
        return 200, {"tasks": [ROW, {"task_id": "T2", "status": "assigned"}]}  # a row without facts: skipped

    offered: list[tuple[str, str]] = []
    player.client = SimpleNamespace(call=call)  # type: ignore[assignment]
    player.options = SimpleNamespace(mode="assign")  # type: ignore[assignment]
    player.facts, player.traits = {}, pd.DataFrame()
    player.counts = {"assigned": 0}
    player.world = SimpleNamespace(  # type: ignore[assignment]
        knows=lambda _a: False, offer=lambda a, facts, w, now: offered.append((a, facts.task_type))
    )
    player.dispatch(pd.Timestamp("2026-12-04T02:00Z").to_pydatetime())
    assert offered == [("A1", "policy_change")]
    assert calls == [("POST", "/assign"), ("GET", "/tasks")]  # no GET /tasks/{id}
    assert set(player.facts) == {"T0379026"}
