"""Models: ``train``, ``promote``, ``rollback``, ``retrain``, ``monitor-models``."""

from __future__ import annotations

import typer
from rich.table import Table

from apps.cli.base import _progress, _settings, app, console
from apps.plain import show
from opsmatch.settings import Settings

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
