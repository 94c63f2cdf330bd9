"""Cost of giving a task to a worker, in minute-equivalents (lower is better): each part is a quantity
in its own unit priced by the policy's weight in minute-equivalents per unit (``serving.config.Weights``).

``efficiency``      w_eff · expected handling minutes
``quality``         w_quality · P(QA fail)                       (minutes per QA failure)
``complaint``       w_complaint · P(complaint)                   (minutes per complaint)
``load``            w_load · (open tasks + 1) / capacity          (minutes at a full queue)
``cross_province``  w_cross · [worker's province != task's province]  (minutes per hand-off)
``sla``             w_sla · expected hours finished past the SLA, clipped to [0, sla_cap hours];
                    the worker finishes after its queue (open tasks × type median) plus this task.
``shift_end``       w_shift_end · expected hours worked past the end of the worker's shift, clipped
                    to [0, sla_cap] (0 when the time left is unknown, or when the policy does not price
                    it: ``dispatch.shift_end == "off"``).

The type median only estimates the queue ahead of the task; it no longer scales the parts. Every part
is non-decreasing in the worker's open tasks, so a worker's k-th extra slot never costs less than its
(k-1)-th: the assignment solver relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serving.config import Weights

PARTS: tuple[str, ...] = ("efficiency", "quality", "complaint", "load", "cross_province", "sla", "shift_end")


@dataclass(frozen=True)
class PairCosts:
    """Total cost and its weighted parts, aligned with the pairs; plus the raw quantities."""

    total: np.ndarray
    parts: dict[str, np.ndarray]
    minutes_ratio: np.ndarray  # expected minutes / type median (for the reason codes)
    load_ratio: np.ndarray
    sla_overrun: np.ndarray  # hours finished past the SLA, clipped to [0, sla_cap]
    shift_overrun: np.ndarray  # minutes past the end of the shift (<= 0: finished in time; NaN: unknown)

    def take(self, idx: np.ndarray) -> PairCosts:
        """The costs of the pairs ``idx``, in that order."""
        return PairCosts(
            total=self.total[idx],
            parts={k: v[idx] for k, v in self.parts.items()},
            minutes_ratio=self.minutes_ratio[idx],
            load_ratio=self.load_ratio[idx],
            sla_overrun=self.sla_overrun[idx],
            shift_overrun=self.shift_overrun[idx],
        )


def pair_costs(
    *,
    minutes: np.ndarray,
    p_qa_pass: np.ndarray,
    p_complaint: np.ndarray,
    type_median: np.ndarray | float,
    open_tasks: np.ndarray,
    capacity: np.ndarray,
    cross_province: np.ndarray,
    minutes_to_sla: np.ndarray | float,
    weights: Weights,
    sla_cap: float,
    minutes_left: np.ndarray | float = np.nan,
    price_shift_end: bool = True,
) -> PairCosts:
    """Cost parts of (task, worker) pairs; all inputs broadcast together.

    ``open_tasks`` is the worker's queue before this task (for the assignment's k-th extra slot,
    pass open tasks + k); ``minutes_left`` the time to the end of the worker's shift (NaN: unknown).
    """
    median = np.maximum(np.asarray(type_median, dtype=float), 1e-9)
    minutes = np.maximum(np.asarray(minutes, dtype=float), 0.0)
    open_tasks = np.asarray(open_tasks, dtype=float)
    ratio = minutes / median
    load_ratio = (open_tasks + 1.0) / np.maximum(np.asarray(capacity, dtype=float), 1.0)
    finish = open_tasks * median + minutes
    overrun = np.clip((finish - np.asarray(minutes_to_sla, dtype=float)) / 60.0, 0.0, sla_cap)
    shift_over = finish - np.asarray(minutes_left, dtype=float)
    shift_part = np.clip(np.nan_to_num(shift_over, nan=0.0) / 60.0, 0.0, sla_cap)
    if not price_shift_end:
        shift_part = np.zeros_like(shift_part)
    parts = {
        "efficiency": weights.efficiency * minutes,
        "quality": weights.quality * (1.0 - np.clip(p_qa_pass, 0.0, 1.0)),
        "complaint": weights.complaint * np.clip(p_complaint, 0.0, 1.0),
        "load": weights.load * load_ratio,
        "cross_province": weights.cross_province * np.asarray(cross_province, dtype=float),
        "sla": weights.sla * overrun,
        "shift_end": weights.shift_end * shift_part,
    }
    shape = np.broadcast_shapes(*(np.shape(v) for v in parts.values()))
    total = np.zeros(shape)
    for value in parts.values():
        total += value
    parts = {k: np.broadcast_to(v, shape) for k, v in parts.items()}
    return PairCosts(
        total=total,
        parts=parts,
        minutes_ratio=np.broadcast_to(ratio, shape),
        load_ratio=np.broadcast_to(load_ratio, shape),
        sla_overrun=np.broadcast_to(overrun, shape),
        shift_overrun=np.broadcast_to(shift_over, shape),
    )


# Thresholds of the reason codes attached to ranked workers.
FAST, SLOW = 0.85, 1.15
HIGH_QA, LOW_QA = 0.90, 0.75
LOW_COMPLAINT, HIGH_COMPLAINT = 0.05, 0.15
LOW_LOAD, HIGH_LOAD = 0.5, 0.9


def reason_codes(
    *,
    minutes_ratio: float,
    p_qa_pass: float,
    p_complaint: float,
    cross_province: bool,
    load_ratio: float,
    sla_overrun: float,
    shift_overrun: float = float("nan"),
) -> list[str]:
    """Short machine-readable reasons for one ranked worker (strengths first, then risks)."""
    good: list[str] = []
    bad: list[str] = []
    if minutes_ratio <= FAST:
        good.append("fast_on_task_type")
    elif minutes_ratio >= SLOW:
        bad.append("slow_on_task_type")
    if p_qa_pass >= HIGH_QA:
        good.append("high_qa_pass")
    elif p_qa_pass < LOW_QA:
        bad.append("qa_risk")
    if p_complaint <= LOW_COMPLAINT:
        good.append("low_complaint_risk")
    elif p_complaint >= HIGH_COMPLAINT:
        bad.append("complaint_risk")
    (bad if cross_province else good).append("cross_province" if cross_province else "same_province")
    if load_ratio <= LOW_LOAD:
        good.append("low_load")
    elif load_ratio >= HIGH_LOAD:
        bad.append("high_load")
    if sla_overrun > 0:
        bad.append("may_miss_sla")
    if shift_overrun > 0:
        bad.append("may_run_past_shift")
    return good + bad
