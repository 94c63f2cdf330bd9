"""``opsmatch settlement --month 2026-11 --out DIR``: a month's statement between provinces as files.

Writes ``settlement-<month>-lines`` (every line: task, worker, dates, standard minutes, rate, cents),
``-provinces`` (credit, debit, net per province) and ``-flows`` (who worked for whom) as CSV and
Parquet, and ``-statement.json`` (the figures the prices rest on). A closed month is written from its
frozen statement: the same files, byte for byte, however late events arrived since.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer

from opsmatch.settings import Settings

FLOW_FIELDS = ("worker_province", "owner_province", "tasks", "amount", "amount_cents")
settlement_app = typer.Typer(help="Settlement between provinces: a month's statement as CSV and Parquet.")


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "the root callback builds the settings"
    return settings


def export(settings: Settings, month: str, out: Path, provisional: bool = False) -> dict[str, Path]:
    """Write the files of ``month`` under ``out``; returns them by name."""
    from opsmatch.clock import clock_from
    from serving.settlement.statements import Settlement, month_period
    from serving.state.store import StateStore

    state = StateStore(settings.resolved_state_db_url)
    try:
        settle = Settlement(settings, state, clock_from(settings))
        head, lines = settle.all_lines(month_period(month, settle.config.timezone), provisional)
    finally:
        state.close()
    out.mkdir(parents=True, exist_ok=True)
    frames = {
        "lines": lines.astype({"late": bool, "complexity": "int64", "amount_cents": "int64"}),
        "provinces": pd.DataFrame(head["provinces"]),
        "flows": pd.DataFrame(head["flows"], columns=list(FLOW_FIELDS)),
    }
    written: dict[str, Path] = {}
    for name, frame in frames.items():
        base = out / f"settlement-{month}-{name}"
        frame.to_csv(base.with_suffix(".csv"), index=False, lineterminator="\n")
        table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
        pq.write_table(table, base.with_suffix(".parquet"))
        written[f"{name}.csv"] = base.with_suffix(".csv")
        written[f"{name}.parquet"] = base.with_suffix(".parquet")
    head_only = {k: v for k, v in head.items() if k not in ("provinces", "flows")}
    statement = out / f"settlement-{month}-statement.json"
    statement.write_text(json.dumps(head_only, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    written["statement.json"] = statement
    return written


@settlement_app.callback(invoke_without_command=True)
def settlement(
    ctx: typer.Context,
    month: str = typer.Option(..., help="Calendar month YYYY-MM (the settlement's time zone)."),
    out: Path = typer.Option(..., help="Folder for the CSV, Parquet and JSON files."),
    provisional: bool = typer.Option(False, help="Allow a month that has not ended yet."),
) -> None:
    """A month's statement between provinces (credits, debits, net, lines to the task)."""
    from serving.errors import ApiError

    try:
        written = export(_settings(ctx), month, out, provisional)
    except ApiError as exc:
        raise typer.BadParameter(exc.message, param_hint="--month") from None
    for name, path in written.items():
        typer.echo(f"{name}: {path}")
