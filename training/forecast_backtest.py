"""Rolling-origin backtest of the arrival forecast: WAPE and MASE per level, against seasonal naive
(same interval last week, statsforecast's ``SeasonalNaive``) and, when the caller has them, the true
arrival rates (the limit no forecast beats on average: what is left is Poisson noise).

Levels: ``30min_province_type``, ``30min_province``, ``day_province``, ``day_nation``. The truth is
passed in (only evaluation reads the twin); its frame has the forecast's columns with ``expected``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from training.arrival_counts import SLOTS_PER_DAY, History
from training.forecast import ALL, ForecastSpec, make_forecast

LEVELS = ("30min_province_type", "30min_province", "day_province", "day_nation")
KEY = ["ds", "province_id", "task_type"]


def seasonal_naive(history: History, horizon_days: int) -> pd.DataFrame:
    """Same interval last week, per province x type, summed up to provinces and the nation."""
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    c = history.counts
    df = pd.DataFrame({"unique_id": c["province_id"] + "/" + c["task_type"], "ds": c["ds"], "y": c["y"]})
    sf = StatsForecast(models=[SeasonalNaive(season_length=7 * SLOTS_PER_DAY)], freq="30min", n_jobs=1)
    fc = sf.forecast(df=df, h=horizon_days * SLOTS_PER_DAY)
    ids = fc["unique_id"].str.split("/", n=1, expand=True)
    bottom = pd.DataFrame(
        {"ds": fc["ds"], "province_id": ids[0], "task_type": ids[1], "expected": fc["SeasonalNaive"]}
    )
    return with_aggregates(bottom)


def with_aggregates(bottom: pd.DataFrame, value: str = "expected") -> pd.DataFrame:
    """Bottom rows plus province totals (``task_type`` all) and the nation (both all)."""
    prov = bottom.groupby(["ds", "province_id"], as_index=False)[value].sum().assign(task_type=ALL)
    nation = bottom.groupby("ds", as_index=False)[value].sum().assign(province_id=ALL, task_type=ALL)
    return pd.concat([bottom, prov, nation], ignore_index=True)


def level_rows(frame: pd.DataFrame, level: str, value: str) -> pd.DataFrame:
    """The rows of one level (``series``, ``ds``, value), days summed for the daily levels."""
    p, t = frame["province_id"], frame["task_type"]
    mask = {
        "30min_province_type": (p != ALL) & (t != ALL),
        "30min_province": (p != ALL) & (t == ALL),
        "day_province": (p != ALL) & (t == ALL),
        "day_nation": p == ALL,
    }[level]
    rows = frame.loc[mask, KEY + [value]]
    rows = rows.assign(series=rows["province_id"] + "/" + rows["task_type"])
    if level.startswith("day"):
        rows = rows.assign(ds=rows["ds"].dt.floor("D")).groupby(["series", "ds"], as_index=False)[value].sum()
    return rows[["series", "ds", value]]


def mase_scale(history: History, level: str) -> pd.Series:
    """Per series: in-sample mean absolute error of the same-time-last-week forecast."""
    frame = with_aggregates(history.counts.rename(columns={"y": "expected"}))
    rows = level_rows(frame, level, "expected").sort_values(["series", "ds"])
    lag = 7 if level.startswith("day") else 7 * SLOTS_PER_DAY
    diff = rows.groupby("series")["expected"].diff(lag).abs()
    return diff.groupby(rows["series"]).mean()


def score(actual: pd.DataFrame, predicted: pd.DataFrame, scale: pd.Series | None = None) -> dict[str, float]:
    """WAPE (sum |error| / sum actual) and MASE (mean over series of MAE / scale) of aligned rows."""
    m = actual.merge(predicted, on=["series", "ds"], suffixes=("", "_f"))
    err = (m["expected_f"] - m["expected"]).abs()
    out = {"wape": float(err.sum() / max(m["expected"].sum(), 1e-9))}
    if scale is not None:
        mae = err.groupby(m["series"]).mean()
        ratio = (mae / scale.reindex(mae.index)).replace([np.inf, -np.inf], np.nan).dropna()
        out["mase"] = float(ratio.mean()) if len(ratio) else float("nan")
    return out


Forecaster = Callable[[History, int], pd.DataFrame]


@dataclass(frozen=True)
class Backtest:
    """The aligned frames of a backtest: actual counts, each method's forecast, the MASE scales."""

    actual: pd.DataFrame
    predicted: dict[str, pd.DataFrame]
    scales: dict[str, pd.Series]

    def metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per level, per method (``model``, ``seasonal_naive``, ``truth``): WAPE and MASE."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for level in LEVELS:
            act = level_rows(self.actual, level, "expected")
            out[level] = {
                name: score(act, level_rows(frame, level, "expected"), self.scales[level])
                for name, frame in self.predicted.items()
            }
        return out


def backtest(
    history: History,
    spec: ForecastSpec,
    *,
    windows: int = 3,
    horizon_days: int = 7,
    truth: pd.DataFrame | None = None,
) -> Backtest:
    """Rolling origins every ``horizon_days`` back from the end of the history, each forecast made from
    the history before its origin only."""
    spec = replace(spec, horizon_days=horizon_days)
    methods: dict[str, Forecaster] = {
        "model": lambda h, _: make_forecast(h, spec),
        "seasonal_naive": seasonal_naive,
    }
    preds: dict[str, list[pd.DataFrame]] = {name: [] for name in methods}
    actuals: list[pd.DataFrame] = []
    scales: dict[str, list[pd.Series]] = {level: [] for level in LEVELS}
    counts = history.counts
    for w in range(windows, 0, -1):
        origin = history.end_day - pd.Timedelta(days=w * horizon_days)
        stop = origin + pd.Timedelta(days=horizon_days)
        past = history.before(origin)
        if past.counts["ds"].nunique() < 14 * SLOTS_PER_DAY:
            raise ValueError(f"backtest origin {origin:%Y-%m-%d} leaves less than two weeks of history")
        test = counts[(counts["ds"] >= origin) & (counts["ds"] < stop)]
        actuals.append(with_aggregates(test.rename(columns={"y": "expected"})))
        for name, make in methods.items():
            preds[name].append(make(past, horizon_days))
        for level in LEVELS:
            scales[level].append(mase_scale(past, level))
    actual = pd.concat(actuals, ignore_index=True)
    predicted = {name: pd.concat(frames, ignore_index=True) for name, frames in preds.items()}
    if truth is not None:
        predicted["truth"] = with_aggregates(truth_in(truth, actual))
    return Backtest(
        actual, predicted, {level: pd.concat(s).groupby(level=0).mean() for level, s in scales.items()}
    )


def truth_in(truth: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """The true expected counts of the bottom series over the backtest's intervals."""
    bottom = actual[(actual["province_id"] != ALL) & (actual["task_type"] != ALL)][KEY]
    return bottom.merge(truth[KEY + ["expected"]], on=KEY, how="left").fillna({"expected": 0.0})


def wape_table(result: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """``{level: {method: wape}}``: the ``opsmatch forecast backtest --json`` form."""
    return {
        level: {name: round(m["wape"], 4) for name, m in methods.items()} for level, methods in result.items()
    }
