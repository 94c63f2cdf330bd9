"""The assignment solver is exact: checked against scipy, brute force and the full slot expansion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from serving.matching.assignment import CAPACITY, NO_ELIGIBLE, solve_assignment


def _capacity_one_instance(rng: np.random.Generator, n: int, m: int, density: float) -> np.ndarray:
    cost = rng.gamma(2.0, 1.0, size=(n, m))
    cost[rng.random((n, m)) > density] = np.inf
    return cost


@pytest.mark.parametrize("seed", range(12))
def test_capacity_one_objective_equals_linear_sum_assignment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 40)), int(rng.integers(40, 80))
    cost = _capacity_one_instance(rng, n, m, density=0.6)
    try:
        r, c = linear_sum_assignment(cost)
    except ValueError:
        pytest.skip("no full matching for this draw")
    res = solve_assignment(lambda t, w, k: cost[t, w], np.isfinite(cost), np.ones(m, dtype=int))
    assert res.n_assigned == n
    assert res.objective == pytest.approx(cost[r, c].sum(), rel=1e-12, abs=1e-9)
    assert len(set(res.worker.tolist())) == n  # one task per worker
    assert np.isfinite(cost[np.arange(n), res.worker]).all()


def _brute_force(cost3: np.ndarray, eligible: np.ndarray, remaining: np.ndarray, priority: np.ndarray):
    """Best (assigned per priority level desc, then min cost) over all assignments and slot orders."""
    n, m = eligible.shape
    best_key, best = None, None
    for choice in itertools.product(range(-1, m), repeat=n):
        if any(w >= 0 and not eligible[t, w] for t, w in enumerate(choice)):
            continue
        counts = np.bincount([w for w in choice if w >= 0], minlength=m)
        if (counts > remaining).any():
            continue
        total = 0.0
        for w in range(m):
            tasks = [t for t, x in enumerate(choice) if x == w]
            total += min(
                (sum(cost3[t, w, k] for k, t in enumerate(order)) for order in itertools.permutations(tasks)),
                default=0.0,
            )
        levels = tuple(
            -sum(1 for t, x in enumerate(choice) if x >= 0 and priority[t] == lv)
            for lv in sorted(set(priority.tolist()), reverse=True)
        )
        key = (*levels, round(total, 9))
        if best_key is None or key < best_key:
            best_key, best = key, total
    return best_key, best


@pytest.mark.parametrize("seed", range(25))
def test_capacity_above_one_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    remaining = rng.integers(0, 4, size=m)
    eligible = rng.random((n, m)) < 0.75
    base = rng.gamma(2.0, 1.0, size=(n, m))
    slope = rng.random(n)[:, None] * rng.random(m)[None, :]  # task- and worker-dependent slot increase
    kmax = max(int(remaining.max()), 1)
    cost3 = base[:, :, None] + slope[:, :, None] * np.arange(kmax)[None, None, :]
    priority = (rng.random(n) < 0.4).astype(int)

    res = solve_assignment(lambda t, w, k: cost3[t, w, k], eligible, remaining, priority)
    key, best = _brute_force(cost3, eligible, remaining, priority)
    levels = tuple(
        -int(((res.worker >= 0) & (priority == lv)).sum())
        for lv in sorted(set(priority.tolist()), reverse=True)
    )
    assert levels == key[:-1]
    assert res.objective == pytest.approx(best, abs=1e-9)
    counts = np.bincount(res.worker[res.worker >= 0], minlength=m)
    assert (counts <= remaining).all()


@pytest.mark.parametrize("seed", range(6))
def test_slot_doubling_reaches_the_full_expansion_optimum(seed: int) -> None:
    """Few workers with large capacity: the iterative slots give the optimum of offering all slots."""
    rng = np.random.default_rng(200 + seed)
    n, m = 60, 4
    remaining = rng.integers(5, 40, size=m)
    eligible = rng.random((n, m)) < 0.8
    base = rng.gamma(2.0, 1.0, size=(n, m))
    slope = 0.05 + rng.random(n)[:, None] * 0.2

    def slot_cost(t: np.ndarray, w: np.ndarray, k: np.ndarray) -> np.ndarray:
        return base[t, w] + slope[t, 0] * k

    grown = solve_assignment(slot_cost, eligible, remaining, initial_slots=1)
    full = solve_assignment(slot_cost, eligible, remaining, initial_slots=int(remaining.max()))
    assert grown.iterations > 1
    assert full.iterations == 1
    assert grown.n_assigned == full.n_assigned
    assert grown.objective == pytest.approx(full.objective, rel=1e-12)


def test_overdue_tasks_win_scarce_capacity_even_when_expensive() -> None:
    cost = np.array([[1.0], [1.5], [50.0]])  # task 2 is overdue and by far the most expensive
    res = solve_assignment(
        lambda t, w, k: cost[t, w], np.ones((3, 1), bool), np.array([1]), np.array([0, 0, 1])
    )
    assert res.worker.tolist() == [-1, -1, 0]
    assert res.unassigned_reason == [CAPACITY, CAPACITY, None]


def test_assigns_as_many_as_possible_before_minimising_cost() -> None:
    # Worker 0 is cheap for both tasks, worker 1 only eligible for task 0: both must be assigned.
    cost = np.array([[1.0, 100.0], [1.0, np.inf]])
    res = solve_assignment(lambda t, w, k: cost[t, w], np.isfinite(cost), np.array([1, 1]))
    assert res.worker.tolist() == [1, 0]
    assert res.objective == pytest.approx(101.0)


def test_unassigned_reasons_distinguish_no_eligible_from_capacity() -> None:
    eligible = np.array([[False, False], [True, False], [True, False]])
    cost = np.where(eligible, 1.0, np.inf)
    res = solve_assignment(lambda t, w, k: cost[t, w], eligible, np.array([1, 5]))
    assert res.unassigned_reason[0] == NO_ELIGIBLE
    assert sorted(r for r in res.unassigned_reason[1:] if r) == [CAPACITY]
    assert res.n_assigned == 1


def test_workers_without_remaining_capacity_are_never_used() -> None:
    cost = np.ones((2, 2))
    res = solve_assignment(lambda t, w, k: cost[t, w], np.ones((2, 2), bool), np.array([0, 1]))
    assert res.worker.tolist().count(0) == 0
    assert res.n_assigned == 1


def test_non_finite_cost_on_an_eligible_pair_is_refused() -> None:
    cost = np.array([[np.nan]])
    with pytest.raises(ValueError, match="finite"):
        solve_assignment(lambda t, w, k: cost[t, w], np.ones((1, 1), bool), np.array([1]))
