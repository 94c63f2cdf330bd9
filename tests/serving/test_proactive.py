"""Proactive return visits (issue 27, seed 002) on the engine (fake models and profiles, a real temporary
event store): break points become ``return_visit`` tasks through the normal lifecycle, within the
policy's daily capacity, with the hashed holdout left alone."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from opsmatch import events
from serving.api.schemas import AssignRequest, OutcomesRequest, PolicyUpdate
from serving.config import load_service_config
from serving.risk import journeys as jr
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from tests.factories.fakes import NOW, ManualClock

HOLDOUT = 0.6  # J00, J01, J05, J06, J09, J10 fall in it (sha256 of the journey id)


def journey(
    jid: str, cust: str, minutes_ago: float, *, step: int = 3, done: bool = False, flow: str = "renewal"
):
    start = pd.Timestamp(NOW) - pd.Timedelta(minutes=minutes_ago)
    end = start + pd.Timedelta(minutes=8)
    return {
        "journey_id": jid,
        "customer_id": cust,
        "province_id": "P01",
        "flow": flow,
        "channel": "app",
        "steps": 5,
        "step_reached": 5 if done else step,
        "started_at": start,
        "abandoned_at": None if done else end,
        "completed_at": end if done else None,
    }


def store_journeys(settings) -> list[str]:  # noqa: ANN001
    """Twenty days of history (renewals broken at step 3 stay stuck, at step 1 come back) and today's
    break points: 12 open ones, one the customer already resumed, one too recent (grace)."""
    rows = []
    for d in range(20):
        ago = (d + 5) * 1440.0
        rows += [journey(f"H{d}a", f"HC{d}a", ago, step=3), journey(f"H{d}b", f"HC{d}b", ago, step=1)]
        rows.append(journey(f"H{d}c", f"HC{d}b", ago - 600, done=True))  # b came back within the day
    today = [f"J{i:02d}" for i in range(12)]
    rows += [journey(j, f"C{j}", 300 + 10 * i, step=1 + i % 3) for i, j in enumerate(today)]
    rows += [journey("JBACK", "CBACK", 400), journey("JBACK2", "CBACK", 100, done=True)]
    rows.append(journey("JNEW", "CNEW", 20))  # abandoned 12 minutes ago: within the grace
    frame = pd.DataFrame(rows)
    events.append(settings, "journeys", events.coerce(events.spec("journeys"), frame))
    return today


@pytest.fixture
def desk(settings, runtime):  # noqa: ANN001, ANN201
    clock = ManualClock(NOW)
    store = StateStore(settings.resolved_state_db_url)
    eng = Engine(settings, runtime, store, load_service_config({"policy_ttl_seconds": 0}), clock=clock)
    yield eng, clock
    store.close()


def test_break_points_become_return_visits_within_the_capacity_and_the_holdout_is_left_alone(desk) -> None:  # noqa: ANN001
    eng, clock = desk
    today = store_journeys(eng.settings)
    assert eng.proactive.sweep().created == []  # off by default (defaults.yaml)
    update = PolicyUpdate(proactive={"enabled": True, "daily_capacity": 4, "holdout_share": HOLDOUT})
    eng.put_policy(update, actor="ops-head")
    audit = eng.store.audit_entries(limit=5)
    assert (audit[0]["action"], audit[0]["actor"]) == ("policy_update", "ops-head")
    assert eng.store.policy_history(1)[0]["changes"]["proactive.daily_capacity"] == {"old": 120, "new": 4}
    assert eng.store.policy_history(1)[0]["changes"]["proactive.enabled"] == {"old": False, "new": True}

    run = eng.proactive.sweep()
    assert len(run.created) == 4 and run.capacity_left == 0
    # by benefit (step 3 of a renewal stays stuck in the history, step 1 does not), ties by id: J05 and
    # J01 are walked but held out, using no capacity
    assert run.created == ["RV-J02", "RV-J08", "RV-J11", "RV-J04"] and run.held_out == ["J05", "J01"]
    visited = [t.removeprefix("RV-") for t in run.created]
    assert set(visited) | set(run.held_out) <= set(today)  # not the resumed one, not the fresh one
    assert all(not jr.held_out(j, HOLDOUT) for j in visited)
    assert all(jr.held_out(j, HOLDOUT) for j in run.held_out)
    # the walk is by benefit: step 3 of a renewal stays stuck in the history, step 1 does not
    steps = {j: 1 + int(j[1:]) % 3 for j in today}
    rates = jr.stuck_rates(events.read_table(eng.settings, "journeys"), NOW)
    assert rates[("renewal", 3)] > rates[("renewal", 1)]
    walked = visited + run.held_out
    assert min(steps[j] for j in visited) >= max(
        steps[j] for j in today if j not in walked and not jr.held_out(j, HOLDOUT)
    )
    # the held-out break points are recorded in the audit, never made tasks
    entry = eng.store.audit_entries("proactive", limit=1)[0]
    assert entry["detail"]["held_out"] == run.held_out and entry["detail"]["created"] == run.created
    assert not any(eng.book.state(f"RV-{j}") for j in run.held_out)

    clock.advance(30)  # later the same day: the capacity is used, nothing more
    assert eng.proactive.sweep().created == []
    clock.advance(24 * 60)  # the next day: a new day's capacity, never the same break point twice
    again = eng.proactive.sweep()
    assert again.created and not set(again.created) & set(run.created)
    assert not {t.removeprefix("RV-") for t in again.created} & set(run.held_out)


def test_a_return_visit_flows_through_the_lifecycle_with_its_guidance(desk) -> None:  # noqa: ANN001
    eng, clock = desk
    store_journeys(eng.settings)
    eng.put_policy(
        PolicyUpdate(proactive={"enabled": True, "daily_capacity": 1, "holdout_share": 0.0}), actor="ops-head"
    )
    (tid,) = eng.proactive.sweep().created
    task = eng.queue.get_task(tid)
    assert (task.status, task.task_type, task.channel) == ("pending", "return_visit", "phone")
    assert task.history[0].kind == "create" and task.history[0].actor == "proactive"
    note = task.history[0].note or ""
    assert "renewal abandoned at step" in note and "guidance:" in note
    queued = eng.queue.list_tasks("waiting", None, "return_visit", None, "sla_due_at", 10)
    assert [t.task_id for t in queued.tasks] == [tid]
    out = eng.assign(AssignRequest(task_ids=[tid], commit=True), actor="dispatch")
    (item,) = out.assignments
    assert item.assignment_id and eng.book.state(tid).status.value == "assigned"
    aid = item.assignment_id
    assert eng.lifecycle.step(aid, "accept", actor="desk", note=None).status == "accepted"
    assert eng.lifecycle.step(aid, "start", actor="desk", note=None).status == "started"
    clock.advance(12)
    done = {
        "task_id": tid,
        "worker_id": item.worker_id,
        "started_at": NOW,
        "completed_at": NOW + timedelta(minutes=12),
        "handling_minutes": 12.0,
    }
    eng.outcomes(OutcomesRequest(completions=[done]), actor="qa")
    kinds = [e.kind for e in eng.queue.get_task(tid).history]
    assert kinds == ["create", "assign", "accept", "start", "complete"]
    assert eng.book.state(tid).status.value == "done"
