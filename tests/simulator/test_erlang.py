"""Erlang C formulas, and the M/M/N scenario reproducing them within Monte-Carlo error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.arrivals import generate_arrivals
from simulator.engine import simulate
from simulator.erlang import erlang_b, erlang_c, mean_wait, service_level
from simulator.policies import LegacyPolicy
from simulator.scenario import load_scenario


def _erlang_c_direct(a: float, n: int) -> float:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def test_erlang_c_domain_example() -> None:
    assert erlang_c(10, 13) == pytest.approx(0.285, abs=0.0005)
    assert erlang_c(10, 13) == pytest.approx(_erlang_c_direct(10, 13), rel=1e-12)


@pytest.mark.parametrize(("a", "n"), [(1.5, 2), (10, 13), (18, 20), (45.5, 50)])
def test_erlang_c_matches_the_textbook_sum(a: float, n: int) -> None:
    assert erlang_c(a, n) == pytest.approx(_erlang_c_direct(a, n), rel=1e-9)


def test_erlang_edge_cases_and_derived_figures() -> None:
    assert erlang_b(5, 0) == 1.0
    assert erlang_c(13, 13) == 1.0 and mean_wait(14, 13, 10) == math.inf
    pw = erlang_c(10, 13)
    assert mean_wait(10, 13, 10) == pytest.approx(pw * 10 / 3)
    assert service_level(10, 13, 10, 0) == pytest.approx(1 - pw)
    assert service_level(10, 13, 10, 5) > service_level(10, 13, 10, 1)
    assert erlang_c(10, 14) < erlang_c(10, 13)  # one more server, less waiting


def _mmc_waits(servers: int, load: float, days: int, seed: int) -> np.ndarray:
    """Waits (minutes) of the mmc scenario with ``servers`` and offered load ``load`` (AHT 10 min),
    after one day of warm-up."""
    cfg = load_scenario("mmc")
    aht = cfg.task_types[0].median_minutes
    cfg = cfg.model_copy(
        update={
            "workforce": cfg.workforce.model_copy(update={"workers": servers}),
            "demand": cfg.demand.model_copy(update={"tasks_per_day": load / aht * 1440}),
        }
    )
    arrivals = generate_arrivals(cfg, days, seed)
    result = simulate(cfg, arrivals, LegacyPolicy(explore=True), seed, record_status=False)
    created = arrivals.tasks["t"].to_numpy()
    keep = (created > 1440) & ~np.isnan(result.started)
    assert keep.mean() > 0.95
    return (result.started - created)[keep]


def _batch_ci(values: np.ndarray, batches: int = 20) -> tuple[float, float]:
    """Mean and batch-means standard error."""
    means = np.array([b.mean() for b in np.array_split(values, batches)])
    return float(means.mean()), float(means.std(ddof=1) / np.sqrt(batches))


@pytest.mark.parametrize(("servers", "load"), [(13, 10.0), (20, 18.0)])
def test_mmc_reproduces_erlang_c(servers: int, load: float) -> None:
    waits = _mmc_waits(servers, load, days=60, seed=11)
    pw, pw_se = _batch_ci((waits > 0).astype(float))
    asa, asa_se = _batch_ci(waits)
    theory_pw, theory_asa = erlang_c(load, servers), mean_wait(load, servers, 10.0)
    assert abs(pw - theory_pw) < 3 * pw_se, (pw, pw_se, theory_pw)
    assert abs(asa - theory_asa) < 3 * asa_se, (asa, asa_se, theory_asa)
    # the CI is tight enough to mean something: it would reject one server more or fewer
    assert abs(erlang_c(load, servers + 1) - pw) > 3 * pw_se
    assert abs(erlang_c(load, servers - 1) - pw) > 3 * pw_se
    sl = float((waits <= 2.0).mean())  # service level at 2 minutes
    assert sl == pytest.approx(service_level(load, servers, 10.0, 2.0), abs=4 * pw_se)


def test_mmc_is_homogeneous_fifo() -> None:
    cfg = load_scenario("mmc")
    arrivals = generate_arrivals(cfg, 3, 5)
    result = simulate(cfg, arrivals, LegacyPolicy(explore=True), 5, record_status=False)
    started = result.started[~np.isnan(result.started)]
    # FIFO: tasks start in arrival order
    assert np.all(np.diff(started) >= 0)
    minutes = result.minutes[~np.isnan(result.minutes)]
    assert minutes.mean() == pytest.approx(10.0, rel=0.05)
    assert np.std(minutes) / np.mean(minutes) == pytest.approx(1.0, abs=0.05)  # exponential: CV = 1
    assert np.ptp(result.workforce.truth.speed) == 0
