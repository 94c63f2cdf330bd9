"""The least-busy baseline's one rule, as the service's switchback arm and the twin's baseline use it."""

from __future__ import annotations

import numpy as np

from opsmatch.least_busy import least_busy


def test_lowest_load_ratio_then_lowest_load_then_first_candidate() -> None:
    load, capacity = np.array([2, 1, 3, 1, 0]), np.array([4, 1, 6, 2, 0])
    assert least_busy(np.array([0, 1, 2, 3]), load, capacity) == 3  # 1/2 beats 2/4 by load, 1/1, 3/6
    assert least_busy(np.array([2, 0]), load, capacity) == 0  # same ratio 0.5: the fewer tasks
    assert least_busy(np.array([4, 1]), load, capacity) == 4  # capacity 0 counts as 1: 0/1
    assert least_busy(np.array([3, 0, 2]), np.zeros(5), capacity) == 3  # all idle: the first candidate
