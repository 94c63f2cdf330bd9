"""The twin's arrival process after its history: day chunks with stable ids, on the existing customers.

A history's arrivals are drawn in one piece (``generate_arrivals(config, days, seed)``), so drawing a
longer piece would not repeat them. What comes after the history is drawn one simulation day at a time
(``generate_arrivals(config, 1, seed, start_day=day)``: its own seeded stream), numbered within the day
(``T<day>-<n>``, stable wherever the day is cut) and cut to the wanted span. New tasks come from the
customers the centre already knows (the history's), picked per province with the scenario's repeat skew,
because customers are master data the intake does not create. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from opsmatch.contract import CHANNELS, VALUE_BANDS
from simulator.arrivals import VALUE_AMOUNT, Arrivals, generate_arrivals
from simulator.clock import MINUTES_PER_DAY, to_minutes
from simulator.scenario import ScenarioConfig

CUSTOMER_STREAM = 52
TASK_COLUMNS = (
    "task_id",
    "task_type",
    "province_id",
    "customer_id",
    "created_at",
    "sla_due_at",
    "complexity",
    "channel",
    "amount",
)


@dataclass(frozen=True)
class CustomerBase:
    """The known customers (contract ``customers`` rows) and, per province index, the rows of its own."""

    customers: pd.DataFrame
    by_province: tuple[np.ndarray, ...]

    @classmethod
    def from_history(
        cls, config: ScenarioConfig, customers: pd.DataFrame, tasks: pd.DataFrame
    ) -> CustomerBase:
        """Customers belong to the province of their first task (``tasks``: customer_id, province_id)."""
        customers = customers.reset_index(drop=True)
        first = tasks.drop_duplicates("customer_id").set_index("customer_id")["province_id"]
        province = customers["customer_id"].map(first)
        rows = []
        for i in range(len(config.provinces)):
            own = np.flatnonzero((province == config.province_id(i)).fillna(False).to_numpy(dtype=bool))
            rows.append(own if len(own) else np.arange(len(customers)))  # a province without history
        return cls(customers, tuple(rows))


def day_tasks(config: ScenarioConfig, seed: int, day: int, base: CustomerBase) -> pd.DataFrame:
    """Every task arriving in simulation day ``day`` (contract columns + ``t``, ``p``, ``k``, ``cust``:
    the row of its customer in ``base.customers``), ids ``T<day>-<n>``."""
    drawn = generate_arrivals(config, 1, seed, start_day=day)
    tasks = drawn.tasks.copy()
    n = len(tasks)
    rng = np.random.default_rng([seed, CUSTOMER_STREAM, day])
    p = tasks["p"].to_numpy()
    u = rng.random(n) ** config.demand.repeat_skew
    cust = np.empty(n, dtype=int)
    for province in np.unique(p):
        at = np.flatnonzero(p == province)
        own = base.by_province[int(province)]
        cust[at] = own[np.minimum((u[at] * len(own)).astype(int), len(own) - 1)]
    known = base.customers.iloc[cust]
    # the channel follows the customer's own (as for the history's customers); the amount its value band
    own_channel = rng.random(n) < 0.75
    tasks["channel"] = np.where(
        own_channel, known["channel"].to_numpy(), np.asarray(CHANNELS)[rng.integers(0, len(CHANNELS), n)]
    )
    drawn_band = drawn.customers["policy_value_band"].to_numpy()[tasks["cust"].to_numpy()]
    scale = (
        np.asarray(VALUE_AMOUNT)[_band(known["policy_value_band"].to_numpy())]
        / np.asarray(VALUE_AMOUNT)[_band(drawn_band)]
    )
    tasks["amount"] = np.round(tasks["amount"].to_numpy() * scale, 2)
    tasks["customer_id"] = known["customer_id"].to_numpy()
    tasks["cust"] = cust
    tasks["task_id"] = [f"T{day:04d}-{i + 1:05d}" for i in range(n)]
    return tasks.reset_index(drop=True)


def _band(values: np.ndarray) -> np.ndarray:
    return np.asarray(pd.Categorical(values, categories=VALUE_BANDS).codes)


def tasks_between(
    config: ScenarioConfig, seed: int, start: float, stop: float, base: CustomerBase
) -> pd.DataFrame:
    """The tasks arriving in [start, stop) simulation minutes, in arrival order."""
    if stop <= start:
        return day_tasks(config, seed, int(start // MINUTES_PER_DAY), base).iloc[:0]
    days = range(int(start // MINUTES_PER_DAY), int(np.ceil(stop / MINUTES_PER_DAY)))
    frames = [day_tasks(config, seed, day, base) for day in days]
    tasks = pd.concat(frames, ignore_index=True)
    t = tasks["t"].to_numpy()
    return tasks[(t >= start) & (t < stop)].reset_index(drop=True)


def continuation(
    config: ScenarioConfig, seed: int, start: float, stop: float, base: CustomerBase
) -> Arrivals:
    """The arrivals in [start, stop) as an ``Arrivals`` a replay can run (customers = ``base``'s)."""
    tasks = tasks_between(config, seed, start, stop, base)
    first_day = int(start // MINUTES_PER_DAY)
    days = max(int(np.ceil(stop / MINUTES_PER_DAY)) - first_day, 1)
    empty = pd.DataFrame({"province_id": [], "local_day": [], "factor": []})
    arrivals = Arrivals(tasks, base.customers.reset_index(drop=True), empty, first_day, days)
    return replace(arrivals, end_minute=float(stop))


class ArrivalFeed:
    """The continued arrival process read forward in steps: ``until(stop)`` gives the tasks arriving
    in [cursor, stop) and moves the cursor (the current day's draw is kept)."""

    def __init__(self, config: ScenarioConfig, seed: int, base: CustomerBase, start: float) -> None:
        self.config, self.seed, self.base, self.cursor = config, seed, base, start
        self._day: tuple[int, pd.DataFrame] | None = None

    def _tasks_of(self, day: int) -> pd.DataFrame:
        if self._day is None or self._day[0] != day:
            self._day = (day, day_tasks(self.config, self.seed, day, self.base))
        return self._day[1]

    def until(self, stop: float) -> pd.DataFrame:
        """The tasks arriving in [cursor, stop), in arrival order."""
        start, frames = self.cursor, []
        for day in range(int(start // MINUTES_PER_DAY), int(np.ceil(stop / MINUTES_PER_DAY))):
            tasks = self._tasks_of(day)
            t = tasks["t"].to_numpy()
            frames.append(tasks[(t >= start) & (t < stop)])
        self.cursor = max(stop, start)
        if not frames:
            return self._tasks_of(int(start // MINUTES_PER_DAY)).iloc[:0]
        return pd.concat(frames, ignore_index=True)


def minute_of(config: ScenarioConfig, at: pd.Timestamp) -> float:
    """Simulation minutes of a timestamp."""
    return float(to_minutes(config, pd.DatetimeIndex([pd.Timestamp(at)]))[0])
