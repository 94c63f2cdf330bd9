"""The engine's state and the policy's view: indexes kept consistent, ``assign`` validated then committed."""

from __future__ import annotations

import pytest

from simulator.facts import build_facts
from simulator.state import PENDING, QUEUED, SimState, SimView


@pytest.fixture
def world(small, small_arrivals, small_workforce):
    """A fresh state, its view and the assignments the view committed (task, worker, label)."""
    facts = build_facts(small, small_arrivals, small_workforce)
    state = SimState(facts, small_workforce.truth.experience0.astype(int).tolist())
    committed: list[tuple[int, int, str]] = []
    view = SimView(facts, state, lambda t, w, label: committed.append((t, w, label)), "house_policy")
    return facts, state, view, committed


def _skilled_worker(facts, task: int) -> int:
    k = facts.task_type[task]
    return next(w for w in range(facts.n_workers) if facts.eligible[w, k])


def test_pending_index_lists_oldest_first_and_drops_handed_back_entries(world) -> None:
    facts, state, view, _ = world
    k, p = facts.task_type[0], facts.task_province[0]
    same = [t for t in range(facts.n_tasks) if facts.task_type[t] == k and facts.task_province[t] == p][:3]
    for task in same:
        state.make_pending(task)
        state.list_pending(task)
    assert view.pending_tasks(k, p) == same and view.pending_count(k, p) == 3
    assert view.oldest_pending(k) == same[0]
    state.unlist_pending(same[0])
    state.enqueue(same[0], 0)  # assigned and queued: no longer pending
    assert view.oldest_pending(k, p) == same[1] and view.pending_count(k, p) == 2
    state.make_pending(same[0])  # handed back at a shift end: a new epoch, listed at the back
    state.list_pending(same[0])
    assert view.pending_tasks(k, p) == [same[1], same[2], same[0]]  # the stale entry is not listed
    assert view.pending_count(k) == 3


def test_idle_index_follows_mark_idle_and_busy(world) -> None:
    facts, state, view, _ = world
    worker = 5
    state.worker_on_shift[worker] = True
    state.now = 42.0
    state.mark_idle(worker)
    for k in facts.worker_types[worker]:
        assert worker in view.idle_workers(k, facts.worker_province[worker])
        assert worker in view.idle_workers(k)
    assert view.is_idle(worker) and view.worker_idle_since[worker] == 42.0 and view.all_idle() == [worker]
    state.mark_busy(worker)
    assert not any(worker in view.idle_workers(k) for k in facts.worker_types[worker])
    assert view.all_idle() == []


def test_assign_validates_then_hands_the_commit_to_the_engine(world) -> None:
    facts, state, view, committed = world
    task = 0
    worker = _skilled_worker(facts, task)
    with pytest.raises(ValueError, match="not pending"):
        view.assign(task, worker)
    state.make_pending(task)
    with pytest.raises(ValueError, match="off shift"):
        view.assign(task, worker)
    unskilled = next(w for w in range(facts.n_workers) if not facts.eligible[w, facts.task_type[task]])
    state.worker_on_shift[unskilled] = True
    with pytest.raises(ValueError, match="not skilled"):
        view.assign(task, unskilled)
    assert committed == []
    state.worker_on_shift[worker] = True
    view.assign(task, worker)
    view.policy_name = "delegate"  # a delegating policy labels its delegate's assignments
    view.assign(task, worker, label="explicit")
    view.assign(task, worker)
    labels = ["house_policy", "explicit", "delegate"]
    assert committed == [(task, worker, label) for label in labels]
    assert state.task_state[task] == PENDING  # the view itself changed nothing


def test_view_reads_the_state_as_it_changes(world) -> None:
    facts, state, view, _ = world
    state.now = 90.0
    assert view.now == 90.0 and view.minutes_to_sla(0) == facts.task_sla_due[0] - 90.0
    worker = 3
    state.worker_on_shift[worker] = True
    assert view.accepting(worker) and view.worker_load(worker) == 0
    state.worker_busy[worker] = 0
    state.enqueue(1, worker)
    assert view.worker_load(worker) == 2 and view.task_state[1] == QUEUED
    state.worker_shift_done[worker] = facts.worker_capacity[worker] - 2
    assert not view.accepting(worker)  # done this shift + open tasks reach the capacity
    assert state.take_queue(worker) == [1] and view.worker_load(worker) == 1
