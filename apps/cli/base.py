"""The ``opsmatch`` application, its settings callback and the console helpers every group uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from apps.events_cli import events_app
from apps.forecast_cli import forecast_app
from apps.plain import show
from apps.settlement_cli import settlement_app
from apps.stack_cli import stack_app
from apps.text_cli import text_app
from opsmatch.settings import Settings

app = typer.Typer(
    help="opsmatch: ML matching and complaint risk for a national operations centre.", no_args_is_help=True
)
features_app = typer.Typer(
    help="Feature store: build tables, apply the Feast repo, materialize.", no_args_is_help=True
)
app.add_typer(features_app, name="features")
keys_app = typer.Typer(
    help="API keys with roles: create, list, revoke (in the service state store).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(events_app, name="events")
app.add_typer(forecast_app, name="forecast")
app.add_typer(settlement_app, name="settlement")
app.add_typer(stack_app, name="stack")
app.add_typer(text_app, name="text")
# In a log (``make run > run.log``) a message is one line: Rich would wrap it at 80 columns mid-sentence.
console = Console(soft_wrap=not Console().is_terminal)


@app.callback()
def _environment(ctx: typer.Context) -> None:
    """Quiet, well-behaved defaults for the libraries below (set before they load); the settings, once."""
    import os

    # Idle OpenMP threads spin by default and starve the other core on a shared 2-core machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    ctx.obj = Settings()


def _settings(ctx: typer.Context) -> Settings:
    """The settings built once by the root callback for this process."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "the root callback builds the settings"
    return settings


@contextmanager
def _progress(description: str) -> Iterator[Callable[[float, float], None]]:
    """A progress bar for one stage; yields the ``progress(done, total)`` callback the stages take.

    In a plain log (no terminal: `make run > log`, CI) a line per 10 % step with the elapsed time instead.
    """
    if not console.is_terminal:
        yield _plain_progress(description)
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with bar:
        job = bar.add_task(description, total=1.0)
        yield lambda done, total: bar.update(job, completed=done, total=total)


def _plain_progress(description: str, step: float = 0.1) -> Callable[[float, float], None]:
    """``progress(done, total)`` that prints one line each time another ``step`` of the work is done."""
    import time

    started, printed = time.monotonic(), [-1]

    def report(done: float, total: float) -> None:
        share = done / total if total else 1.0
        level = int(share / step + 1e-9)
        if level > printed[0]:
            printed[0] = level
            console.print(f"{description}: {share:5.1%} ({time.monotonic() - started:.0f} s)")

    return report


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    show(console, table)


if __name__ == "__main__":  # pragma: no cover
    app()
