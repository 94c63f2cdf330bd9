"""Arrival forecasts per province x task type x 30 minutes, reconciled across type -> province -> nation.

Two library steps and one split, all linear in the day's level:

1. **Daily totals** of every series of the hierarchy (nation, provinces, province x type) are forecast
   by statsforecast (``AutoETS`` with weekly seasonality by default, native prediction intervals).
2. They are **reconciled** by hierarchicalforecast (``TopDown`` on average historical proportions by
   default: the national series carries the signal, the provinces' and types' shares are stable; or
   ``MinTrace``), so types add up to their province and provinces to the nation, day by day.
3. Each day is **split into 30-minute intervals** by the province's intraday profile, forecast by
   statsforecast's ``SeasonalWindowAverage`` over the last weeks (same weekday and slot): a temporal
   top-down split. Types share their province's profile, so the intervals add up exactly too.

Interval bounds at 30 minutes are Poisson quantiles around the day's bounds split the same way (a
count in half an hour is Poisson given its rate; the rate is uncertain within the day's interval).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson

from training.arrival_counts import SLOT_MINUTES, SLOTS_PER_DAY, History

ALL = "all"  # province_id / task_type of an aggregate row
SPEC = [["nation"], ["nation", "province_id"], ["nation", "province_id", "task_type"]]
LEVEL_NAMES = {"nation": "nation", "nation/province_id": "province", "nation/province_id/task_type": "type"}
MODELS = ("ets",)
RECONCILERS = ("topdown", "mint", "bottomup")


@dataclass(frozen=True)
class ForecastSpec:
    """How a forecast is made (logged to MLflow as its parameters)."""

    horizon_days: int = 14
    model: str = "ets"  # daily base model: AutoETS with weekly seasonality
    reconciler: str = "topdown"
    profile_weeks: int = 4  # weeks averaged for the intraday profile
    level: int = 80  # prediction interval, %

    def params(self) -> dict[str, Any]:
        return asdict(self)


def daily_hierarchy(history: History) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Daily totals of every series (``unique_id`` like ``all/P01/renewal``), the summing matrix, tags."""
    from hierarchicalforecast.utils import aggregate

    c = history.counts
    daily = c.assign(ds=c["ds"].dt.floor("D")).groupby(["province_id", "task_type", "ds"], as_index=False)[
        "y"
    ]
    bottom = daily.sum().assign(nation=ALL)
    y_df, s_df, tags = aggregate(bottom, SPEC)
    return y_df, s_df, tags


def _daily_model(spec: ForecastSpec) -> Any:
    from statsforecast.models import AutoETS

    if spec.model == "ets":
        return AutoETS(season_length=7, alias="base")
    raise ValueError(f"unknown model {spec.model!r}; one of {MODELS}")


def _reconciler(spec: ForecastSpec) -> Any:
    from hierarchicalforecast.methods import BottomUp, MinTrace, TopDown

    if spec.reconciler == "topdown":
        return TopDown(method="average_proportions")
    if spec.reconciler == "mint":
        return MinTrace(method="wls_struct")
    if spec.reconciler == "bottomup":
        return BottomUp()
    raise ValueError(f"unknown reconciler {spec.reconciler!r}; one of {RECONCILERS}")


def _base_forecasts(y_df: pd.DataFrame, tags: dict[str, np.ndarray], spec: ForecastSpec) -> pd.DataFrame:
    """Base daily forecasts with intervals. Top-down reconciliation reads only the nation's, so the
    others then come from seasonal naive (cheap; the same columns) instead of fitting every series."""
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    naive = SeasonalNaive(season_length=7, alias="base")
    top = y_df["unique_id"].isin(tags["nation"])
    parts = [(y_df[top], _daily_model(spec))]
    if spec.reconciler == "topdown":
        parts.append((y_df[~top], naive))
    else:
        parts[0] = (y_df, _daily_model(spec))
    frames = []
    for frame, model in parts:
        if frame.empty:
            continue
        sf = StatsForecast(models=[model], freq="D", n_jobs=1, fallback_model=naive)
        frames.append(sf.forecast(df=frame, h=spec.horizon_days, level=[spec.level]))
    base = pd.concat(frames, ignore_index=True)
    base["base"] = base["base"].clip(lower=0)
    return base


def forecast_daily(history: History, spec: ForecastSpec) -> pd.DataFrame:
    """Reconciled daily forecasts: ``unique_id, ds, mean, low, high`` for every series."""
    from hierarchicalforecast.core import HierarchicalReconciliation

    y_df, s_df, tags = daily_hierarchy(history)
    level = [spec.level]
    base = _base_forecasts(y_df, tags, spec)
    with warnings.catch_warnings():  # a series with no arrivals on a day: a 0/0 share, averaged out
        warnings.simplefilter("ignore", RuntimeWarning)
        rec = HierarchicalReconciliation(reconcilers=[_reconciler(spec)]).reconcile(
            Y_hat_df=base, Y_df=y_df, S_df=s_df, tags=tags, level=level
        )
    mean_col = next(c for c in rec.columns if c.startswith("base/") and "-lo-" not in c and "-hi-" not in c)
    out = pd.DataFrame(
        {
            "unique_id": rec["unique_id"],
            "ds": rec["ds"],
            "mean": rec[mean_col].clip(lower=0),
            "low": rec[f"{mean_col}-lo-{spec.level}"].clip(lower=0),
            "high": rec[f"{mean_col}-hi-{spec.level}"].clip(lower=0),
        }
    )
    return out.reset_index(drop=True)


