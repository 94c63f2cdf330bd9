"""The ``opsmatch`` command line: each command is a thin shell over one stage's public function."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from opsmatch.settings import Settings

app = typer.Typer(
    help="opsmatch: ML matching and complaint risk for a national operations centre.", no_args_is_help=True
)
features_app = typer.Typer(
    help="Feature store: build tables, apply the Feast repo, materialize.", no_args_is_help=True
)
app.add_typer(features_app, name="features")
console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


@app.command()
def simulate(
    scenario: str = typer.Option(None, help="Scenario name (default, small, mmc, snowstorm) or YAML path."),
    days: int = typer.Option(90, min=1, max=3650, help="Days of history to generate."),
    seed: int = typer.Option(None, help="Random seed (default: settings.seed)."),
) -> None:
    """Generate the event history of the digital twin under the legacy dispatch policy."""
    from simulator.run import generate_history

    settings = Settings()
    scenario = scenario or settings.scenario
    with _progress() as bar:
        job = bar.add_task(f"simulating {scenario}", total=1.0)
        summary = generate_history(
            settings,
            scenario,
            days,
            seed=seed,
            progress=lambda done, total: bar.update(job, completed=done, total=total),
        )
    _print_counts(f"event log: {scenario}, {days} days -> {settings.events_dir}", summary.row_counts)
    console.print(f"generated in {summary.seconds:.1f} s; hidden truth in {settings.truth_dir}")


@app.command()
def ingest(
    path: Path = typer.Argument(..., exists=True, help="A CSV/Parquet file or a folder of them."),
) -> None:
    """Validate contract tables and load them into the event store; bad rows are quarantined, never lost."""
    from opsmatch.ingest import ContractError, ingest_path

    settings = Settings()
    try:
        report = ingest_path(settings, path)
    except ContractError as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    table = Table(title=f"ingest {path}")
    for col in ("file", "table", "read", "new", "unchanged", "quarantined", "quarantine file"):
        table.add_column(col)
    for row in report.rows():
        table.add_row(*[str(v) for v in row])
    console.print(table)
    if report.quarantined:
        console.print(
            f"[yellow]{report.quarantined} row(s) quarantined[/yellow] under {settings.quarantine_dir}"
        )
        raise typer.Exit(code=1)


def _bar_callback(bar: Progress, job) -> callable:
    return lambda done, total: bar.update(job, completed=done, total=total)


@features_app.command("build")
def features_build(
    force: bool = typer.Option(False, help="Rebuild even if the event log is unchanged."),
) -> None:
    """Event log -> point-in-time feature tables (Parquet); skipped when nothing changed."""
    from features.pipeline import build_features

    settings = Settings()
    with _progress() as bar:
        job = bar.add_task("building features", total=1.0)
        summary = build_features(settings, progress=_bar_callback(bar, job), force=force)
    if summary.get("skipped"):
        console.print("event log unchanged: feature tables are up to date")
    _print_counts(f"feature tables -> {settings.feature_data_dir}", summary.get("rows", {}))


@features_app.command("apply")
def features_apply() -> None:
    """Register entities, views and feature services in the Feast registry."""
    from features.store import apply_repo

    settings = Settings()
    apply_repo(settings)
    console.print(f"feast repo applied ({settings.feast_profile} online store)")


@features_app.command("materialize")
def features_materialize(
    full: bool = typer.Option(False, help="Full reload instead of incremental."),
) -> None:
    """Load the latest feature values into the online store (incremental by default)."""
    from features.store import materialize

    settings = Settings()
    with _progress() as bar:
        job = bar.add_task("materializing", total=1.0)
        summary = materialize(settings, incremental=not full, progress=_bar_callback(bar, job))
    console.print(f"materialized {len(summary.get('views', summary))} view(s)")


if __name__ == "__main__":  # pragma: no cover
    app()
