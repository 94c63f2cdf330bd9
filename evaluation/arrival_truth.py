"""The forecast's backtest against the twin's true arrival rates, and its misses on surge days.

Only evaluation reads the twin's hidden truth: the true expected counts per 30 minutes (the floor of
any forecast: what is left is Poisson noise) and the surges (``surge_prob``) the forecast cannot know.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from opsmatch.settings import Settings
from simulator.arrival_rates import surge_days, true_counts
from simulator.scenario import ScenarioConfig
from simulator.truth import SCENARIO_FILE
from training.arrival_counts import History
from training.forecast import ALL, ForecastSpec
from training.forecast_backtest import Backtest, backtest, level_rows

META_FILE = "meta.json"


def twin_of(truth_dir: Path) -> tuple[ScenarioConfig, dict[str, Any]] | None:
    """The scenario (as the history ran it) and the history's meta, or None without a twin."""
    if not (truth_dir / META_FILE).exists() or not (truth_dir / SCENARIO_FILE).exists():
        return None
    meta = json.loads((truth_dir / META_FILE).read_text())
    return ScenarioConfig.model_validate(json.loads((truth_dir / SCENARIO_FILE).read_text())), meta


def true_frame(settings: Settings, zone: str) -> pd.DataFrame | None:
    """True expected counts in the forecast's form (``ds`` naive in ``zone``), or None without a twin."""
    twin = twin_of(Path(settings.truth_dir))
    if twin is None:
        return None
    config, meta = twin
    rates = true_counts(config, int(meta["days"]), int(meta["seed"]))
    ds = rates["start"].dt.tz_convert(zone).dt.tz_localize(None)
    return rates.drop(columns="start").assign(ds=ds)


def surges_of(settings: Settings) -> pd.DataFrame:
    """The hidden surge days (``province_id, day, factor``); empty without a twin."""
    twin = twin_of(Path(settings.truth_dir))
    if twin is None:
        return pd.DataFrame(columns=["province_id", "day", "factor"])
    config, meta = twin
    return surge_days(config, int(meta["days"]), int(meta["seed"]))


def surge_report(result: Backtest, surge: pd.DataFrame) -> dict[str, Any]:
    """Day x province WAPE on surge days and on the other days, per method, and the days caught."""
    act = level_rows(result.actual, "day_province", "expected")
    act["province_id"] = act["series"].str.split("/").str[0]
    hit = act.merge(surge.rename(columns={"day": "ds"}), on=["province_id", "ds"], how="left")
    on_surge = hit["factor"].notna().to_numpy()
    out: dict[str, dict[str, float]] = {
        "days": {"surge": int(on_surge.sum()), "other": int((~on_surge).sum())}
    }
    for name, frame in result.predicted.items():
        pred = level_rows(frame, "day_province", "expected")
        m = act.merge(pred, on=["series", "ds"], suffixes=("", "_f"))
        err = (m["expected_f"] - m["expected"]).abs().to_numpy()
        y = m["expected"].to_numpy()
        out[name] = {
            "surge_wape": float(err[on_surge].sum() / max(y[on_surge].sum(), 1e-9)),
            "other_wape": float(err[~on_surge].sum() / max(y[~on_surge].sum(), 1e-9)),
            "surge_bias": float(
                (m["expected_f"] - m["expected"]).to_numpy()[on_surge].sum() / max(y[on_surge].sum(), 1e-9)
            ),
        }
    return out


def backtest_with_truth(
    settings: Settings, history: History, spec: ForecastSpec, *, windows: int, horizon_days: int
) -> tuple[Backtest, dict[str, Any] | None]:
    """The backtest with the twin's rates as a third method, and the surge report, where a twin exists."""
    truth = true_frame(settings, history.zone)
    if truth is not None:
        truth = truth[truth["province_id"].isin(history.provinces) & (truth["task_type"] != ALL)]
    result = backtest(history, spec, windows=windows, horizon_days=horizon_days, truth=truth)
    return result, (surge_report(result, surges_of(settings)) if truth is not None else None)


def catch_up(
    history: History, surge: pd.DataFrame, spec: ForecastSpec, *, lookback_days: int = 21
) -> dict[str, float]:
    """How fast a daily refresh catches up with a surge: the day-ahead forecast of a surging province,
    made at the surge's start and on each of its next days, as a ratio to what arrived (1 = caught up).
    Surges that started in the last ``lookback_days`` of the history; averaged by day of the surge."""
    from dataclasses import replace

    from training.forecast import make_forecast

    first = history.end_day - pd.Timedelta(days=lookback_days)
    runs = surge.sort_values(["province_id", "day"]).reset_index(drop=True)
    gap = runs.groupby("province_id")["day"].diff() != pd.Timedelta(days=1)  # a new run of surge days
    runs["offset"] = (runs["day"] - runs["day"].where(gap).ffill()).dt.days
    runs = runs[(runs["day"] >= first) & (runs["day"] - pd.to_timedelta(runs["offset"], "D") >= first)]
    ratios: dict[int, list[float]] = {}
    spec = replace(spec, horizon_days=1)
    counts = history.counts
    for day, rows in runs.groupby("day"):
        if day >= history.end_day:
            continue
        fc = make_forecast(history.before(day), spec)
        for r in rows.itertuples():
            got = counts[(counts["province_id"] == r.province_id) & (counts["ds"].dt.floor("D") == day)][
                "y"
            ].sum()
            want = fc[(fc["province_id"] == r.province_id) & (fc["task_type"] == ALL)]["expected"].sum()
            if got > 0:
                ratios.setdefault(int(r.offset), []).append(float(want / got))
    return {f"day_{k + 1}": round(sum(v) / len(v), 3) for k, v in sorted(ratios.items())}
