"""Outcome features from raw window sums: the declarative tables and the one function that applies them.

Each shrunk rate is ``(numerator + k * prior) / (denominator + k)`` over raw window sums (see
``features.windows.shrink``), the prior being the population's ``numerator / denominator`` over the same
sums; each count is a raw sum as is. The batch pipeline (``features.worker_features``, every snapshot)
and the online outcome updates (``features.outcomes``, priors frozen at the snapshot) both go through
:func:`shrunk_rates` and :func:`population_priors`, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.spec import PSEUDO_COUNTS, RATE_WINDOW_DAYS, THROUGHPUT_WINDOWS_DAYS
from features.windows import ratio, shrink

RATE_DONE = f"done_{RATE_WINDOW_DAYS}d"  # completions in the rate window: the complaint rate's denominator


@dataclass(frozen=True)
class ShrunkRate:
    """One shrunk rate: feature name, raw sums it divides, the prior it is shrunk toward and how hard."""

    feature: str
    numerator: str
    denominator: str
    prior: str  # population prior name; stored as ``prior_<name>`` in the type_stats table
    strength: float  # pseudo-count k: events at which the worker's own evidence weighs as much as the prior


def _rate(feature: str, numerator: str, denominator: str, prior: str) -> ShrunkRate:
    return ShrunkRate(feature, numerator, denominator, prior, PSEUDO_COUNTS[prior])


# Per worker (over all task types), shrunk toward the population.
WORKER_RATES: tuple[ShrunkRate, ...] = (
    _rate("worker_qa_pass_rate", "qa_pass", "qa_n", "qa"),
    _rate("worker_complaint_rate", "complaints", RATE_DONE, "complaint"),
    _rate("worker_handling_ratio", "ratio_sum", "ratio_n", "handling"),
    _rate("worker_satisfaction", "sat_sum", "sat_n", "satisfaction"),
)
# Per worker x task type, shrunk toward the task type's population.
PAIR_RATES: tuple[ShrunkRate, ...] = (
    _rate("wt_qa_pass_rate", "qa_pass", "qa_n", "qa"),
    _rate("wt_complaint_rate", "complaints", RATE_DONE, "complaint"),
    _rate("wt_handling_ratio", "ratio_sum", "ratio_n", "handling"),
)
# Counts: feature -> raw sum.
WORKER_COUNTS: dict[str, str] = {
    **{f"worker_done_{d}d": f"done_{d}d" for d in THROUGHPUT_WINDOWS_DAYS},
    "worker_qa_checked_90d": "qa_n",
    "worker_complaints_90d": "complaints",
}
PAIR_COUNTS: dict[str, str] = {
    "wt_done_total": "done_total",
    "wt_done_90d": "done_90d",
    "wt_qa_checked_90d": "qa_n",
}


def prior_names(rates: Sequence[ShrunkRate]) -> list[str]:
    """The priors a table shrinks toward, in table order."""
    return list(dict.fromkeys(r.prior for r in rates))


def population_priors(rates: Sequence[ShrunkRate], sums: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each prior as the population's numerator / denominator (sums over axis 0, the workers)."""
    return {r.prior: ratio(sums[r.numerator].sum(0), sums[r.denominator].sum(0)) for r in rates}


def shrunk_rates(
    rates: Sequence[ShrunkRate], sums: Mapping[str, np.ndarray], priors: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Every rate of the table from raw ``sums`` and ``priors`` (by prior name), aligned arrays."""
    return {
        r.feature: shrink(sums[r.numerator], sums[r.denominator], priors[r.prior], r.strength) for r in rates
    }


def counts(table: Mapping[str, str], sums: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every count of the table from raw ``sums``."""
    return {feature: sums[name] for feature, name in table.items()}
