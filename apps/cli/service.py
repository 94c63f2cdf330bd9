"""The service: ``serve``, ``keys``, ``bootstrap`` (everything ``make run`` needs before serving)."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from apps.cli.base import _print_counts, _progress, _settings, app, console, keys_app
from apps.cli.data import _features_ready, _simulate
from apps.cli.evaluation import _report_dir
from apps.cli.models import _retrain
from apps.events_cli import migrate_if_needed
from apps.plain import show
from opsmatch.settings import Settings


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int = typer.Option(3000, help="Port."),
    workers: int = typer.Option(
        1, min=1, max=64, help="BentoML workers: more than one needs the scaled stores (README, 'At scale')."
    ),
) -> None:
    """Serve the BentoML service (rank, assign, risk, alerts, outcomes, policy) in the foreground."""
    import os
    import subprocess

    from opsmatch.settings import PROJECT_ROOT
    from serving.runtime.launch import serve_command

    env = {**os.environ, "BENTOML_CONFIG_OPTIONS": f"services.opsmatch.workers={workers}"}
    console.print(f"serving on http://{host}:{port}, {workers} worker(s) (Swagger UI at /); Ctrl-C stops")
    raise typer.Exit(subprocess.call(serve_command(host, port), cwd=PROJECT_ROOT, env=env))


def _key_store(settings: Settings):  # noqa: ANN202 - serving imported here, off CLI start-up
    from serving.access.keys import KeyStore
    from serving.state.store import StateStore

    return KeyStore(StateStore(settings.resolved_state_db_url))


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: str = typer.Option(..., help="Who holds the key (the audit's actor), e.g. dispatch-desk-3."),
    role: str = typer.Option(..., help="dispatcher, risk, qa_system, ops_head or admin."),
) -> None:
    """Make a key; it is printed once, as the last line, and only its salted hash is stored."""
    from serving.access.keys import KeyCommandError
    from serving.access.routes import routes_of

    try:
        key = _key_store(_settings(ctx)).create(name, role, by=_cli_actor())
    except KeyCommandError as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"key {name!r} ({role}) may call: {', '.join(routes_of(role))}")
    console.print("shown once; send it as 'Authorization: Bearer <key>':")
    print(key)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """Every key: name, role, created, last used, revoked (never the key)."""
    table = Table(title="API keys")
    for col in ("name", "role", "created", "by", "last used", "revoked"):
        table.add_column(col)
    settings = _settings(ctx)
    for k in _key_store(settings).list():
        stamps = [
            k[c].isoformat(timespec="seconds") if k[c] else "-"
            for c in ("created_at", "last_used_at", "revoked_at")
        ]
        table.add_row(k["name"], k["role"], stamps[0], k["created_by"], stamps[1], stamps[2])
    if settings.api_token is not None:
        table.add_row("env-token", "admin", "(OPSMATCH_API_TOKEN)", "-", "-", "-")
    show(console, table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key: every service worker refuses it within seconds (settings.key_cache_seconds)."""
    from serving.access.keys import KeyCommandError

    settings = _settings(ctx)
    try:
        _key_store(settings).revoke(name, by=_cli_actor())
    except KeyCommandError as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"revoked {name!r}; refused everywhere within {settings.key_cache_seconds:g} s")


def _demo_keys(settings: Settings) -> None:
    from serving.access.keys import demo_keys

    folder = settings.data_dir / "keys"
    files = demo_keys(_key_store(settings), folder, by=_cli_actor())
    console.print(f"demo API keys, one per role, in {folder}: e.g. KEY=$(cat {files['dispatcher']})")


def _has_champions(settings: Settings) -> bool:
    from training.registry import CHAMPION, client_for, registered_name, version_for_alias
    from training.specs import MODEL_NAMES

    client = client_for(settings)
    return all(version_for_alias(client, registered_name(m), CHAMPION) is not None for m in MODEL_NAMES)


@app.command()
def bootstrap(
    ctx: typer.Context,
    days: int = typer.Option(
        90, min=45, max=3650, help="Days of twin history when none exists yet (complaint labels need 30)."
    ),
    first_champions: str = typer.Option(
        "now",
        help="When no champions exist: 'now' trains them here; 'background' leaves them to `opsmatch demo`, "
        "which trains them once the service is up (it ranks by its reported fallback until then).",
    ),
) -> None:
    """Everything `make run` needs before serving, each step skipped when already done: twin history,
    features (build, apply, materialize), first champions (through `retrain`), demo API keys."""
    from apps.demo import with_clock
    from opsmatch.clock import clock_from
    from opsmatch.events import has_rows

    if first_champions not in ("now", "background"):
        raise typer.BadParameter("must be 'now' or 'background'", param_hint="--first-champions")
    settings = _settings(ctx)
    # The operation's now: the wall clock, or the demo clock's start (a past working-day morning).
    now = clock_from(_checked_clock(with_clock(settings)))()
    migrate_if_needed(settings)  # an old data dir (Parquet per table) is converted, counts checked
    if has_rows(settings, "tasks"):
        console.print(f"event log present in {settings.events_dir}: not regenerating")
        _catch_up(settings, now)
    else:
        # The history ends now: its open tasks are open now and today's shifts are on.
        _simulate(settings, settings.scenario, days, seed=None, end=now)
    if _has_champions(settings):
        _features_ready(settings)
        console.print("champions present: keeping them (`opsmatch retrain` refreshes them)")
    elif first_champions == "background":
        _features_ready(settings)
        console.print(
            "first champions: trained in the background by `opsmatch demo` once the service is up; until "
            "they are promoted /rank and /assign use the fallback ranking and say so (/info: degraded)"
        )
    else:
        # The first champions come through the loop itself, so its watermark is recorded.
        _retrain(settings, force=True, models=None)
    report = _report_dir(settings, settings.scenario) / "report.md"
    if report.exists():
        console.print(f"twin A/B report: {report}")
    elif settings.truth_dir.is_dir():
        console.print("twin A/B report: made in the background by `opsmatch demo` once the service is up")
    _demo_keys(settings)


def _checked_clock(settings: Settings) -> Settings:
    """The settings, or a clear stop when the clock they describe cannot run."""
    from opsmatch.clock import clock_from

    try:
        clock_from(settings)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{exc}; OPSMATCH_CLOCK=demo chooses a demo clock for any speed", param_hint="OPSMATCH_CLOCK"
        ) from exc
    return settings


def _catch_up(settings: Settings, now: dt.datetime) -> None:
    """A history that ends in the past is continued up to now (the missing span appended)."""
    from simulator.catchup import catch_up, last_activity

    last = last_activity(settings)
    if last is None or not settings.truth_dir.is_dir():
        return
    with _progress(f"catching up from {last.isoformat(timespec='minutes')}") as progress:
        got = catch_up(settings, now, progress=progress)
    if got is None:
        console.print("history is current: nothing to catch up")
        return
    console.print(f"caught up {got.start} -> {got.end} ({got.handed_over} open tasks handed over)")
    _print_counts("appended", got.rows)
