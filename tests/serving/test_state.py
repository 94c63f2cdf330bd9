"""The durable state store: policy versions and audit, alerts across re-opens."""

from __future__ import annotations

from serving.alerts.rules import Alert
from serving.config import default_policy, merge_policy, policy_diff
from serving.state.store import ConflictError, StateStore
from tests.factories.fakes import NOW


def test_alerts_and_acks_persist_across_reopen(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore(url)
    alert = Alert("sla_overdue", "critical", "T1", "task T1 overdue", "P01", {"hours_to_sla": -1.0})
    assert store.upsert_alerts([alert, Alert("high_risk", "warning", "T2", "risky", "P02")], NOW) == 2
    (incident,) = store.list_alerts(NOW, kind="sla_overdue")
    store.ack_alert(incident["id"], actor="risk-1", note="on it", at=NOW)
    store.close()

    again = StateStore(url)
    rows = {r["id"]: r for r in again.list_alerts()}
    assert rows[incident["id"]]["acked"] and rows[incident["id"]]["acked_by"] == "risk-1"
    row = rows[incident["id"]]
    assert row["state"] == "acked" and row["examples"][0]["subject_id"] == "T1"
    assert again.upsert_alerts([alert], NOW) == 0  # re-raised: refreshed, still acknowledged
    assert again.list_alerts(acked=True)[0]["id"] == incident["id"]
    assert [r["subject_id"] for r in again.list_alerts(kind="high_risk", province_id="P02")] == ["P02"]
    assert again.ack_alert("missing", actor="x", note=None, at=NOW) is None
    assert again.audit_entries(action="alert_ack")[0]["actor"] == "risk-1"


def test_policy_versions_with_audit_and_conflict(tmp_path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    assert store.current_policy()[0] == 0
    old = default_policy()
    new = merge_policy(old, {"weights": {"sla": 2.0}})
    v = store.save_policy(
        new, actor="ops", note="SLA push", diff=policy_diff(old, new), expected_version=0, at=NOW
    )
    assert v == 1 and store.current_policy() == (1, new) and store.policy_version() == 1
    try:
        store.save_policy(new, actor="ops", note=None, diff={}, expected_version=0, at=NOW)
    except ConflictError:
        pass
    else:
        raise AssertionError("a stale expected_version must conflict")
    entry = store.audit_entries(action="policy_update")[0]
    assert entry["actor"] == "ops" and entry["detail"]["changes"]["weights.sla"]["new"] == 2.0
    assert entry["at"].tzinfo is not None
