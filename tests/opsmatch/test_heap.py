"""The heap is handed back only after a drop worth a full collection and a trim."""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsmatch.heap import GIVE_BACK_BYTES, frame_bytes, give_back


def test_small_drops_are_not_worth_a_collection_and_large_ones_are() -> None:
    assert give_back(GIVE_BACK_BYTES - 1) is False
    assert give_back(GIVE_BACK_BYTES) is True


def test_a_frame_counts_its_columns_shallowly() -> None:
    frame = pd.DataFrame({"a": np.zeros(1_000, dtype=np.int64), "b": np.zeros(1_000, dtype=np.float64)})
    assert frame_bytes(frame) == 16_000 + frame.index.memory_usage()
