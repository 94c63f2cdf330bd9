"""Tables for people and for logs: a Rich table on a terminal, one plain line per row otherwise.

``make run > run.log`` has no terminal: Rich would draw its tables 80 columns wide and break each cell
over several lines ("event log: default, 2026-09-06T16:00 / to / ..."); a log reads as lines.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def lines(table: Table) -> list[str]:
    """The table as plain lines: its title, then ``header: value, ...`` per row."""
    heads = [str(c.header) for c in table.columns]
    cells = [[str(v) for v in c.cells] for c in table.columns]
    out = [str(table.title)] if table.title else []
    rows = zip(*cells, strict=True)
    out += ["  " + ", ".join(f"{h}: {v}" for h, v in zip(heads, row, strict=True)) for row in rows]
    return out


def show(console: Console, table: Table) -> None:
    """Print ``table``: drawn on a terminal, as lines in a log (never wrapped)."""
    if console.is_terminal:
        console.print(table)
        return
    for line in lines(table):
        console.print(line, soft_wrap=True, highlight=False)
