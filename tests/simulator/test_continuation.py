"""The arrival process continued after a history: stable ids wherever it is cut, known customers only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.arrivals import generate_arrivals
from simulator.clock import MINUTES_PER_DAY
from simulator.continuation import ArrivalFeed, CustomerBase, continuation, day_tasks, tasks_between


@pytest.fixture(scope="module")
def base(small, seed) -> CustomerBase:
    history = generate_arrivals(small, 14, seed)
    return CustomerBase.from_history(small, history.customers, history.tasks)


def test_cuts_do_not_change_the_tasks(small, seed, base) -> None:
    start, middle, stop = 14.3 * MINUTES_PER_DAY, 15.61 * MINUTES_PER_DAY, 16.2 * MINUTES_PER_DAY
    whole = tasks_between(small, seed, start, stop, base)
    parts = pd.concat(
        [tasks_between(small, seed, start, middle, base), tasks_between(small, seed, middle, stop, base)],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(whole, parts)
    assert whole["t"].is_monotonic_increasing and whole["task_id"].is_unique
    assert whole["t"].min() >= start and whole["t"].max() < stop
    # about the scenario's daily rate over 1.9 days (weekday factors aside)
    assert 0.5 * 1.9 * 280 < len(whole) < 1.6 * 1.9 * 280


def test_feed_reads_forward_what_the_span_holds(small, seed, base) -> None:
    start = 20.5 * MINUTES_PER_DAY
    feed = ArrivalFeed(small, seed, base, start)
    steps = [feed.until(start + m) for m in np.arange(37.0, 2 * MINUTES_PER_DAY, 37.0)]
    got = pd.concat(steps, ignore_index=True)
    want = tasks_between(small, seed, start, feed.cursor, base)
    pd.testing.assert_frame_equal(got, want)


def test_tasks_come_from_known_customers_of_their_province(small, seed, base) -> None:
    tasks = day_tasks(small, seed, 30, base)
    known = base.customers["customer_id"].to_numpy()
    assert tasks["customer_id"].isin(known).all()
    rows = tasks["cust"].to_numpy()
    for p in range(len(small.provinces)):
        own = set(base.by_province[p].tolist())
        assert set(rows[tasks["p"].to_numpy() == p].tolist()) <= own
    assert (known[rows] == tasks["customer_id"].to_numpy()).all()
    assert tasks["task_id"].str.fullmatch(r"T0030-\d{5}").all()


def test_other_days_and_seeds_draw_other_tasks(small, seed, base) -> None:
    a, b = day_tasks(small, seed, 30, base), day_tasks(small, seed, 31, base)
    c = day_tasks(small, seed + 1, 30, base)
    assert not np.array_equal(
        a["t"].to_numpy() % MINUTES_PER_DAY, b["t"].to_numpy()[: len(a)] % MINUTES_PER_DAY
    )
    assert len(a) != len(c) or not np.array_equal(a["t"].to_numpy(), c["t"].to_numpy())


def test_continuation_is_a_replayable_arrivals(small, seed, base) -> None:
    arrivals = continuation(small, seed, 15.5 * MINUTES_PER_DAY, 16.5 * MINUTES_PER_DAY, base)
    assert arrivals.start_day == 15 and arrivals.horizon == 16.5 * MINUTES_PER_DAY
    assert arrivals.tasks["cust"].max() < len(arrivals.customers)
