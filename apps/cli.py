"""The ``opsmatch`` command line: each command is a thin shell over one stage's public function."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from apps.events_cli import events_app, migrate_if_needed
from apps.forecast_cli import forecast_app
from apps.plain import show
from apps.settlement_cli import settlement_app
from apps.stack_cli import stack_app
from apps.text_cli import text_app
from opsmatch.settings import Settings

if TYPE_CHECKING:
    from evaluation.field import UpliftReport

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


MODELS_HELP = "Model(s): handling_time, qa_pass, complaint, complaint_pre (default: all)."


def _models(model: list[str] | None) -> tuple[str, ...]:
    from training.specs import MODEL_NAMES

    chosen = tuple(model or MODEL_NAMES)
    unknown = [m for m in chosen if m not in MODEL_NAMES]
    if unknown:
        raise typer.BadParameter(
            f"unknown model(s) {unknown}; known: {', '.join(MODEL_NAMES)}", param_hint="--model"
        )
    return chosen


@app.command()
def train(
    ctx: typer.Context,
    model: list[str] = typer.Option(None, "--model", "-m", help=MODELS_HELP),
    tune: int = typer.Option(
        0, "--tune", min=0, help="Run an Optuna search of N trials first (nested runs)."
    ),
    events_version: int = typer.Option(
        None,
        "--events-version",
        min=0,
        help="Rebuild exactly the training set of event-store version N (a run's events_version tag) "
        "from features built apart, under data/rebuilds/.",
    ),
) -> None:
    """Train challengers from point-in-time Feast frames and register them in MLflow."""
    from evaluation.oracle_truth import oracle_for
    from training.frames import train_from_store, training_frames, tune_from_store

    settings = _settings(ctx)
    truth = oracle_for(settings)
    if events_version is not None:
        settings = _features_at_version(settings, events_version)
    models = _models(model)
    with console.status("building point-in-time training frames"):
        frames = training_frames(settings, models)  # one historical retrieval for tuning and training
    tuned: dict = {}
    if tune:
        for name in models:
            with console.status(f"tuning {name}: {tune} trials"):
                result = tune_from_store(settings, name, tune, frames=frames)
            tuned[name] = result.best_params
            console.print(f"{name}: best {result.metric} {result.best_value:.5g} ({result.n_trials} trials)")
    table = Table(title="challengers")
    for col in ("model", "version", "rows train/valid/test", "test metrics", "seconds"):
        table.add_column(col)
    with console.status(f"training {', '.join(models)}"):
        untuned = [m for m in models if m not in tuned]
        results = train_from_store(settings, untuned, frames=frames, truth=truth) if untuned else {}
        for name, params in tuned.items():
            results.update(train_from_store(settings, [name], frames=frames, params=params, truth=truth))
    for name, r in results.items():
        counts = "/".join(str(r.counts.get(k, "")) for k in ("train", "valid", "test"))
        shown = {k: v for k, v in r.metrics.items() if not k.startswith("n_")}
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in list(shown.items())[:6])
        table.add_row(name, str(r.version), counts, metrics, f"{r.seconds.get('total', 0):.1f}")
    show(console, table)


def _features_at_version(settings: Settings, version: int) -> Settings:
    """Settings whose feature tables (built and applied under ``data/rebuilds/events-v<N>``) hold event-store
    version ``version``: the live feature tables, which the service reads, are left alone."""
    from features.pipeline import build_features
    from features.store import apply_repo

    rebuilt = settings.model_copy(
        update={
            "data_dir": settings.data_dir / "rebuilds" / f"events-v{version}",
            "events_url": settings.resolved_events_url,
        }
    )
    with _progress(f"building features at event-store version {version}") as progress:
        build_features(rebuilt, progress=progress, events_version=version)
    apply_repo(rebuilt)
    return rebuilt


@app.command()
def promote(
    ctx: typer.Context,
    model: list[str] = typer.Option(None, "--model", "-m", help=MODELS_HELP),
    force: bool = typer.Option(
        False,
        help="Promote a sane challenger even if it does not beat the champion or the gate holds it.",
    ),
) -> None:
    """Gate each challenger against the champion on the same recent holdout: promoted when better by a
    paired bootstrap interval, or indistinguishable and trained on newer data (training.gate)."""
    from apps.model_health import HealthIssue, raise_alerts
    from training.gate import promote as gate

    settings = _settings(ctx)
    refused = 0
    for name in _models(model):
        decision = gate(settings, name, force=force)
        if decision.held and decision.alert and not decision.promoted:
            issue = HealthIssue(name, "champion_check", decision.alert, {"change": decision.change})
            raise_alerts(settings, [issue])
        colour = "green" if decision.promoted else "yellow"
        verdict = "promoted" if decision.promoted else "held for review" if decision.held else "kept champion"
        console.print(
            f"[{colour}]{name}: {verdict}[/{colour}] (challenger v{decision.challenger_version}, "
            f"champion v{decision.champion_version})"
        )
        for reason in decision.reasons:
            console.print(f"   - {reason}")
        refused += 0 if decision.promoted else 1
    if refused:
        console.print(f"{refused} challenger(s) refused: the champions keep serving")


@app.command()
def rollback(
    ctx: typer.Context, model: list[str] = typer.Option(..., "--model", "-m", help=MODELS_HELP)
) -> None:
    """Restore the previous champion of each model."""
    from training.gate import rollback as restore

    settings = _settings(ctx)
    for name in _models(model):
        try:
            result = restore(settings, name)
        except (LookupError, ValueError) as exc:
            console.print(f"[red]{name}: cannot roll back:[/red] {exc}")
            raise typer.Exit(code=1) from exc
        console.print(
            f"{name}: champion is v{result.restored_version} again (withdrew v{result.withdrawn_version})"
        )


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
    from serving.launch import serve_command

    env = {**os.environ, "BENTOML_CONFIG_OPTIONS": f"services.opsmatch.workers={workers}"}
    console.print(f"serving on http://{host}:{port}, {workers} worker(s) (Swagger UI at /); Ctrl-C stops")
    raise typer.Exit(subprocess.call(serve_command(host, port), cwd=PROJECT_ROOT, env=env))


def _key_store(settings: Settings):  # noqa: ANN202 - serving imported here, off CLI start-up
    from serving.keys import KeyStore
    from serving.state import StateStore

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
    from serving.access import routes_of
    from serving.keys import KeyCommandError

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
    from serving.keys import KeyCommandError

    settings = _settings(ctx)
    try:
        _key_store(settings).revoke(name, by=_cli_actor())
    except KeyCommandError as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"revoked {name!r}; refused everywhere within {settings.key_cache_seconds:g} s")


def _demo_keys(settings: Settings) -> None:
    from serving.keys import demo_keys

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
        _features_build(settings, force=False)
        _features_apply(settings)
        _features_materialize(settings, full=False)
        console.print("champions present: keeping them (`opsmatch retrain` refreshes them)")
    elif first_champions == "background":
        _features_build(settings, force=False)
        _features_apply(settings)
        _features_materialize(settings, full=False)
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
    from serving.launch import serve_command, wait_ready

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


@app.command()
def retrain(
    ctx: typer.Context,
    force: bool = typer.Option(
        False,
        help="Retrain even when no new outcomes arrived, and even when a training frame fails its data "
        "checks (the override is tagged on the MLflow runs).",
    ),
    model: list[str] = typer.Option(None, "--model", "-m", help=MODELS_HELP),
) -> None:
    """The closed loop: new outcomes -> features -> challengers -> gate -> champions, served live."""
    _retrain(_settings(ctx), force, model or None)


def _retrain(settings: Settings, force: bool, models: list[str] | None) -> None:
    from apps.retrain import RetrainError
    from apps.retrain import retrain as run_loop

    try:
        with _progress("retraining") as progress:
            report = run_loop(settings, force=force, progress=progress, models=models, override_checks=force)
    except RetrainError as exc:
        console.print(f"[red]retrain failed at stage {exc.stage}:[/red] {exc}; nothing was recorded")
        raise typer.Exit(code=1) from exc
    for line in report.lines():
        console.print(line)
    if report.status == "locked":
        raise typer.Exit(code=3)
    if report.status == "blocked":
        raise typer.Exit(code=4)


@app.command("monitor-models")
def monitor_models(
    ctx: typer.Context,
    skew_sample: int = typer.Option(50, min=0, help="Logged rows compared with Feast's historical features."),
    log_mlflow: bool = typer.Option(
        True, help="Log the figures to the MLflow experiment opsmatch-monitoring."
    ),
) -> None:
    """Served predictions vs outcomes (ECE, Brier, AUC, MAE per model and day), feature stability vs the
    champions' training reference, online/offline skew; alerts past the thresholds."""
    from apps.monitor_models import monitor_models as run_monitor

    report = run_monitor(_settings(ctx), skew_sample=skew_sample, log_mlflow=log_mlflow)
    for line in report.lines():
        console.print(line)
    if report.run_id:
        console.print(f"logged to MLflow run {report.run_id} (experiment opsmatch-monitoring)")


