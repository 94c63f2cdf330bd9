"""Make the arrival forecast from the event store, store it for the service, track it in MLflow.

Writes ``<data_dir>/planning/forecast.parquet`` (30-minute rows of every level, ``start`` in UTC) and
``inputs.json`` (handling time per province x type, SLA hours per type, the zone, the spec, when).
Handling time is the mean handling minutes of the last ``aht_days`` per province x type (the work mix
the forecast carries); the handling-time model is not used here (it needs a worker to predict for).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from opsmatch import event_store as es
from opsmatch import events
from opsmatch.settings import Settings
from training.arrival_counts import History, read_counts
from training.forecast import ForecastSpec, make_forecast
from training.forecast_backtest import Backtest

EXPERIMENT = "opsmatch-arrivals-forecast"
FORECAST_FILE = "forecast.parquet"
INPUTS_FILE = "inputs.json"


def planning_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "planning"


def handling_minutes(settings: Settings, since: pd.Timestamp) -> pd.DataFrame:
    """Mean handling minutes per province x type of the tasks completed since ``since`` (in SQL)."""
    t, c = es.SQL_TABLES["tasks"], es.SQL_TABLES["completions"]
    since_us = int(since.tz_convert("UTC").value // 1000)
    query = (
        sa.select(t.c.province_id, t.c.task_type, sa.func.avg(c.c.handling_minutes).label("aht_minutes"))
        .select_from(c.join(t, c.c.task_id == t.c.task_id))
        .where(c.c.completed_at >= since_us)
        .group_by(t.c.province_id, t.c.task_type)
    )
    return es.store_for(events.store_url(settings)).query_arrow(query).to_pandas()


def sla_hours(settings: Settings, since: pd.Timestamp) -> dict[str, float]:
    """SLA hours per task type (the median of ``sla_due_at - created_at`` since ``since``)."""
    t = es.SQL_TABLES["tasks"]
    since_us = int(since.tz_convert("UTC").value // 1000)
    hours = ((t.c.sla_due_at - t.c.created_at) / 3.6e9).label("hours")
    query = sa.select(t.c.task_type, sa.func.max(hours).label("hours")).where(t.c.created_at >= since_us)
    frame = es.store_for(events.store_url(settings)).query_arrow(query.group_by(t.c.task_type)).to_pandas()
    return {str(r.task_type): round(float(r.hours), 3) for r in frame.itertuples()}


@dataclass(frozen=True)
class Made:
    """A stored forecast: its rows, inputs, and how long it took."""

    forecast: pd.DataFrame
    inputs: dict[str, Any]
    seconds: float


def make_and_store(
    settings: Settings,
    spec: ForecastSpec,
    *,
    history_days: int = 56,
    aht_days: int = 28,
    until: pd.Timestamp | None = None,
) -> Made:
    """Forecast ``spec.horizon_days`` from the day of ``until`` (default: the newest task's) and store it."""
    started = time.perf_counter()
    history = read_counts(settings, days=history_days, until=until)
    fc = make_forecast(history, spec)
    fc.insert(0, "start", fc.pop("ds").dt.tz_localize(history.zone).dt.tz_convert("UTC"))
    since = history.end_day.tz_localize(history.zone) - pd.Timedelta(days=aht_days)
    inputs = {
        "zone": history.zone,
        "origin": history.end_day.tz_localize(history.zone).isoformat(),
        "spec": spec.params(),
        "aht": handling_minutes(settings, since).to_dict("records"),
        "sla_hours": sla_hours(settings, since),
    }
    out = planning_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    fc.to_parquet(out / f".{FORECAST_FILE}.tmp", index=False)
    (out / f".{FORECAST_FILE}.tmp").replace(out / FORECAST_FILE)
    (out / INPUTS_FILE).write_text(json.dumps(inputs, indent=1, default=str))
    return Made(fc, inputs, time.perf_counter() - started)


def log_run(settings: Settings, made: Made, result: Backtest | None, history: History | None = None) -> str:
    """One MLflow run: the spec, the backtest's WAPE/MASE per level and method, the forecast file."""
    import mlflow

    from training.registry import experiment_named

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = mlflow.MlflowClient()
    exp = experiment_named(client, settings, EXPERIMENT)
    with mlflow.start_run(experiment_id=exp, run_name=f"forecast-{made.inputs['origin'][:10]}") as run:
        mlflow.log_params(
            {**made.inputs["spec"], "origin": made.inputs["origin"], "zone": made.inputs["zone"]}
        )
        mlflow.log_metric("make_seconds", made.seconds)
        if result is not None:
            for level, methods in result.metrics().items():
                for method, metrics in methods.items():
                    for name, value in metrics.items():
                        mlflow.log_metric(f"{level}.{method}.{name}", value)
        mlflow.log_artifact(str(planning_dir(settings) / FORECAST_FILE))
        mlflow.log_artifact(str(planning_dir(settings) / INPUTS_FILE))
        return str(run.info.run_id)


def is_stale(settings: Settings) -> bool:
    """Whether the stored forecast is missing or a whole day of arrivals has come since its origin."""
    path = planning_dir(settings) / INPUTS_FILE
    newest = events.newest_time(settings, "tasks")
    if newest is None:
        return False
    if not path.exists():
        return True
    inputs = json.loads(path.read_text())
    origin = pd.Timestamp(inputs["origin"])
    return bool(pd.Timestamp(newest).tz_convert(inputs["zone"]).floor("D") > origin)
