"""``opsmatch forecast make|backtest|show``: arrival forecasts, their honest accuracy, a look at them."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from opsmatch.settings import Settings

forecast_app = typer.Typer(
    help="Arrival forecasts per province x type x 30 min: make, backtest, show.", no_args_is_help=True
)
console = Console()


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    return settings if isinstance(settings, Settings) else Settings()


@forecast_app.command("make")
def make(
    ctx: typer.Context,
    days: int = typer.Option(14, min=1, max=28, help="Days ahead."),
    backtest: bool = typer.Option(True, help="Backtest first and log the metrics with the forecast."),
) -> None:
    """Forecast the next days from the event store, store it for the service, log it to MLflow."""
    from apps.forecast_refresh import refresh

    made, run_id = refresh(_settings(ctx), horizon_days=days, with_backtest=backtest)
    console.print(
        f"forecast from {made.inputs['origin']}: {len(made.forecast):,} rows in {made.seconds:.1f} s; "
        f"MLflow run {run_id}"
    )


@forecast_app.command("refresh")
def refresh_cmd(ctx: typer.Context) -> None:
    """The daily refresh (the demo runs it hourly): make the forecast when a whole new day has come."""
    from apps.forecast_refresh import refresh_if_stale

    run_id = refresh_if_stale(_settings(ctx))
    console.print(f"forecast refreshed: MLflow run {run_id}" if run_id else "forecast up to date")


@forecast_app.command("backtest")
def backtest_cmd(
    ctx: typer.Context,
    windows: int = typer.Option(3, min=1, max=12, help="Rolling origins."),
    horizon: int = typer.Option(7, min=1, max=14, help="Days per window."),
    as_json: bool = typer.Option(False, "--json", help="Print {levels: {level: {method: WAPE}}}."),
    catch_up: bool = typer.Option(True, help="Also the day-ahead forecasts through each surge (twin only)."),
) -> None:
    """Rolling-origin backtest: WAPE and MASE per level vs seasonal naive and the twin's true rates."""
    from evaluation.arrival_truth import backtest_with_truth, surges_of
    from training.arrival_counts import read_counts
    from training.forecast import ForecastSpec
    from training.forecast_backtest import wape_table

    settings = _settings(ctx)
    history = read_counts(settings, days=max(56, windows * horizon + 28))
    result, surges = backtest_with_truth(
        settings, history, ForecastSpec(), windows=windows, horizon_days=horizon
    )
    metrics = result.metrics()
    if surges is not None and catch_up:
        from evaluation.arrival_truth import catch_up as caught

        surges["catch_up"] = caught(
            history, surges_of(settings), ForecastSpec(), lookback_days=windows * horizon
        )
    if as_json:
        print(json.dumps({"levels": wape_table(metrics), "surges": surges}))
        return
    table = Table(title=f"backtest: {windows} x {horizon} days (WAPE / MASE)")
    methods = list(next(iter(metrics.values())))
    for col in ["level", *methods]:
        table.add_column(col)
    for level, per in metrics.items():
        table.add_row(
            level, *(f"{per[m]['wape']:.3f} / {per[m].get('mase', float('nan')):.2f}" for m in methods)
        )
    console.print(table)
    if surges:
        console.print(f"surge days: {json.dumps(surges)}")


@forecast_app.command("show")
def show(
    ctx: typer.Context,
    province: str = typer.Option("all", help="Province id, or 'all' for the nation."),
    task_type: str = typer.Option("all", help="Task type, or 'all' for the total."),
) -> None:
    """The stored forecast, per day, for one province and type."""
    import pandas as pd

    from training.forecast_run import FORECAST_FILE, INPUTS_FILE, planning_dir

    path = planning_dir(_settings(ctx)) / FORECAST_FILE
    if not path.exists():
        raise typer.BadParameter("no forecast yet: run `opsmatch forecast make`")
    fc = pd.read_parquet(path)
    zone = json.loads((path.parent / INPUTS_FILE).read_text())["zone"]
    fc = fc[(fc["province_id"] == province) & (fc["task_type"] == task_type)]
    day = fc["start"].dt.tz_convert(zone).dt.floor("D")
    daily = fc.groupby(day).agg(expected=("expected", "sum"), peak=("expected", "max"), high=("high", "max"))
    table = Table(title=f"forecast {province} / {task_type}, days in {zone}")
    for col in ("day", "expected", "peak 30 min", "peak 30-min high (80 %)"):
        table.add_column(col)
    for when, r in daily.iterrows():
        table.add_row(f"{when:%Y-%m-%d %a}", f"{r.expected:.0f}", f"{r.peak:.1f}", f"{r.high:.0f}")
    console.print(table)
