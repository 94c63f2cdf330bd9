"""Switching dispatch between two policies by time slice, and an event log made that way on the twin.

``AlternatingPolicy`` delegates every callback to the policy of the current slice of ``view.now``; the
deciding policy's name is written as ``assignments.policy``. Schedules: ``"alternate"`` (on, off, on, ...
with the phase flipped every day when a day holds an even number of slices, so every hour of the day
sees both policies) or ``"random"`` (a balanced random half of each day's slices on, seeded). At a switch
the incoming policy takes over the state: a greedy one is offered every idle worker, a batch one acts at
its next tick.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from evaluation.replay import EvalPeriod, run_policy
from simulator.clock import MINUTES_PER_DAY
from simulator.engine import SimResult
from simulator.outcomes import task_outcomes
from simulator.policies import Policy
from simulator.state import SimView
from simulator.tables import event_tables

SCHEDULES = ("alternate", "random")


class AlternatingPolicy(Policy):
    """Delegates to ``on`` or ``off`` by slice of ``view.now`` (see the module docstring)."""

    def __init__(
        self,
        on: Policy,
        off: Policy,
        slice_minutes: float = 60.0,
        schedule: str = "alternate",
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}")
        if on.name == off.name:
            raise ValueError("the two policies need different names (they label the assignments)")
        self.on, self.off = on, off
        self.slice = float(slice_minutes)
        self.schedule, self.seed = schedule, seed
        self.name = name or f"alternating({on.name}|{off.name})"
        ticks = [p.tick_minutes for p in (on, off) if p.tick_minutes]
        self.tick_minutes = min(ticks) if ticks else self.slice
        self._active: Policy | None = None
        self._random: dict[int, list[bool]] = {}

    def start(self, view: SimView, rng: random.Random) -> None:
        super().start(view, rng)
        self.origin = view.now
        self.on.start(view, random.Random(rng.random()))
        self.off.start(view, random.Random(rng.random()))

    def is_on(self, now: float) -> bool:
        """Whether the ``on`` policy decides at simulation minute ``now``."""
        k = int((now - self.origin) // self.slice)
        per_day = max(int(round(MINUTES_PER_DAY / self.slice)), 1)
        day, j = divmod(k, per_day)
        if self.schedule == "random":
            if day not in self._random:
                flags = [i < per_day // 2 + (per_day % 2 and day % 2) for i in range(per_day)]
                random.Random(self.seed * 100_003 + day).shuffle(flags)
                self._random[day] = flags
            return self._random[day][j]
        flip = day % 2 if per_day % 2 == 0 else 0
        return (k + flip) % 2 == 0

    def _current(self, view: SimView) -> Policy:
        policy = self.on if self.is_on(view.now) else self.off
        if policy is not self._active:
            self._active = policy
            if not policy.tick_minutes:  # a greedy policy takes over the idle workers now
                self._call(
                    view,
                    policy,
                    lambda p: [p.on_worker_free(view, w) for w in view.all_idle() if view.is_idle(w)],
                )
        return policy

    @staticmethod
    def _call(view: SimView, policy: Policy, fn) -> None:  # noqa: ANN001 - callback
        saved = view.policy_name
        view.policy_name = policy.name
        try:
            fn(policy)
        finally:
            view.policy_name = saved

    def on_task(self, view: SimView, task: int) -> None:
        policy = self._current(view)
        self._call(view, policy, lambda p: p.on_task(view, task))

    def on_worker_free(self, view: SimView, worker: int) -> None:
        policy = self._current(view)
        self._call(view, policy, lambda p: p.on_worker_free(view, worker))

    def on_tick(self, view: SimView) -> None:
        policy = self._current(view)
        tick = policy.tick_minutes
        if tick and abs(((view.now - self.origin) / tick) - round((view.now - self.origin) / tick)) < 1e-9:
            self._call(view, policy, lambda p: p.on_tick(view))


def alternating_log(
    period: EvalPeriod,
    on: Policy,
    off: Policy,
    *,
    slice_minutes: float = 60.0,
    schedule: str = "alternate",
    seed: int = 0,
    read_after_days: float = 30.0,
    out_dir: Path | str | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> tuple[dict[str, pd.DataFrame], SimResult]:
    """Replay ``period`` switching between ``on`` and ``off``; return the contract tables as a real log
    would hold them ``read_after_days`` after the last completion (so complaints have time to arrive),
    and the replay. Writes the tables as Parquet into ``out_dir`` when given (an events dir that
    ``estimate_uplift`` reads); ``progress`` gets simulated days."""
    policy = AlternatingPolicy(on, off, slice_minutes, schedule, seed)
    result = run_policy(period, policy, progress=progress)
    outcomes = task_outcomes(result)
    tables = event_tables(replace(result, end=result.end + read_after_days * MINUTES_PER_DAY), outcomes)
    if out_dir is not None:
        write_tables(tables, Path(out_dir))
    return tables, result


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path) -> Path:
    """Each table as ``<name>.parquet`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
    return out_dir