@app.command()
def evaluate(
    ctx: typer.Context,
    scenario: str = typer.Option(
        "default", help="History scenario, or 'snowstorm' for the emergency replays."
    ),
    days: int = typer.Option(7, min=1, max=90, help="Days of new arrivals replayed under each policy."),
    seeds: int = typer.Option(3, min=1, max=20, help="Independent arrival sets (confidence intervals)."),
    out: Path = typer.Option(None, help="Report folder (default: <data dir>/reports/evaluation-<scenario>)."),
    log_mlflow: bool = typer.Option(True, help="Log the report and its figures to MLflow."),
) -> None:
    """Replay the same arrivals under every dispatch policy on the twin and report KPIs with CIs."""
    settings = _settings(ctx)
    _evaluate(settings, scenario, days, seeds, out or _report_dir(settings, scenario), log_mlflow)


def _report_dir(settings: Settings, scenario: str) -> Path:
    return settings.data_dir / "reports" / f"evaluation-{scenario}"


def _evaluate(settings: Settings, scenario: str, days: int, seeds: int, out: Path, log_mlflow: bool) -> None:
    from evaluation.ab import evaluate_policies
    from evaluation.report import log_report_to_mlflow, write_report

    with _progress(f"replaying {scenario}") as progress:
        report = evaluate_policies(
            settings, scenario=scenario, days=days, seeds=tuple(range(1, seeds + 1)), progress=progress
        )
    path = write_report(report, out)
    console.print(report.summary().round(4).to_string())
    for t in report.targets:
        verdict = "met" if t.met else ("not met" if t.met is not None else "n/a")
        console.print(f"{t.policy}: {t.name}: {verdict} ({t.measured}){' - ' + t.gap if t.gap else ''}")
    if log_mlflow:
        run_id = log_report_to_mlflow(settings, report, out)
        console.print(f"logged to MLflow run {run_id}")
    console.print(f"report: {path}")


