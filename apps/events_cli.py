"""``opsmatch events``: what the event store holds, compaction, and migration of an old data dir."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from opsmatch.settings import Settings

events_app = typer.Typer(
    help="Event store: stats, compaction, migration of the old layout.", no_args_is_help=True
)
console = Console()


def _settings(ctx: typer.Context) -> Settings:
    """The settings the root ``opsmatch`` callback built once for this process."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "the root callback builds the settings"
    return settings


@events_app.command("stats")
def stats(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")
) -> None:
    """Per table: rows, distinct keys, the last version that added rows, bytes on disk."""
    from opsmatch import event_admin

    got = event_admin.stats(_settings(ctx))
    if as_json:
        typer.echo(json.dumps(got, indent=2))
        return
    table = Table(title=f"event store {got['url']} (version {got['version']}, {got['bytes']:,} bytes)")
    for col in ("table", "rows", "distinct keys", "version", "bytes"):
        table.add_column(col)
    for name, t in got["tables"].items():
        table.add_row(name, f"{t['rows']:,}", f"{t['distinct_keys']:,}", str(t["version"]), f"{t['bytes']:,}")
    console.print(table)


@events_app.command("compact")
def compact(ctx: typer.Context) -> None:
    """Checkpoint and vacuum the store (every version stays readable; no row is ever dropped)."""
    from opsmatch import event_admin

    got = event_admin.compact(_settings(ctx))
    console.print(
        f"compacted in {got.seconds:.1f}s: {got.bytes_before:,} -> {got.bytes_after:,} bytes, "
        f"{sum(got.rows.values()):,} rows unchanged"
    )


@events_app.command("migrate")
def migrate(ctx: typer.Context) -> None:
    """Convert an old data dir (one Parquet file per table in the events folder) into the store."""
    settings = _settings(ctx)
    if not migrate_if_needed(settings):
        console.print(f"no old-layout Parquet tables in {settings.events_dir}: nothing to migrate")


def migrate_if_needed(settings: Settings) -> bool:
    """Migrate the old layout when present (``bootstrap`` calls this); True when something was migrated."""
    from opsmatch import event_admin

    if not event_admin.old_layout_files(settings.events_dir):
        return False
    with console.status(f"migrating the Parquet tables of {settings.events_dir} into the event store"):
        counts = event_admin.migrate(settings, settings.events_dir)
    for name, n in counts.items():
        console.print(f"  {name}: {n:,} rows checked in the store")
    console.print(f"old files moved to {settings.events_dir / event_admin.MIGRATED_DIR}")
    return True
