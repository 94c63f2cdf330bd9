"""Tables in a log read as lines: one per row, never broken into columns."""

import io

from rich.console import Console
from rich.table import Table

from apps.plain import show


def test_a_table_in_a_log_is_one_line_per_row() -> None:
    table = Table(title="event log")
    for col in ("scenario", "from", "to"):
        table.add_column(col)
    table.add_row("default", "2026-09-06T16:00:00+00:00", "2026-12-06T16:00:00+00:00")
    out = io.StringIO()
    show(Console(file=out, width=40), table)  # not a terminal, narrow
    assert out.getvalue().splitlines() == [
        "event log",
        "  scenario: default, from: 2026-09-06T16:00:00+00:00, to: 2026-12-06T16:00:00+00:00",
    ]
    drawn = io.StringIO()
    show(Console(file=drawn, width=40, force_terminal=True), table)
    assert "┃" in drawn.getvalue() or "│" in drawn.getvalue()  # a terminal gets the drawn table


def test_a_cli_message_in_a_log_is_one_line(capsys) -> None:  # noqa: ANN001
    from apps.cli.base import console

    console.print("first champions: trained in the background " * 4)  # 176 characters
    assert capsys.readouterr().out.count("\n") == 1
