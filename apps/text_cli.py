"""``opsmatch text train``: the text model on what customers said, measured, tracked and gated in MLflow.

Prints the holdout table (complaint AUC, Brier, ECE with text, without, with the keyword list) and
whether the ``opsmatch-complaint_text`` champion moved (``training.text_run``).
"""

from __future__ import annotations

import json

import typer

from opsmatch.settings import Settings

text_app = typer.Typer(help="The text model: complaint risk from what customers said.", no_args_is_help=True)


@text_app.command("train")
def train(ctx: typer.Context) -> None:
    """Train on the event store's contacts, report the holdout table, gate the champion."""
    from training.text_run import train_text

    settings = ctx.find_root().obj
    assert isinstance(settings, Settings), "the root callback builds the settings"
    out = train_text(settings)
    typer.echo(json.dumps(out, indent=1, ensure_ascii=False))
