"""Alerts as incidents in the state store: grouping, self-resolve, re-open, merge, silences, races."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np

from serving.alerts import rules
from serving.alerts.store import Family
from serving.config import AlertRules
from serving.state.store import StateStore
from tests.factories.fakes import NOW

SLA = Family(frozenset({"sla_overdue", "sla_near"}))


def overdue(n: int, province: str = "P05", start: int = 0) -> list[rules.Alert]:
    ids = [f"T{i:04d}" for i in range(start, start + n)]
    hours = -np.arange(1, n + 1, dtype=float)  # T0000 is 1 h overdue, the last one n h
    types = ["renewal" if i % 2 else "surrender" for i in range(n)]
    return rules.sla_alerts(ids, [province] * n, hours, {}, AlertRules(), task_types=types)


def test_300_overdue_tasks_are_one_incident_that_resolves_and_reopens(tmp_path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    assert store.upsert_alerts(overdue(300), NOW, family=SLA, writer="monitor") == 1
    (one,) = store.list_alerts(NOW, kind="sla_overdue")
    assert (one["count"], one["state"], one["province_id"], one["episode"]) == (300, "open", "P05", 1)
    assert [e["subject_id"] for e in one["examples"]] == ["T0299", "T0298", "T0297", "T0296", "T0295"]
    assert one["examples"][0]["value"] == 300.0
    assert one["details"]["by_type"] == {"renewal": 150, "surrender": 150}
    assert one["roles"] == ["dispatcher", "ops_head"] and one["severity"] == "critical"
    later = NOW + timedelta(minutes=40)
    assert store.upsert_alerts(overdue(320), later, family=SLA, writer="monitor") == 0  # refreshed
    (more,) = store.list_alerts(later, kind="sla_overdue")
    got = (more["count"], more["first_seen"], more["last_seen"], more["trend"])
    assert got == (320, NOW, later, "rising")
    store.ack_alert(one["id"], actor="disp-1", note="moving them", at=later)
    cleared = later + timedelta(minutes=1)
    store.upsert_alerts([], cleared, family=SLA, writer="monitor")  # the monitor sees none: resolved
    (gone,) = store.list_alerts(cleared, kind="sla_overdue")
    assert (gone["state"], gone["resolved_by"], gone["resolved_at"]) == ("resolved", "monitor", cleared)
    assert gone["acked_by"] == "disp-1"
    back = cleared + timedelta(minutes=1)
    assert store.upsert_alerts(overdue(3), back, family=SLA, writer="monitor") == 1  # re-opened
    (again,) = store.list_alerts(back, kind="sla_overdue")
    assert (again["id"], again["state"], again["episode"], again["count"]) == (one["id"], "open", 2, 3)
    assert again["acked_by"] is None and again["first_seen"] == back


def test_a_partial_writer_merges_and_never_resolves(tmp_path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.upsert_alerts(overdue(10), NOW, family=SLA)
    partial = rules.sla_alerts(["X1"], ["P05"], np.array([-500.0]), {"X1": "W9"}, AlertRules())
    assert store.upsert_alerts(partial, NOW) == 0  # /assign of one task: merged
    (one,) = store.list_alerts(NOW, kind="sla_overdue")
    assert one["count"] == 10 and one["examples"][0]["subject_id"] == "X1"
    assert "W9" in one["examples"][0]["message"]
    assert store.upsert_alerts(overdue(2, "P06"), NOW) == 1 and len(store.list_alerts(NOW)) == 2


def test_a_silence_holds_until_its_end_and_is_audited(tmp_path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.upsert_alerts(overdue(5), NOW, family=SLA)
    (one,) = store.list_alerts(NOW, states=["open"], silenced=False)
    until = NOW + timedelta(hours=2)
    got = store.alerts.silence(one["id"], actor="ops-1", reason="storm: known", until=until, at=NOW)
    assert got is not None and got["ends_at"] == until
    store.upsert_alerts(overdue(50), NOW + timedelta(minutes=5), family=SLA)  # still raised: still silent
    assert store.list_alerts(NOW + timedelta(minutes=5), states=["open"], silenced=False) == []
    (held,) = store.list_alerts(NOW + timedelta(minutes=5), silenced=True)
    assert held["silence"]["reason"] == "storm: known" and held["count"] == 50
    assert [r["id"] for r in store.list_alerts(until, states=["open"], silenced=False)] == [one["id"]]
    audit = store.audit_entries(action="alert_silence")[0]
    assert audit["actor"] == "ops-1" and audit["detail"]["reason"] == "storm: known"


def test_two_threads_raising_the_same_alert_never_fail(tmp_path) -> None:
    """Issue 21: the monitor and /assign raised the same alert at once -> UNIQUE constraint failed."""
    stores = [StateStore(f"sqlite:///{tmp_path / 'state.db'}") for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def raise_many(store: StateStore, k: int) -> None:
        try:
            start.wait()
            for i in range(40):
                at = NOW + timedelta(seconds=i)
                store.upsert_alerts(overdue(3, province=f"P{i % 4}"), at, family=None if k else SLA)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=raise_many, args=(s, k)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = stores[0].list_alerts(NOW + timedelta(minutes=1), limit=100)
    assert sorted(r["province_id"] for r in rows) == ["P0", "P1", "P2", "P3"]


def test_the_monitor_rescores_only_tasks_whose_age_step_or_record_moved(engine, monkeypatch) -> None:  # noqa: ANN001
    from dataclasses import replace

    from serving.config import merge_policy
    from serving.tasks.lifecycle import Status, TaskState

    _, policy = engine.policy()
    policy = merge_policy(policy, {"risk_tiers": {"high": 0.0, "medium": 0.0}})  # every task is "high"
    tasks = {t.task_id: t for t in engine.runtime.tasks.get_tasks([f"T{i}" for i in range(9)]).values()}
    states = [TaskState(i, Status.PENDING, NOW, t.created_at) for i, t in tasks.items()]
    watch = engine.alert_watch
    watch._risk(states, tasks, NOW, policy)
    assert watch.rescored == 9
    watch._risk(states, tasks, NOW + timedelta(minutes=10), policy)
    assert watch.rescored == 0  # nothing moved, no hour crossed: nothing scored again
    moved = [*states[1:], TaskState("T0", Status.ASSIGNED, NOW + timedelta(minutes=11), states[0].created_at)]
    watch._risk(moved, tasks, NOW + timedelta(minutes=12), policy)
    assert watch.rescored == 0  # its state moved, its inputs did not
    fresh = {**tasks, "T0": replace(tasks["T0"])}  # the task changed: the book holds a new record
    get = engine.runtime.tasks.get_tasks
    monkeypatch.setattr(engine.runtime.tasks, "get_tasks", lambda ids: {i: fresh[i] for i in get(ids)})
    watch._risk(moved, tasks, NOW + timedelta(minutes=13), policy)
    assert watch.rescored == 1
    watch._risk(moved[:-1], tasks, NOW + timedelta(hours=1, minutes=30), policy)
    assert watch.rescored == 8 and len(watch.cache) == 8  # an hour crossed; T0 closed: forgotten
    incidents = engine.store.list_alerts(NOW, kind="high_risk", states=["open"])
    assert sum(a["count"] for a in incidents) == 8 and {a["roles"][0] for a in incidents} == {"risk"}


def test_a_province_backlog_inhibits_its_late_tasks_while_active_even_silenced(tmp_path) -> None:
    from collections import Counter

    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    both = Family(frozenset({"sla_overdue", "sla_near", "province_backlog"}))
    backlog = rules.backlog_alerts(Counter({"P05": 300}), Counter({"P05": 2}), AlertRules())
    store.upsert_alerts([*overdue(300), *overdue(4, "P07"), *backlog], NOW, family=both, writer="monitor")
    (cause,) = store.list_alerts(NOW, kind="province_backlog")
    shown = {(a["kind"], a["province_id"]) for a in store.list_alerts(NOW, states=["open"], inhibited=False)}
    assert shown == {("province_backlog", "P05"), ("sla_overdue", "P07")}  # P05's overdue is explained
    (muted,) = store.list_alerts(NOW, inhibited=True)
    assert (muted["kind"], muted["province_id"], muted["count"]) == ("sla_overdue", "P05", 300)
    assert muted["inhibited_by"] == cause["id"] and muted["state"] == "open"  # kept, counted, refreshed
    store.alerts.silence(cause["id"], actor="ops-1", reason="storm", until=NOW + timedelta(hours=2), at=NOW)
    assert [a["id"] for a in store.list_alerts(NOW, inhibited=True)] == [
        muted["id"]
    ]  # a silenced cause mutes
    later = NOW + timedelta(minutes=5)
    store.upsert_alerts([*overdue(300), *overdue(4, "P07")], later, family=both, writer="monitor")
    assert store.list_alerts(later, inhibited=True) == []  # the backlog cleared: the overdue shows again
    (back,) = store.list_alerts(
        later, kind="sla_overdue", province_id="P05", states=["open"], inhibited=False
    )
    assert back["id"] == muted["id"] and back["inhibited_by"] is None


def test_the_monitor_keeps_a_backlog_open_until_it_falls_below_its_clear_band(engine) -> None:  # noqa: ANN001
    from collections import Counter

    from serving.protocols import TaskRecord
    from serving.tasks.lifecycle import Status, TaskState

    _, policy = engine.policy()  # 20 pending and 3 per worker raise; an open one stays at 2/3 of both
    made = NOW - timedelta(hours=1)

    def sweep(n: int, minutes: int) -> list[dict]:
        at = NOW + timedelta(minutes=minutes)
        tasks = {
            f"BK{i}": TaskRecord(f"BK{i}", "renewal", "PBK", made, NOW + timedelta(days=1)) for i in range(n)
        }
        states = [TaskState(t, Status.PENDING, made, made) for t in tasks]
        found = rules.backlog_alerts(Counter({"PBK": n}), {}, policy.alerts)  # what the monitor raises
        engine.alert_watch.sweep(found, states, tasks, at, policy)
        return engine.store.list_alerts(at, kind="province_backlog", province_id="PBK", states=["open"])

    (one,) = sweep(30, 0)  # nobody of PBK on shift: raised
    (still,) = sweep(15, 1)  # below the raise level (20), above the clear band (13.3): still open
    assert (still["id"], still["episode"], still["details"]["pending"]) == (one["id"], 1, 15)
    assert sweep(10, 2) == []  # below the band: resolved by the monitor
    assert sweep(15, 3) == []  # and 15 does not re-open it: only the raise level does
