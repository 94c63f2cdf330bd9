"""Arrival forecasts on the small world: reconciled at every level, backtested against seasonal naive
and the twin's true rates, tracked in MLflow."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from evaluation.arrival_truth import backtest_with_truth
from tests.factories.serving_world import World
from training.arrival_counts import read_counts
from training.forecast import ALL, ForecastSpec, make_forecast
from training.forecast_backtest import LEVELS, wape_table

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def history(world: World):  # noqa: ANN201
    return read_counts(world.settings, days=45)


@pytest.fixture(scope="module")
def backtested(world: World, history):  # noqa: ANN001, ANN201
    return backtest_with_truth(world.settings, history, ForecastSpec(), windows=3, horizon_days=7)


def test_types_add_up_to_provinces_and_provinces_to_the_nation(history) -> None:  # noqa: ANN001
    fc = make_forecast(history, replace(ForecastSpec(), horizon_days=3))
    assert len(fc["ds"].unique()) == 3 * 48 and fc["ds"].min() == history.end_day
    assert (fc["low"] <= fc["expected"]).all() and (fc["expected"] <= fc["high"]).all()
    bottom = fc[(fc["province_id"] != ALL) & (fc["task_type"] != ALL)]
    prov = fc[(fc["province_id"] != ALL) & (fc["task_type"] == ALL)].set_index(["province_id", "ds"])
    summed = bottom.groupby(["province_id", "ds"])["expected"].sum()
    assert (summed - prov["expected"].reindex(summed.index)).abs().max() < 1e-9
    nation = fc[fc["province_id"] == ALL].set_index("ds")["expected"]
    by_prov = prov["expected"].groupby(level="ds").sum()
    assert (by_prov - nation.reindex(by_prov.index)).abs().max() < 1e-9
    assert set(bottom["province_id"]) == set(history.provinces) and set(bottom["task_type"]) == set(
        history.types
    )


def test_backtest_beats_seasonal_naive_by_day_and_the_truth_bounds_it(backtested) -> None:  # noqa: ANN001
    result, surges = backtested
    metrics = result.metrics()
    assert set(metrics) == set(LEVELS)
    table = wape_table(metrics)
    for level in LEVELS:
        assert set(table[level]) == {"model", "seasonal_naive", "truth"}
        assert all(math.isfinite(m["mase"]) for m in metrics[level].values())
    day = table["day_province"]
    assert day["model"] <= 0.8 * day["seasonal_naive"]  # the target, on the small world too
    assert day["truth"] < day["model"]  # the true rates are the floor
    assert table["30min_province_type"]["truth"] < table["30min_province_type"]["seasonal_naive"]
    assert surges is not None and surges["days"]["surge"] + surges["days"]["other"] == 4 * 21


def test_the_forecast_is_stored_and_logged(world: World, tmp_path) -> None:
    import mlflow

    from opsmatch.settings import Settings
    from training.forecast_run import FORECAST_FILE, is_stale, log_run, make_and_store, planning_dir

    settings = Settings(
        data_dir=world.settings.data_dir,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        mlflow_artifact_root=tmp_path / "artifacts",
    )
    # write the forecast into a private data dir: the shared world is read-only
    own = settings.model_copy(update={"data_dir": tmp_path / "data"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events").symlink_to(world.settings.events_dir, target_is_directory=True)
    assert is_stale(own)
    made = make_and_store(own, replace(ForecastSpec(), horizon_days=2))
    assert not is_stale(own)
    stored = pd.read_parquet(planning_dir(own) / FORECAST_FILE)
    assert str(stored["start"].dt.tz) == "UTC" and len(stored) == len(made.forecast)
    assert {r["task_type"] for r in made.inputs["aht"]} == set(made.inputs["sla_hours"])
    run_id = log_run(own, made, None)
    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(run_id)
    assert run.data.params["horizon_days"] == "2" and "make_seconds" in run.data.metrics
