"""The twin A/B and the field: ``evaluate``, ``uplift``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from opsmatch.settings import Settings

if TYPE_CHECKING:
    from evaluation.field import UpliftReport
from apps.cli.base import _progress, _settings, app, console


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
    from serving.risk.desk import HOLDOUT_ACTION
    from serving.state.store import StateStore

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
