"""The shrinkage tables: each outcome feature declared once, over existing sums, with the spec's strengths."""

from __future__ import annotations

import numpy as np

from features.shrinkage import (
    PAIR_COUNTS,
    PAIR_RATES,
    WORKER_COUNTS,
    WORKER_RATES,
    counts,
    population_priors,
    prior_names,
    shrunk_rates,
)
from features.spec import PSEUDO_COUNTS, WORKER_PROFILE, WORKER_TYPE_PERF
from features.worker_features import PAIR_SUMS, WORKER_SUMS


def test_tables_cover_the_outcome_features_of_the_views_over_known_sums() -> None:
    for rates, count_table, sums, view in (
        (WORKER_RATES, WORKER_COUNTS, WORKER_SUMS, WORKER_PROFILE),
        (PAIR_RATES, PAIR_COUNTS, PAIR_SUMS, WORKER_TYPE_PERF),
    ):
        declared = [r.feature for r in rates] + list(count_table)
        assert len(set(declared)) == len(declared)
        assert set(declared) <= set(view.feature_names)
        assert {r.numerator for r in rates} | {r.denominator for r in rates} | set(
            count_table.values()
        ) <= set(sums)
        assert all(r.strength == PSEUDO_COUNTS[r.prior] for r in rates)
        assert all(view.dtype(r.feature) == "float" for r in rates)
        assert all(view.dtype(f) == "int" for f in count_table)
    assert set(prior_names(PAIR_RATES)) <= set(prior_names(WORKER_RATES))


def test_shrunk_rates_move_from_the_prior_to_the_worker_as_evidence_grows() -> None:
    rate = next(r for r in WORKER_RATES if r.feature == "worker_qa_pass_rate")
    sums = {rate.numerator: np.array([0.0, 5.0, 500.0]), rate.denominator: np.array([0.0, 10.0, 1000.0])}
    got = shrunk_rates([rate], sums, {rate.prior: 0.9})[rate.feature]
    k = rate.strength
    np.testing.assert_allclose(got, [0.9, (5 + k * 0.9) / (10 + k), (500 + k * 0.9) / (1000 + k)])
    assert got[0] > got[1] > got[2] > 0.5


def test_population_priors_pool_the_workers_and_counts_pass_sums_through() -> None:
    sums = {n: np.arange(6, dtype=float).reshape(3, 2) + i for i, n in enumerate(WORKER_SUMS)}
    priors = population_priors(WORKER_RATES, sums)
    for r in WORKER_RATES:
        np.testing.assert_allclose(priors[r.prior], sums[r.numerator].sum(0) / sums[r.denominator].sum(0))
    assert counts(WORKER_COUNTS, sums)["worker_qa_checked_90d"] is sums["qa_n"]
