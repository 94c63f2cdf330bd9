"""The ops head's audit list: people's actions apart from the systems' intake (one line per call)."""

from datetime import UTC, datetime, timedelta

from serving.state.store import INTAKE_ACTIONS, StateStore

T0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def test_people_s_actions_are_listed_without_the_intake_calls(tmp_path) -> None:  # noqa: ANN001
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    actions = ["tasks", "policy_update", "outcomes", "alert_ack", "worker_status", "contacts", "tasks"]
    for i, action in enumerate(actions):
        store.audit(action, "someone", None, {"i": i}, T0 + timedelta(minutes=i))
    people = store.audit_entries(exclude=INTAKE_ACTIONS)
    assert [e["action"] for e in people] == ["alert_ack", "policy_update"]  # newest first
    assert len(store.audit_entries()) == len(actions)  # everything, on request
    assert [e["action"] for e in store.audit_entries("tasks", exclude=INTAKE_ACTIONS)] == []
    store.close()
