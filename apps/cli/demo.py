"""The running operation: ``demo`` (service, live twin, retrain loop) and ``live`` (the twin alone)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from apps.cli.base import _settings, app, console
from apps.cli.data import _end_time
from apps.cli.evaluation import _report_dir
from apps.cli.service import _checked_clock, _has_champions


@app.command()
def demo(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int = typer.Option(3000, help="Port."),
    ready_timeout: float = typer.Option(600.0, help="Seconds to wait for /readyz."),
    live_twin: bool = typer.Option(True, "--live/--no-live", help="Run the live twin against the service."),
) -> None:
    """The service in the foreground; once it is ready, the live twin, the twin A/B report (when
    missing) and the retrain loop on a schedule in the background. One Ctrl-C stops everything."""
    import os
    import subprocess
    from zoneinfo import ZoneInfo

    from apps.demo import Job, cli, clock_env, supervise, with_clock
    from opsmatch.clock import CENTRE_ZONE, clock_from
    from serving.runtime.launch import serve_command, wait_ready

    settings = _checked_clock(with_clock(_settings(ctx)))
    # One clock for the service and every job (child processes): chosen once, passed by environment.
    os.environ.update(clock_env(settings))
    if settings.clock == "demo":
        now = clock_from(settings)()
        console.print(
            f"demo clock x{settings.clock_speed:g} from {now.isoformat(timespec='minutes')} "
            f"({now.astimezone(ZoneInfo(CENTRE_ZONE)):%a %H:%M} in Beijing), never ahead of the wall "
            "clock; OPSMATCH_CLOCK=wall for the wall clock (a deployment)"
        )
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    period = settings.retrain_every_minutes * 60
    # The first scheduled retrain waits one period: bootstrap has just trained the champions.
    jobs = [Job("retrain", cli("retrain"), logs / "retrain.log", every_seconds=period, first_delay=period)]
    first = None
    if not _has_champions(settings):  # `bootstrap --first-champions background`: trained now, served live
        first = Job(
            "first champions",
            cli("retrain", "--force"),
            logs / "first-champions.log",
            done_message="first champions promoted: the service swaps them in within seconds",
        )
        jobs.insert(0, first)
    # the arrival forecast: checked hourly, made again once a whole new day of arrivals has come
    jobs.append(Job("forecast", cli("forecast", "refresh"), logs / "forecast.log", every_seconds=3600))
    watch = settings.monitor_every_minutes * 60  # served predictions vs outcomes, on its own period
    jobs.append(
        Job(
            "model monitor",
            cli("monitor-models"),
            logs / "monitor.log",
            every_seconds=watch,
            first_delay=watch,
        )
    )
    if live_twin:
        jobs.insert(0, Job("live twin", cli("live", "--url", url), logs / "live.log"))
    report_dir = _report_dir(settings, settings.scenario)
    if settings.truth_dir.is_dir() and not (report_dir / "report.md").exists():
        evaluate_args = ("evaluate", "--scenario", settings.scenario, "--out", str(report_dir))
        jobs.insert(
            0,
            Job(
                "twin A/B report",
                cli(*evaluate_args),
                logs / "evaluate.log",
                done_message=f"report at {report_dir / 'report.md'}",
                waits_for=first,  # both are CPU-bound: the champions first
            ),
        )

    def ready(service: subprocess.Popen) -> None:
        console.print(f"starting the service on {url} (Swagger UI at /) ...")
        wait_ready(service, url, ready_timeout)
        console.print(f"[bold green]ready[/bold green] on {url}; Ctrl-C stops the service and its jobs")

    raise typer.Exit(supervise(serve_command(host, port), ready, jobs, console.print))


@app.command()
def live(
    ctx: typer.Context,
    url: str = typer.Option("http://127.0.0.1:3000", help="The running service."),
    mode: str = typer.Option(
        "assign",
        help="assign: POST /assign on a cadence; dispatcher: /rank each task; people: the twin does not "
        "dispatch (people do, in the console; the service's monitor dispatches what waits too long).",
    ),
    dispatch_minutes: float = typer.Option(5.0, min=0.1, help="Operation minutes between dispatch rounds."),
    hours: float = typer.Option(None, min=0.01, help="Operation hours of arrivals (default: until Ctrl-C)."),
    drain_hours: float = typer.Option(
        0.0, min=0, help="After --hours, keep working up to this long until the twin's tasks are done."
    ),
    speed: float = typer.Option(
        None, min=0.001, max=3600, help="Demo clock: operation seconds per wall second (the service too)."
    ),
    anchor: str = typer.Option(
        None, help="Demo clock anchor (ISO with zone; default: the settings', or now)."
    ),
    log_dir: Path = typer.Option(None, help="Where the twin's log goes (default: <data dir>/live)."),
    tick_seconds: float = typer.Option(0.2, min=0.01, help="Wall seconds between the twin's steps."),
) -> None:
    """The twin plays the national centre against the running service over HTTP: arrivals in, dispatch,
    the workers' answers, status and outcomes. Ctrl-C stops it cleanly and writes its log."""
    from apps.live import MODES, LiveOptions, run_live
    from opsmatch.clock import clock_from

    if mode not in MODES:
        raise typer.BadParameter(f"one of {', '.join(MODES)}", param_hint="--mode")
    settings = _settings(ctx)
    if speed is not None or anchor is not None:
        chosen = _end_time(anchor) or settings.clock_anchor or dt.datetime.now(dt.UTC)
        update = {"clock_anchor": chosen, "clock_speed": speed or settings.clock_speed}
        settings = settings.model_copy(update=update)
    clock = clock_from(settings)
    if clock.speed != 1.0 and clock.anchor is not None and settings.clock != "demo":
        console.print(
            f"demo clock x{clock.speed:g}: the service must run with OPSMATCH_CLOCK_ANCHOR="
            f"{clock.anchor.isoformat()} OPSMATCH_CLOCK_SPEED={clock.speed:g}"
        )
    options = LiveOptions(mode, dispatch_minutes, hours, drain_hours, tick_seconds, log_dir)
    counts = run_live(settings, url, clock, options, console.print)
    console.print(f"live twin stopped: {counts}; log in {log_dir or settings.data_dir / 'live'}")
