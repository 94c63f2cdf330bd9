"""History and features: ``simulate``, ``ingest``, ``features build|apply|materialize``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from apps.cli.base import _print_counts, _progress, _settings, app, console, features_app
from apps.plain import show
from opsmatch.settings import Settings


@app.command()
def simulate(
    ctx: typer.Context,
    scenario: str = typer.Option(None, help="Scenario name (default, small, mmc, snowstorm) or YAML path."),
    days: int = typer.Option(90, min=1, max=3650, help="Days of history to generate."),
    seed: int = typer.Option(None, help="Random seed (default: settings.seed)."),
    end: str = typer.Option(
        None,
        help="End the history here ('now' or an ISO time with zone); default: from the scenario's start.",
    ),
) -> None:
    """Generate the event history of the digital twin under the legacy dispatch policy."""
    settings = _settings(ctx)
    _simulate(settings, scenario or settings.scenario, days, seed, end=_end_time(end))


def _end_time(value: str | None) -> dt.datetime | None:
    """``--end``: None, 'now' (this instant, UTC) or an ISO timestamp with its zone."""
    if value is None:
        return None
    if value == "now":
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not 'now' or an ISO timestamp", param_hint="--end") from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} has no time zone (e.g. 2026-12-01T09:00:00+08:00)", param_hint="--end"
        )
    return parsed


def _simulate(
    settings: Settings, scenario: str, days: int, seed: int | None, end: dt.datetime | None = None
) -> None:
    from simulator.run import generate_history

    with _progress(f"simulating {scenario}") as progress:
        summary = generate_history(settings, scenario, days, seed=seed, progress=progress, end=end)
    span = f"{summary.start} to {summary.end}"
    _print_counts(f"event log: {scenario}, {span} -> {settings.events_dir}", summary.row_counts)
    console.print(f"generated in {summary.seconds:.1f} s; hidden truth in {settings.truth_dir}")
    phases = ", ".join(f"{k} {v:.1f}/{summary.cpu.get(k, 0.0):.1f}" for k, v in summary.timings.items())
    console.print(f"phases, wall/CPU s: {phases}")


@app.command()
def ingest(
    ctx: typer.Context,
    path: Path = typer.Argument(..., exists=True, help="A CSV/Parquet file or a folder of them."),
) -> None:
    """Validate contract tables and load them into the event store; bad rows are quarantined, never lost."""
    from opsmatch.ingest import ContractError, ingest_path

    settings = _settings(ctx)
    try:
        report = ingest_path(settings, path)
    except ContractError as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    table = Table(title=f"ingest {path}")
    for col in report.COLUMNS:
        table.add_column(col.replace("_", " "))
    for row in report.rows():
        table.add_row(*[str(v) for v in row])
    show(console, table)
    if report.quarantined:
        console.print(
            f"[yellow]{report.quarantined} row(s) quarantined[/yellow] under {settings.quarantine_dir}"
        )
        raise typer.Exit(code=1)


@features_app.command("build")
def features_build(
    ctx: typer.Context,
    force: bool = typer.Option(False, help="Rebuild even if the event log is unchanged."),
) -> None:
    """Event log -> point-in-time feature tables (Parquet); skipped when nothing changed."""
    _features_build(_settings(ctx), force)


def _features_build(settings: Settings, force: bool) -> None:
    from features.pipeline import build_features

    with _progress("building features") as progress:
        summary = build_features(settings, progress=progress, force=force)
    if summary.get("skipped"):
        console.print("event log unchanged: feature tables are up to date")
    _print_counts(f"feature tables -> {settings.feature_data_dir}", summary.get("rows", {}))


@features_app.command("apply")
def features_apply(ctx: typer.Context) -> None:
    """Register entities, views and feature services in the Feast registry."""
    _features_apply(_settings(ctx))


def _features_apply(settings: Settings) -> None:
    from features.store import apply_repo

    apply_repo(settings)
    console.print(f"feast repo applied ({settings.feast_profile} online store)")


@features_app.command("materialize")
def features_materialize(
    ctx: typer.Context,
    full: bool = typer.Option(False, help="Full reload instead of incremental."),
) -> None:
    """Load the latest feature values into the online store (incremental by default)."""
    _features_materialize(_settings(ctx), full)


def _features_materialize(settings: Settings, full: bool) -> None:
    from features.store import materialize

    with _progress("materializing") as progress:
        summary = materialize(settings, incremental=not full, progress=progress)
    console.print(f"materialized {len(summary.get('views', summary))} view(s)")


def _features_ready(settings: Settings) -> None:
    """Feature tables built when missing, the Feast repo applied, the online store brought up to date."""
    _features_build(settings, force=False)
    _features_apply(settings)
    _features_materialize(settings, full=False)
