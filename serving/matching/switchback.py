"""A/B switches in the service, pure: which arm of a switchback experiment decides at time ``t``.

The experiment (``Policy.experiment``, set through ``PUT /policy``) switches dispatch between ML
(:data:`ML_ARM`) and a baseline arm (``least_busy`` or ``fifo``) in slices of ``slice_minutes`` on a
grid aligned to the UTC epoch, the grid ``opsmatch uplift`` (``evaluation/field.py``) reads back.
Schedules: ``alternate`` (on, off, on, ... with the phase flipped every other day when a day holds an
even number of slices, so every hour of the day sees both arms) or ``random`` (a seeded, balanced
random half of each day's slices). Scope ``national``: one schedule for the country; ``province``:
each province its own (its phase or shuffle seeded by its id), so at any moment about half of the
provinces run each arm. Within ``settle_minutes`` after a switch the new arm decides but the decision
is flagged ``settling`` (the previous arm's backlog still weighs; the analysis leaves it out). With no
experiment running, ML decides. The arm is what a committed assignment records as its policy.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from serving.config import Experiment

ML_ARM = "ml"
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class ArmDecision:
    """The deciding arm at one instant, and the slice it belongs to (``None`` without an experiment)."""

    arm: str
    in_experiment: bool
    slice_index: int | None = None
    slice_start: datetime | None = None
    slice_end: datetime | None = None
    settling: bool = False


def _stable(*parts: object) -> int:
    """A process-independent integer hash (Python's ``hash`` of str is salted per process)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def _per_day(exp: Experiment) -> int:
    return max(int(round(MINUTES_PER_DAY / exp.slice_minutes)), 1)


def ml_on(exp: Experiment, k: int, key: str) -> bool:
    """Whether ML decides slice ``k`` (epoch-aligned index) of the schedule ``key`` (country or province)."""
    per_day = _per_day(exp)
    day, j = divmod(k, per_day)
    if exp.schedule == "random":
        flags = [i < per_day // 2 + (per_day % 2 and day % 2) for i in range(per_day)]
        random.Random(_stable(exp.seed, key, day)).shuffle(flags)
        return bool(flags[j])
    flip = day % 2 if per_day % 2 == 0 else 0
    phase = _stable(exp.seed, key) % 2 if key else 0
    return (k + flip + phase) % 2 == 0


def arm_at(exp: Experiment, t: datetime, province_id: str | None = None) -> ArmDecision:
    """The arm deciding at ``t`` for a task of ``province_id`` (see the module docstring)."""
    if not exp.enabled:
        return ArmDecision(ML_ARM, in_experiment=False)
    if t.tzinfo is None:
        raise ValueError("t must carry a time zone")
    if exp.scope == "province" and not province_id:
        raise ValueError("a province-scoped experiment needs the task's province")
    key = str(province_id) if exp.scope == "province" else ""
    minutes = t.astimezone(UTC).timestamp() / 60.0
    k = int(minutes // exp.slice_minutes)
    start = datetime.fromtimestamp(k * exp.slice_minutes * 60.0, UTC)
    on = ml_on(exp, k, key)
    switched = on != ml_on(exp, k - 1, key)
    settling = switched and (minutes - k * exp.slice_minutes) < exp.settle_minutes
    return ArmDecision(
        arm=ML_ARM if on else exp.baseline,
        in_experiment=True,
        slice_index=k,
        slice_start=start,
        slice_end=start + timedelta(minutes=exp.slice_minutes),
        settling=settling,
    )
