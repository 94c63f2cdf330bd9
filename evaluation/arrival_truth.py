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


def surges(settings: Settings) -> pd.DataFrame:
    """The hidden surge days (``province_id, day, factor``); empty without a twin."""
    twin = twin_of(Path(settings.truth_dir))
    if twin is None:
        return pd.DataFrame(columns=["province_id", "day", "factor"])
    config, meta = twin
    return surge_days(config, int(meta["days"]), int(meta["seed"]))


def surge_report(result: Backtest, surge: pd.DataFrame) -> dict[str, dict[str, float]]:
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
) -> tuple[Backtest, dict[str, dict[str, float]] | None]:
    """The backtest with the twin's rates as a third method, and the surge report, where a twin exists."""
    truth = true_frame(settings, history.zone)
    if truth is not None:
        truth = truth[truth["province_id"].isin(history.provinces) & (truth["task_type"] != ALL)]
    result = backtest(history, spec, windows=windows, horizon_days=horizon_days, truth=truth)
    return result, (surge_report(result, surges(settings)) if truth is not None else None)