def _holdout_records(settings: Settings) -> list[dict[str, Any]]:
    """The service's records of the watchlist's held-out rows (its state store)."""
    # Imported here to keep the serving stack (Feast, BentoML models) off the CLI's start-up.
    from serving.risk_desk import HOLDOUT_ACTION
    from serving.state import StateStore

    store = StateStore(settings.resolved_state_db_url)
    try:
        return store.audit_entries(action=HOLDOUT_ACTION, limit=10**9)
    finally:
        store.close()


@app.command()
def uplift(
    ctx: typer.Context,
    events: Path = typer.Argument(None, help="Event-store folder (default: the settings' events dir)."),
    policy_on: str = typer.Option(None, help="Value of assignments.policy for the switched-on policy."),
    live: bool = typer.Option(
        False,
        "--live",
        help="The service's switchback experiment: ML arm vs its baseline arm, from the live event log "
        "(slices and settling of the experiment in force unless given).",
    ),
    policy_off: str = typer.Option(None, help="The other policy (default: the other value in the log)."),
    slice_minutes: float = typer.Option(None, min=5, help="Length of the alternating time slices (60)."),
    settle_minutes: float = typer.Option(
        None, min=0, help="Settling window excluded after each switch (15)."
    ),
    watchlist: bool = typer.Option(
        False, "--watchlist", help="Contact effect of the risk team: contacted vs held-out customers."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Also write the lifts as JSON here (the console reads <data>/reports/field-uplift.json).",
    ),
) -> None:
    """Field measurement: lift of a policy switched on and off in alternating time slices, with CIs;
    with ``--watchlist``, the risk team's contact effect from the interventions and the holdout."""
    from evaluation.field import estimate_uplift

    settings = _settings(ctx)
    if watchlist:
        from evaluation.contact_effect import HOLDOUT_FILE, estimate_from_events, holdouts_from_records

        where = Path(events or settings.events_dir)
        held = None
        if not (where / HOLDOUT_FILE).exists():  # a field log: the service recorded its held-out rows
            held = holdouts_from_records(_holdout_records(settings))
        console.print(estimate_from_events(where, holdouts=held).to_text())
        return
    if live:
        from evaluation.live_uplift import experiment_in_force, live_uplift

        try:
            report = live_uplift(
                events or settings.events_dir,
                experiment_in_force(settings),
                slice_minutes=slice_minutes,
                settle_minutes=settle_minutes,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--live") from None
        _print_uplift(report, out)
        return
    if policy_on is None:
        raise typer.BadParameter(
            "--policy-on is required (or pass --watchlist or --live)", param_hint="--policy-on"
        )
    report = estimate_uplift(
        events or settings.events_dir,
        policy_on=policy_on,
        policy_off=policy_off,
        slice_minutes=60 if slice_minutes is None else slice_minutes,
        settle_minutes=15 if settle_minutes is None else settle_minutes,
    )
    _print_uplift(report, out)


def _print_uplift(report: UpliftReport, out: Path | None = None) -> None:
    """The lifts on the console; with ``out``, also as JSON (what the console's proof view charts)."""
    console.print(
        f"{report.policy_on} vs {report.policy_off}: {report.slice_minutes:.0f}-min slices, "
        f"{report.settle_minutes:.0f} min settling excluded ({report.method})"
    )
    console.print(report.frame().round(4).to_string(index=False))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        lifts = json.loads(report.frame().to_json(orient="records"))
        design = {
            k: getattr(report, k) for k in ("policy_on", "policy_off", "slice_minutes", "settle_minutes")
        }
        out.write_text(json.dumps({**design, "method": report.method, "lifts": lifts}, indent=1))
        console.print(f"lifts: {out}")


if __name__ == "__main__":  # pragma: no cover
    app()
