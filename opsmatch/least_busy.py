"""The least-busy baseline's one rule, pure: which of the candidate workers is least busy.

National skills-based routing, the old way of the field: among the eligible workers with room left, the
lowest load ratio (load / capacity), then the lowest load, then the first candidate. The service's
switchback arm (``serving.matching.baselines``: open tasks over the concurrent limit) and the twin's
``national_least_busy`` (``simulator.policies``: tasks taken this shift over the per-shift capacity)
both decide with it, so the twin A/B and the field switchback compare ML with the same baseline.
"""

from __future__ import annotations

import numpy as np


def least_busy(candidates: np.ndarray, load: np.ndarray, capacity: np.ndarray) -> int:
    """The least busy of ``candidates`` (worker indices into ``load`` and ``capacity``; not empty)."""
    cand = np.asarray(candidates, dtype=np.int64)
    used = np.asarray(load, dtype=np.int64)[cand]
    ratio = used / np.maximum(np.asarray(capacity, dtype=np.int64)[cand], 1)
    return int(cand[np.lexsort((np.arange(len(cand)), used, ratio))[0]])