def intraday_profile(history: History, spec: ForecastSpec) -> pd.DataFrame:
    """Each province's share of a day's arrivals per 30-minute slot of every forecast day
    (``province_id, ds, share``), from statsforecast's seasonal window average of the last weeks."""
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalWindowAverage

    c = history.counts
    prov = (
        c.groupby(["province_id", "ds"], as_index=False)["y"]
        .sum()
        .rename(columns={"province_id": "unique_id"})
    )
    weeks = max(1, min(spec.profile_weeks, prov["ds"].nunique() // (7 * SLOTS_PER_DAY)))
    model = SeasonalWindowAverage(season_length=7 * SLOTS_PER_DAY, window_size=weeks, alias="rate")
    sf = StatsForecast(models=[model], freq=f"{SLOT_MINUTES}min", n_jobs=1)
    fc = sf.forecast(df=prov, h=spec.horizon_days * SLOTS_PER_DAY)
    fc["day"] = fc["ds"].dt.floor("D")
    total = fc.groupby(["unique_id", "day"])["rate"].transform("sum")
    fc["share"] = np.where(total > 0, fc["rate"] / total.where(total > 0, 1.0), 1.0 / SLOTS_PER_DAY)
    return fc.rename(columns={"unique_id": "province_id"})[["province_id", "ds", "day", "share"]]


def split_ids(unique_id: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``all/P01/renewal`` -> (``P01``, ``renewal``); aggregates get ``all``."""
    parts = unique_id.str.split("/", expand=True).reindex(columns=[0, 1, 2])
    return parts[1].fillna(ALL), parts[2].fillna(ALL)


def poisson_band(expected: Any, low_rate: Any, high_rate: Any, level: int) -> tuple[Any, Any]:
    """The ``level`` % interval of a count: Poisson quantiles of the daily interval's bounds as rates
    (split like the expected count), never inside ``expected``. For a window of several intervals pass
    the sums: sums of the intervals' bounds are wider than the window's interval."""
    tail = (100 - level) / 200
    low = np.minimum(poisson.ppf(tail, low_rate).astype(float), expected)
    high = np.maximum(poisson.ppf(1 - tail, high_rate).astype(float), expected)
    return low, high


def to_intervals(daily: pd.DataFrame, profile: pd.DataFrame, level: int) -> pd.DataFrame:
    """Daily forecasts split into 30-minute rows ``ds, province_id, task_type, expected, low, high``
    and the bounds as rates (``low_rate, high_rate``: what sums over a window); the nation's intervals
    are the sum of its provinces' (coherent by construction)."""
    province_id, task_type = split_ids(daily["unique_id"])
    d = daily.assign(province_id=province_id, task_type=task_type).rename(columns={"ds": "day"})
    local = d[d["province_id"] != ALL].merge(profile, on=["province_id", "day"], how="inner")
    nation = local[local["task_type"] == ALL].copy()
    nation_exp = nation.assign(v=nation["mean"] * nation["share"]).groupby("ds")["v"].sum()
    rows = local.assign(expected=local["mean"] * local["share"])
    nat = d[d["province_id"] == ALL][["day", "mean", "low", "high"]]
    nat_rows = pd.DataFrame({"ds": nation_exp.index, "expected": nation_exp.to_numpy()})
    nat_rows["day"] = nat_rows["ds"].dt.floor("D")
    nat_rows = nat_rows.merge(nat, on="day")
    ratio = nat_rows["expected"] / nat_rows["mean"].where(nat_rows["mean"] > 0, 1.0)
    nat_rows = nat_rows.assign(
        province_id=ALL, task_type=ALL, low=nat_rows["low"] * ratio, high=nat_rows["high"] * ratio
    )
    rows = rows.assign(low=rows["low"] * rows["share"], high=rows["high"] * rows["share"])
    out = pd.concat([rows, nat_rows], ignore_index=True)
    out["low_rate"], out["high_rate"] = out["low"].clip(lower=0), out["high"].clip(lower=0)
    out["low"], out["high"] = poisson_band(out["expected"], out["low_rate"], out["high_rate"], level)
    cols = ["ds", "province_id", "task_type", "expected", "low", "high", "low_rate", "high_rate"]
    return out[cols].sort_values(["province_id", "task_type", "ds"]).reset_index(drop=True)


def make_forecast(history: History, spec: ForecastSpec) -> pd.DataFrame:
    """The 30-minute forecast of ``spec.horizon_days`` from the end of ``history`` (all levels)."""
    daily = forecast_daily(history, spec)
    return to_intervals(daily, intraday_profile(history, spec), spec.level)
