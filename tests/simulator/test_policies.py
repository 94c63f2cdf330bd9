"""Dispatch policies: the legacy rules, exploration, the pluggable interface and common random numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.engine import simulate
from simulator.oracle import OracleBatchPolicy, OraclePolicy
from simulator.outcomes import summarize, task_outcomes
from simulator.policies import BatchPolicy, LegacyPolicy, NationalLeastBusyPolicy, ScoringPolicy
from simulator.state import SimView
from simulator.tables import event_tables

SEED = 3  # as in conftest (any seed works: the workforce fixture fixes the staff)


class _Recording(LegacyPolicy):
    """Legacy policy that records, for each new task placed at once, the candidates and the choice."""

    def __init__(self, explore: bool) -> None:
        super().__init__(explore)
        self.choices: list[tuple[list[int], int, list[float]]] = []

    def on_task(self, view: SimView, task: int) -> None:
        cands = list(view.idle_workers(view.task_type[task], view.task_province[task]))
        since = [view.worker_idle_since[w] for w in cands]
        super().on_task(view, task)
        if len(cands) > 1:
            self.choices.append((cands, view.task_worker[task], since))


def test_legacy_assigns_within_province_to_skilled_workers(small_result) -> None:
    r = small_result
    a = r.assignments
    task, worker = np.asarray(a["task"]), np.asarray(a["worker"])
    tk = r.arrivals.tasks
    assert (tk["p"].to_numpy()[task] == r.workforce.province[worker]).all()
    assert r.workforce.eligible[worker, tk["k"].to_numpy()[task]].all()
    assert set(a["policy"]) == {"legacy_fifo_explore"}


@pytest.mark.parametrize("explore", [True, False])
def test_exploration_randomises_among_idle_skilled_workers(
    small, small_arrivals, small_workforce, explore: bool
) -> None:
    pol = _Recording(explore)
    simulate(small, small_arrivals, pol, SEED, workforce=small_workforce, record_status=False)
    assert len(pol.choices) > 200
    # rank of the chosen worker by idle time (0 = idle longest), as a fraction of the candidates
    ranks = []
    for cands, chosen, since in pol.choices:
        assert chosen in cands
        order = sorted(range(len(cands)), key=lambda i: (since[i], cands[i]))
        ranks.append(order.index(cands.index(chosen)) / (len(cands) - 1))
    ranks = np.asarray(ranks)
    if explore:  # uniform over the candidates: mean rank ~ 1/2, all ranks used
        assert abs(ranks.mean() - 0.5) < 4 * np.sqrt(1 / 12 / len(ranks)) + 0.02
        assert (ranks == 0).mean() < 0.7
    else:  # the old way without exploration: always the longest idle
        assert (ranks == 0).all()


def test_same_arrivals_same_task_rows_under_two_policies(
    small, small_arrivals, small_workforce, small_result, small_outcomes
) -> None:
    other = simulate(small, small_arrivals, NationalLeastBusyPolicy(), SEED, workforce=small_workforce)
    other_out = task_outcomes(other)
    a, b = event_tables(small_result, small_outcomes), event_tables(other, other_out)
    for name in ("tasks", "customers", "workers", "provinces"):
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    assert not a["assignments"]["worker_id"].equals(b["assignments"]["worker_id"])
    # common random numbers: per-task noise is the same, outcomes differ only through the worker/time
    both = (small_outcomes["started"].notna() & other_out["started"].notna()).to_numpy()
    assert both.mean() > 0.8
    noise_a = small_outcomes["minutes"] / small_outcomes["expected_minutes"]
    noise_b = other_out["minutes"] / other_out["expected_minutes"]
    assert np.allclose(noise_a[both], noise_b[both])
    pa, pb = small_outcomes["p_pass"].to_numpy()[both], other_out["p_pass"].to_numpy()[both]
    qa, qb = small_outcomes["passed"].to_numpy()[both], other_out["passed"].to_numpy()[both]
    assert not (qa & ~qb & (pa <= pb)).any() and not (qb & ~qa & (pb <= pa)).any()
    assert (qa != qb).any()  # ... but they do differ where the worker changed the odds


def test_national_policy_pools_provinces_and_cuts_waiting(
    small, small_arrivals, small_workforce, small_result
) -> None:
    nat = simulate(small, small_arrivals, NationalLeastBusyPolicy(), SEED, workforce=small_workforce)
    task, worker = np.asarray(nat.assignments["task"]), np.asarray(nat.assignments["worker"])
    cross = small_arrivals.tasks["p"].to_numpy()[task] != small_workforce.province[worker]
    assert 0.02 < cross.mean() < 0.9
    assert small_workforce.eligible[worker, small_arrivals.tasks["k"].to_numpy()[task]].all()
    assert summarize(nat)["mean_wait_minutes"] < 0.8 * summarize(small_result)["mean_wait_minutes"]


def test_oracle_beats_legacy_on_true_outcomes(small, small_arrivals, small_workforce, small_result) -> None:
    legacy = summarize(small_result)
    for policy in (OraclePolicy(small_workforce.truth), OracleBatchPolicy(small_workforce.truth)):
        s = summarize(
            simulate(small, small_arrivals, policy, SEED, workforce=small_workforce, record_status=False)
        )
        assert s["mean_handling_minutes"] < 0.95 * legacy["mean_handling_minutes"], policy.name
        assert s["qa_pass_rate"] > legacy["qa_pass_rate"], policy.name
        assert s["mean_p_complaint"] < legacy["mean_p_complaint"], policy.name


class _CheapestFirst(ScoringPolicy):
    """A stand-in for an ML ranking policy: plugs in by implementing ``cost`` only."""

    name = "custom_rank"

    def __init__(self) -> None:
        super().__init__(scope="province")
        self.calls = 0

    def cost(self, view: SimView, task: int, workers) -> np.ndarray:
        self.calls += 1
        return np.array([view.worker_shift_done[w] + 0.001 * w for w in workers], dtype=float)


class _GreedyBatch(BatchPolicy):
    """A stand-in for an ML batch policy: plugs in by implementing ``cost_matrix`` only."""

    name = "custom_batch"

    def cost_matrix(self, view: SimView, tasks: list[int], workers: list[int]) -> np.ndarray:
        k = np.array([view.task_type[t] for t in tasks])
        age = view.now - np.array([view.task_created[t] for t in tasks])
        cost = -age[:, None] + np.zeros((len(tasks), len(workers)))
        return np.where(view.eligible[np.asarray(workers)[None, :], k[:, None]], cost, np.inf)


def test_custom_ranking_and_batch_policies_plug_in(small, small_arrivals, small_workforce) -> None:
    rank = _CheapestFirst()
    r = simulate(small, small_arrivals, rank, SEED, workforce=small_workforce, record_status=False)
    assert rank.calls > 100 and set(r.assignments["policy"]) == {"custom_rank"}
    batch = _GreedyBatch(every_minutes=15)
    b = simulate(small, small_arrivals, batch, SEED, workforce=small_workforce, record_status=False)
    at = np.asarray(b.assignments["at"])
    assert len(at) > 0.8 * len(small_arrivals.tasks)
    assert np.allclose(np.minimum(at % 15, 15 - at % 15), 0, atol=1e-6)  # only at solve ticks
    task, worker = np.asarray(b.assignments["task"]), np.asarray(b.assignments["worker"])
    assert small_workforce.eligible[worker, small_arrivals.tasks["k"].to_numpy()[task]].all()


class _Rogue(LegacyPolicy):
    """Tries to break the rules: assign to an unskilled worker."""

    def on_task(self, view: SimView, task: int) -> None:
        bad = np.flatnonzero(~view.eligible[:, view.task_type[task]])
        if len(bad):
            view.assign(task, int(bad[0]))


def test_assign_refuses_unskilled_or_off_shift_workers(small, small_arrivals, small_workforce) -> None:
    with pytest.raises(ValueError, match="not skilled|off shift"):
        simulate(small, small_arrivals, _Rogue(), SEED, workforce=small_workforce, record_status=False)


def test_drain_completes_every_task(small, small_arrivals, small_workforce) -> None:
    r = simulate(
        small,
        small_arrivals,
        NationalLeastBusyPolicy(),
        SEED,
        workforce=small_workforce,
        drain=True,
        record_status=False,
    )
    assert not np.isnan(r.completed).any()
    assert r.end > small_arrivals.horizon


class _PushToLeastLoaded(LegacyPolicy):
    """Pushes each new task to the least-loaded accepting skilled worker of its province (worker queues)."""

    name = "push_least_loaded"

    def on_task(self, view: SimView, task: int) -> None:
        k, p = view.task_type[task], view.task_province[task]
        cands = [
            w
            for w in range(view.n_workers)
            if view.worker_province[w] == p and view.eligible[w, k] and view.accepting(w)
        ]
        if cands:
            view.assign(task, min(cands, key=lambda w: (view.worker_load(w), w)))


def test_worker_queues_and_redispatch_at_shift_end(small, small_arrivals, small_workforce) -> None:
    r = simulate(small, small_arrivals, _PushToLeastLoaded(), SEED, workforce=small_workforce)
    a = pd.DataFrame(r.assignments)
    assert (a.groupby("task").size() > 1).any()  # queued work handed back at shift end, re-dispatched
    last = a.drop_duplicates("task", keep="last").set_index("task")["worker"]
    done = np.flatnonzero(~np.isnan(r.completed))
    assert (last.loc[done].to_numpy() == r.worker[done]).all()
    assert (r.completed[done] >= r.started[done]).all()
    assert max(r.status["open_tasks"]) > 1  # loads beyond one task exist with queues
    # a worker still does one task at a time, queue or not
    per_worker = pd.DataFrame({"w": r.worker[done], "s": r.started[done], "c": r.completed[done]})
    per_worker = per_worker.sort_values(["w", "s"])
    same = per_worker["w"].eq(per_worker["w"].shift())
    assert (per_worker["s"][same] >= per_worker["c"].shift()[same] - 1e-9).all()
