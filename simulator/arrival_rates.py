"""The twin's true arrival rates: the expected number of tasks per province x type x interval.

The same law :func:`simulator.arrivals.generate_arrivals` samples from (the random surges and type
mixes drawn again from the same seed), integrated over each interval. Hidden truth: only evaluation
reads it, to put a floor under the forecast's backtest.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from simulator.arrivals import ARRIVAL_STREAM, _arrival_times, _profile, _surges
from simulator.clock import MINUTES_PER_DAY, to_timestamps
from simulator.scenario import ScenarioConfig


def true_counts(
    config: ScenarioConfig, days: int, seed: int, *, interval_minutes: int = 30, start_day: int = 0
) -> pd.DataFrame:
    """Expected arrivals ``start`` (UTC), ``province_id``, ``task_type``, ``expected`` per interval of
    the ``days`` generated from ``start_day`` with ``seed`` (as ``generate_arrivals`` drew them)."""
    rng = np.random.default_rng([seed, ARRIVAL_STREAM, start_day])
    surge = _surges(config, rng, days + 2)
    t0, t1 = int(start_day * MINUTES_PER_DAY), int((start_day + days) * MINUTES_PER_DAY)
    _arrival_times(config, rng, t0, t1, surge, day0=start_day - 1)  # advances the stream as it did
    types = config.task_types
    base_mix = np.array([tt.share for tt in types])
    base_mix = base_mix / base_mix.sum()
    mix = rng.dirichlet(base_mix * config.demand.type_mix_concentration, size=len(config.provinces))
    dem = config.demand
    share = np.array([p.demand for p in config.provinces])
    share = share / share.sum()
    wk = np.asarray(dem.weekday_factor, dtype=float)
    wk = wk / wk.mean()
    minutes = np.arange(t0, t1) + 0.5  # midpoint rule, one-minute steps
    n_int = (t1 - t0) // interval_minutes
    frames = []
    for p in range(len(config.provinces)):
        m0, wd0 = config.local_origin(p)
        local = minutes + m0
        day = np.floor(local / MINUTES_PER_DAY).astype(int)
        sidx = np.clip(day - (start_day - 1), 0, surge.shape[1] - 1)
        rate = dem.tasks_per_day * share[p] / MINUTES_PER_DAY * wk[(wd0 + day) % 7] * surge[p, sidx]
        rate = rate * _profile(config, p, (local % MINUTES_PER_DAY) / 60)
        per_interval = rate.reshape(n_int, interval_minutes).sum(axis=1)
        starts = t0 + np.arange(n_int) * interval_minutes
        for k, tt in enumerate(types):
            frames.append(
                pd.DataFrame(
                    {
                        "start": to_timestamps(config, starts),
                        "province_id": config.province_id(p),
                        "task_type": tt.name,
                        "expected": per_interval * mix[p, k],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def surge_days(config: ScenarioConfig, days: int, seed: int, start_day: int = 0) -> pd.DataFrame:
    """The hidden surges: ``province_id``, ``local_day`` (dates in the province's zone), ``factor``."""
    rng = np.random.default_rng([seed, ARRIVAL_STREAM, start_day])
    surge = _surges(config, rng, days + 2)
    rows = []
    for p, d in zip(*np.nonzero(surge > 1), strict=True):
        zone = ZoneInfo(config.provinces[int(p)].timezone)
        first = pd.Timestamp(config.start.astimezone(zone).date())  # local day 0
        rows.append(
            {
                "province_id": config.province_id(int(p)),
                "day": first + pd.Timedelta(days=int(d) + start_day - 1),
                "factor": float(surge[p, d]),
            }
        )
    return pd.DataFrame(rows, columns=["province_id", "day", "factor"])
