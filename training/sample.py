"""A cap on the training slice: a stratified, time-respecting sample of tasks when it holds more rows.

At ten times the default centre (``national``, 45 days) the training slices hold 0.5-1.3 M rows and the
models choose 2-3 times the trees (``handling_time`` 150 -> 475), so training time grows faster than the
rows while the test figures barely move (``docs/benchmarks.md``, "Bootstrap at 10x"). ``max_train_rows``
(params YAML) bounds it: above the cap, a share ``cap / rows`` of the tasks is kept **in every stratum**
= (UTC day of the task's first row, its label for a classifier), drawn with the params' seed. So every
day of the slice stays represented at the same rate (no recency or weekday shift), the label rate of a
classifier is kept exactly per day, and a task's rows stay together (the open-task snapshots of
``complaint_pre`` are one task seen several times). The validation and test slices are never sampled:
early stopping, calibration, the test figures and the gate's holdout see every row.

Below the cap the slice is returned as it is (the default world, 90 days, trains on <= 410 k rows per
model: unchanged).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.specs import TIMESTAMP_COL
from training.split import day_index

UNIT = "task_id"  # rows of one task are kept or dropped together


def capped_rows(frame: pd.DataFrame, cap: int | None, label: str | None, seed: int) -> pd.DataFrame:
    """``frame`` (time-sorted) when it holds at most ``cap`` rows, else the stratified task sample of
    about ``cap`` rows described in the module docstring, in the frame's own order."""
    if cap is None or len(frame) <= cap:
        return frame
    if cap <= 0:
        raise ValueError(f"max_train_rows must be positive, got {cap}")
    units = frame[UNIT].astype(str) if UNIT in frame else pd.Series(np.arange(len(frame)))
    unit_of_row = pd.factorize(units)[0]  # unit codes in order of first appearance
    first = np.unique(unit_of_row, return_index=True)[1]  # each unit's first (earliest) row
    day = day_index(frame[TIMESTAMP_COL].iloc[first])
    strata = pd.DataFrame({"day": day})
    if label is not None:
        strata["label"] = frame[label].to_numpy()[first]
    stratum = strata.groupby(list(strata.columns), sort=True, dropna=False).ngroup().to_numpy()
    rate = cap / len(frame)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(first)), stratum))  # by stratum, random within it
    size = np.bincount(stratum)
    rank = np.arange(len(order)) - np.repeat(np.cumsum(size) - size, size)  # position within its stratum
    quota = np.round(size * rate).astype(np.int64)
    keep_unit = np.zeros(len(first), dtype=bool)
    keep_unit[order] = rank < quota[stratum[order]]
    return frame.loc[keep_unit[unit_of_row]].reset_index(drop=True)
