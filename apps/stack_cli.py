"""``opsmatch stack``: the scaled stack on this machine, from Debian's PostgreSQL and Redis packages.

``opsmatch stack up`` starts PostgreSQL (events, service state and the MLflow backend store, one
database each) and Redis (online features, shared rate limits) in ``<data dir>/stack/`` on loopback
ports, bootstraps the product onto them (twin history into PostgreSQL, features materialized into Redis,
first champions tracked in the PostgreSQL-backed MLflow), then runs ``opsmatch demo`` with the service in
``--workers`` BentoML workers and the live twin; ``mlflow server`` on the same backend store shows the
runs. Ctrl-C stops everything; the data stays for next time.
``opsmatch stack env`` prints the settings that point any other command at the running stack.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import typer
from rich.console import Console

from opsmatch.settings import Settings

stack_app = typer.Typer(
    help="The scaled stack: PostgreSQL + Redis + a multi-worker service, on this machine."
)
console = Console()
DATABASES = ("events", "state", "mlflow")


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "the root callback builds the settings"
    return settings


def stack_env(root: Path, pg: dict[str, str], redis: str, workers: int) -> dict[str, str]:
    """The ``OPSMATCH_*`` (and BentoML) settings of the product on the stack in ``root``."""
    return {
        "OPSMATCH_DATA_DIR": str(root / "data"),
        "OPSMATCH_EVENTS_URL": pg["events"],
        "OPSMATCH_STATE_DB_URL": pg["state"],
        "OPSMATCH_MLFLOW_TRACKING_URI": pg["mlflow"],
        "OPSMATCH_MLFLOW_ARTIFACT_ROOT": str(root / "artifacts"),
        "OPSMATCH_FEAST_PROFILE": "redis",
        "OPSMATCH_REDIS_URL": redis,
        "OPSMATCH_RATE_LIMIT_URL": f"redis://{redis}/1",
        "BENTOML_CONFIG_OPTIONS": f"services.opsmatch.workers={workers}",
    }


def _run(argv: list[str], env: dict[str, str]) -> int:
    """Run a child to its end; a Ctrl-C reaches it too, so wait while it stops (its service's shutdown
    still needs the stores, which are stopped only after it)."""
    child = subprocess.Popen(argv, env=env)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def _urls(pg_port: int, redis_port: int) -> tuple[dict[str, str], str]:
    base = f"postgresql://postgres@127.0.0.1:{pg_port}"
    return {name: f"{base}/{name}" for name in DATABASES}, f"127.0.0.1:{redis_port}"


@stack_app.command("up")
def up(
    ctx: typer.Context,
    workers: int = typer.Option(2, min=1, max=16, help="BentoML workers of the service."),
    port: int = typer.Option(3000, help="The service's port."),
    pg_port: int = typer.Option(5433, help="PostgreSQL's loopback port."),
    redis_port: int = typer.Option(6380, help="Redis's loopback port."),
    mlflow_port: int = typer.Option(5000, help="The MLflow UI's loopback port."),
    days: int = typer.Option(90, min=45, help="Days of twin history on the first start."),
    live: bool = typer.Option(True, "--live/--no-live", help="Run the live twin against the service."),
) -> None:
    """Start PostgreSQL and Redis, bootstrap onto them, serve with --workers workers and the live twin."""
    from apps.demo import cli
    from apps.local_servers import ensure_databases, start_mlflow, start_postgres, start_redis

    root = _settings(ctx).data_dir / "stack"
    servers = []
    try:
        pg = start_postgres(root / "postgresql", pg_port)
        servers.append(pg)
        redis = start_redis(root / "redis", redis_port)
        servers.append(redis)
        databases = ensure_databases(pg.url, *DATABASES)
        env = {**os.environ, **stack_env(root, databases, redis.url, workers)}
        ui = start_mlflow(databases["mlflow"], root / "artifacts", mlflow_port, root / "mlflow.log")
        servers.append(ui)
        env["OPSMATCH_SERVICE__MLFLOW_UI_URL"] = ui.url  # the console's links into MLflow
        console.print(f"PostgreSQL on {pg.url} (log {pg.log}); Redis on {redis.url} (log {redis.log})")
        console.print(f"MLflow UI on {ui.url} (backend store: PostgreSQL database mlflow)")
        boot = cli("bootstrap", "--days", str(days), "--first-champions", "background")
        if _run(boot, env) != 0:
            raise typer.Exit(1)
        demo = cli("demo", "--port", str(port), *([] if live else ["--no-live"]))
        console.print(f"the service with {workers} workers on http://127.0.0.1:{port}")
        raise typer.Exit(_run(demo, env))
    finally:
        for server in reversed(servers):
            server.stop()


@stack_app.command("env")
def env(
    ctx: typer.Context,
    workers: int = typer.Option(2, min=1, max=16, help="BentoML workers of the service."),
    pg_port: int = typer.Option(5433, help="PostgreSQL's loopback port."),
    redis_port: int = typer.Option(6380, help="Redis's loopback port."),
) -> None:
    """Print the settings (export lines) that point other commands at the servers of `stack up`."""
    pg, redis = _urls(pg_port, redis_port)
    for key, value in stack_env(_settings(ctx).data_dir / "stack", pg, redis, workers).items():
        print(f"export {key}={value}")
