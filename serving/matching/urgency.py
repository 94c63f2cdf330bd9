"""How urgent a task is by the time left before its SLA, pure: overdue > near the SLA > normal.

"Near the SLA" has two named thresholds in the policy, because they serve two different ends:

- ``dispatch.sla_near_hours`` (6 h by default): the priority level of ``/assign``, the ``urgency`` of
  ``GET /tasks``, and the twin's ML ranking when a freed worker picks its next task. Wide, so that the
  tasks due over a weekend are served before Monday's (``bench/bench_batch_urgency.py``).
- ``alerts.sla_near_hours`` (2 h by default): the ``sla_near`` alert and the board's *SLA near* count.
  Narrow, so that a supervisor is called only when the dispatch priority has not been enough.

A task is overdue once its SLA has passed, near while less than the threshold is left.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

OVERDUE, NEAR_SLA, NORMAL = 2, 1, 0
Urgency = Literal["overdue", "near_sla", "normal"]
NAMES: dict[int, Urgency] = {OVERDUE: "overdue", NEAR_SLA: "near_sla", NORMAL: "normal"}


def level(seconds_left: float, near_hours: float) -> int:
    """One task's level: OVERDUE, NEAR_SLA (less than ``near_hours`` left) or NORMAL."""
    return OVERDUE if seconds_left < 0 else NEAR_SLA if seconds_left < near_hours * 3600.0 else NORMAL


def levels(minutes_left: np.ndarray, near_hours: float) -> np.ndarray:
    """:func:`level` of each task, from the minutes left before each SLA (negative when overdue)."""
    left = np.asarray(minutes_left, dtype=float)
    near = left < near_hours * 60.0
    return np.where(left < 0, OVERDUE, np.where(near, NEAR_SLA, NORMAL)).astype(np.int64)
