"""Pure point-in-time aggregation primitives on hand-built numbers."""

from __future__ import annotations

import numpy as np
import pytest

from features.windows import DAY, HOUR, SECOND, medians_before, shrink, snapshot_grid, window_sums


def test_window_sums_counts_events_in_half_open_window_before_each_snapshot() -> None:
    snaps = np.array([0, 1, 2, 3, 10]) * DAY
    key = np.array([0, 0, 0, 1, 0])
    t = np.array([0, DAY - 1, 2 * DAY, DAY, 3 * DAY])  # the 3rd sits exactly on snapshot 2
    out = window_sums(key, t, None, 2, snaps, 2 * DAY)
    # key 0: events at 0, 1d-1us, 2d, 3d. Snapshot s counts s-2d <= t < s.
    assert out[0].tolist() == [0, 2, 2, 1, 0]  # at 3d the window [1d, 3d) holds only the 2d event
    assert out[1].tolist() == [0, 0, 1, 1, 0]


def test_window_sums_all_history_and_weights_and_nan_values_ignored() -> None:
    snaps = np.array([1, 2, 3]) * DAY
    out = window_sums(
        np.zeros(3, int), np.array([0, DAY, DAY + 5]), np.array([2.0, np.nan, 5.0]), 1, snaps, None
    )
    assert out[0].tolist() == [2.0, 7.0, 7.0]


def test_window_includes_event_exactly_window_before_snapshot() -> None:
    out = window_sums(np.array([0]), np.array([0]), None, 1, np.array([7 * DAY, 7 * DAY + 1]), 7 * DAY)
    assert out[0].tolist() == [1, 0]


def test_shrink_moves_from_prior_to_empirical_with_evidence() -> None:
    assert shrink(0, 0, 0.8, 20) == pytest.approx(0.8)
    assert shrink(10, 10, 0.8, 20) == pytest.approx((10 + 16) / 30)
    assert shrink(500, 1000, 0.8, 20) == pytest.approx((500 + 16) / 1020)
    assert np.isnan(shrink(0, 0, np.nan, 20))


def test_medians_before_uses_only_earlier_events_per_group() -> None:
    group = np.array([0, 0, 0, 1])
    t = np.array([1, 2, 3, 1]) * HOUR
    v = np.array([10.0, 30.0, 20.0, 7.0])
    out = medians_before(group, t, v, 2, np.array([1, 2, 3, 4]) * HOUR)
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 0])
    assert out[0, 1:].tolist() == [10.0, 20.0, 20.0]
    assert out[1, 1:].tolist() == [7.0, 7.0, 7.0]


def test_snapshot_grid_has_boundaries_and_a_latest_snapshot_after_the_last_event() -> None:
    grid = snapshot_grid(DAY + 5, 3 * DAY + 7 * SECOND + 1, DAY)
    assert grid[:3].tolist() == [DAY, 2 * DAY, 3 * DAY]
    assert grid[-1] == 3 * DAY + 8 * SECOND
    assert grid[-1] > 3 * DAY + 7 * SECOND + 1
