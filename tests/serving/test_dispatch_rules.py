"""/rank and /assign through the engine with a roster: stale-status fallback, shift-end awareness,
near-SLA urgency, and the new policy sections through PUT /policy (test clock, in-memory runtime)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from serving.api import schemas as s
from serving.config import load_service_config
from serving.errors import ApiError
from serving.matching.roster import Roster
from serving.protocols import Runtime
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from tests.factories.fakes import (
    NOW,
    FakeProfiles,
    FakeScorer,
    FakeTasks,
    ManualClock,
    make_pool,
    make_task,
)

# NOW is Monday 10:00 UTC. Shifts (UTC province): W0-W2 08-16, W3 08-11, W4 22-06 (off now), W5 08-16.
PATTERNS = [(8, 8), (8, 8), (8, 8), (8, 3), (22, 8), (8, 8)]
TTL = 7200.0


def roster_pool(status_age_seconds: float) -> tuple:
    pool = make_pool(m=len(PATTERNS), provinces=("P01",), skill_level=3, open_tasks=0)
    workers = pd.DataFrame(
        {
            "worker_id": pool.worker_ids,
            "province_id": "P01",
            "shift_start_hour": [p[0] for p in PATTERNS],
            "shift_hours": [p[1] for p in PATTERNS],
            "work_days": "01234",
        }
    )
    provinces = pd.DataFrame(
        {
            "province_id": ["P01"],
            "timezone": ["UTC"],
            "workday_start_hour": [8],
            "workday_end_hour": [18],
            "works_weekends": [False],
        }
    )
    pool.roster = Roster.from_frames(list(pool.worker_ids), workers, provinces)
    pool.status_at = np.full(len(pool), NOW.timestamp() - status_age_seconds)
    return pool


@pytest.fixture
def make_engine(settings):  # noqa: ANN201 - factory fixture
    stores = []

    def build(pool, tasks, clock: ManualClock | None = None) -> Engine:  # noqa: ANN001
        store = StateStore(settings.resolved_state_db_url)
        stores.append(store)
        runtime = Runtime(profiles=FakeProfiles(pool), tasks=FakeTasks(tasks), scorer=FakeScorer())
        config = load_service_config({"policy_ttl_seconds": 0, "status_ttl_seconds": TTL})
        return Engine(settings, runtime, store, config, clock=clock or ManualClock(NOW))

    yield build
    for store in stores:
        store.close()


def test_a_stale_status_falls_back_to_the_roster_and_the_response_says_so(make_engine) -> None:  # noqa: ANN001
    pool = roster_pool(status_age_seconds=3 * 3600)  # every live flag says "on shift", but 3 h old
    engine = make_engine(pool, [make_task("T1", "renewal")])
    out = engine.rank(s.RankRequest(task_id="T1", top_k=10))
    assert out.excluded["off_shift"] == 1 and "W0004" not in {w.worker_id for w in out.workers}
    assert out.availability == {"live": 0, "roster": 6, "last_status": 0, "assumed": 0}
    assert {w.availability for w in out.workers} == {"roster"}
    # W4 pushes a fresh "on shift" (overtime): the live status decides again
    pool.status_at[4] = NOW.timestamp() - 60
    again = engine.rank(s.RankRequest(task_id="T1", top_k=10))
    assert again.excluded["off_shift"] == 0 and again.availability["live"] == 1
    w4 = next(w for w in again.workers if w.worker_id == "W0004")
    assert w4.availability == "live" and w4.shift_minutes_left is None


def test_a_fresh_off_shift_status_overrides_the_roster(make_engine) -> None:  # noqa: ANN001
    pool = roster_pool(status_age_seconds=60)
    pool.on_shift[5] = False
    out = make_engine(pool, [make_task("T1", "renewal")]).rank(s.RankRequest(task_id="T1", top_k=10))
    # W5 is off by its live status although rostered; W4 is on by its (fresh) live flag
    assert out.excluded["off_shift"] == 1 and "W0005" not in {w.worker_id for w in out.workers}
    assert out.availability["live"] == 6


@pytest.mark.parametrize("mode", ["exclude", "penalise", "off"])
def test_shift_end_awareness(make_engine, mode: str) -> None:  # noqa: ANN001
    pool = roster_pool(status_age_seconds=3 * 3600)
    clock = ManualClock(NOW + timedelta(minutes=55))  # W3's shift ends in 5 minutes
    engine = make_engine(pool, [make_task("T1", "claims_review", now=clock.now)], clock)
    engine.put_policy(s.PolicyUpdate(actor="ops", dispatch={"shift_end": mode}), actor="tester")
    out = engine.rank(s.RankRequest(task_id="T1", top_k=10))
    w3 = next((w for w in out.workers if w.worker_id == "W0003"), None)
    others = [w for w in out.workers if w.worker_id != "W0003"]
    assert all(w.cost_parts.shift_end == 0 for w in others)  # hours left in their shifts
    if mode == "exclude":
        assert w3 is None and out.excluded["shift_end"] == 1
    else:
        assert w3 is not None and out.excluded["shift_end"] == 0
        assert w3.shift_minutes_left == pytest.approx(5.0)
        assert (w3.cost_parts.shift_end > 0) == (mode == "penalise")
        assert ("may_run_past_shift" in w3.reason_codes) is True


def test_assign_excludes_pairs_the_shift_end_would_cut_and_reports_them(make_engine) -> None:  # noqa: ANN001
    pool = roster_pool(status_age_seconds=3 * 3600)
    clock = ManualClock(NOW + timedelta(minutes=55))
    engine = make_engine(pool, [make_task("T1", "claims_review", now=clock.now)], clock)
    out = engine.assign(s.AssignRequest(task_ids=["T1"], worker_ids=["W0003"]))
    assert out.n_assigned == 0
    assert out.unassigned[0].reason == "no_eligible_worker"
    assert out.unassigned[0].excluded == {"not_requested": 5, "shift_end": 1}
    assert out.availability["roster"] == 1


def test_near_sla_tasks_come_before_cheaper_normal_ones(make_engine) -> None:  # noqa: ANN001
    pool = make_pool(m=1, provinces=("P01",), skill_level=3, capacity=1, open_tasks=0)
    near = make_task("T-near", "renewal", hours_to_sla=1.0, complexity=5)
    far = make_task("T-far", "renewal", hours_to_sla=30.0, complexity=1)
    engine = make_engine(pool, [near, far])
    engine.put_policy(s.PolicyUpdate(actor="ops", dispatch={"sla_near_hours": 0.0}), actor="tester")
    plain = engine.assign(s.AssignRequest(task_ids=["T-near", "T-far"]))
    assert [a.task_id for a in plain.assignments] == ["T-far"]  # cheaper, and nothing marks urgency
    engine.put_policy(s.PolicyUpdate(actor="ops", dispatch={"sla_near_hours": 2.0}), actor="tester")
    urgent = engine.assign(s.AssignRequest(task_ids=["T-near", "T-far"]))
    assert [(a.task_id, a.urgency) for a in urgent.assignments] == [("T-near", "near_sla")]
    assert [(u.task_id, u.urgency) for u in urgent.unassigned] == [("T-far", "normal")]
    assert (urgent.n_near_sla, urgent.n_near_sla_assigned) == (1, 1)


def test_overdue_still_outranks_near_sla(make_engine) -> None:  # noqa: ANN001
    pool = make_pool(m=1, provinces=("P01",), skill_level=3, capacity=1, open_tasks=0)
    late = make_task("T-late", "renewal", hours_to_sla=-1.0, complexity=5)
    near = make_task("T-near", "renewal", hours_to_sla=1.0, complexity=1)
    out = make_engine(pool, [late, near]).assign(s.AssignRequest(task_ids=["T-near", "T-late"]))
    assert [(a.task_id, a.urgency) for a in out.assignments] == [("T-late", "overdue")]


def test_policy_sections_for_dispatch_monitor_and_experiment_go_through_put_policy(make_engine) -> None:  # noqa: ANN001
    engine = make_engine(make_pool(m=3), [])
    out = engine.put_policy(
        s.PolicyUpdate(
            actor="ops-head",
            monitor={"redispatch": False, "accept_timeout_minutes": 5},
            experiment={"enabled": True, "baseline": "fifo", "scope": "province"},
        ),
        actor="tester",
    )
    assert out.policy.monitor.redispatch is False and out.policy.monitor.accept_timeout_minutes == 5
    assert out.policy.experiment.enabled and out.policy.experiment.baseline == "fifo"
    assert out.policy.monitor.start_timeout_minutes == 60  # untouched fields keep their value
    with pytest.raises(ApiError) as err:
        engine.put_policy(
            s.PolicyUpdate(actor="ops", experiment={"slice_minutes": 10, "settle_minutes": 20}),
            actor="tester",
        )
    assert err.value.status == 422 and "settle_minutes" in err.value.message  # a rule beyond the schema
    with pytest.raises(ValueError):
        s.PolicyUpdate(actor="ops", dispatch={"shift_end": "sometimes"})


@pytest.mark.parametrize("choice", ["cost", "advantage"])
def test_with_more_tasks_than_slots_advantage_serves_what_the_free_workers_are_best_at(
    make_engine, choice: str
) -> None:  # noqa: ANN001
    """Two free workers, three tasks: by cost the two cheapest (short) tasks go and the long one waits
    for whoever frees up next; by advantage the faster worker takes the long task, where it saves most."""
    pool = make_pool(m=2, provinces=("P01",), skill_level=3, capacity=1, open_tasks=0)
    tasks = [
        make_task("T-long", "surrender", hours_to_sla=30.0, complexity=5),  # fake medians: 50 min
        make_task("T-short", "policy_change", hours_to_sla=30.0, complexity=1),  # 20 min
        make_task("T-short2", "policy_change", hours_to_sla=30.0, complexity=2),
    ]
    engine = make_engine(pool, tasks)
    engine.put_policy(s.PolicyUpdate(actor="ops", dispatch={"task_choice": choice}), actor="tester")
    out = engine.assign(s.AssignRequest(task_ids=[t.task_id for t in tasks]))
    speed, _ = FakeScorer()._worker_traits(pool, np.arange(2))
    fast = str(pool.worker_ids[int(np.argmin(speed))])
    got = {a.task_id: a.worker_id for a in out.assignments}
    if choice == "cost":
        assert set(got) == {"T-short", "T-short2"}
    else:
        assert got.get("T-long") == fast and len(got) == 2
