"""Standard minutes per task type x complexity, from the log's completions (pure).

The median ``handling_minutes`` over a stated window (``settlement.yaml``: the ``lookback_days``
before the statement starts), rounded to a tenth of a minute. A cell with fewer than
``min_completions`` falls back to its task type's median, then to the median of every completion;
``basis`` says which ("cell", "type", "all").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd

TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Standard:
    """The standard minutes of one (task type, complexity) and what they rest on."""

    task_type: str
    complexity: int
    minutes: Decimal
    basis: str  # cell | type | all
    completions: int  # completions the figure rests on

    def as_row(self) -> dict[str, Any]:
        return {
            "task_type": self.task_type,
            "complexity": self.complexity,
            "minutes": str(self.minutes),
            "basis": self.basis,
            "completions": self.completions,
        }


def _tenth(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(TENTH, ROUND_HALF_EVEN)


def standard_minutes(
    sample: pd.DataFrame, cells: list[tuple[str, int]], min_completions: int
) -> dict[tuple[str, int], Standard]:
    """Standards for ``cells`` from ``sample`` (task_type, complexity, handling_minutes)."""
    if not len(sample):
        return {}
    minutes = sample["handling_minutes"].astype(float)
    by_cell = minutes.groupby([sample["task_type"], sample["complexity"].astype(int)]).agg(["median", "size"])
    by_type = minutes.groupby(sample["task_type"]).agg(["median", "size"])
    overall = (float(minutes.median()), len(minutes))
    out: dict[tuple[str, int], Standard] = {}
    for task_type, complexity in sorted(set(cells)):
        key = (task_type, int(complexity))
        if key in by_cell.index and by_cell.loc[key, "size"] >= min_completions:
            med, n, basis = by_cell.loc[key, "median"], by_cell.loc[key, "size"], "cell"
        elif task_type in by_type.index and by_type.loc[task_type, "size"] >= min_completions:
            med, n, basis = by_type.loc[task_type, "median"], by_type.loc[task_type, "size"], "type"
        else:
            med, n, basis = overall[0], overall[1], "all"
        out[key] = Standard(task_type, int(complexity), _tenth(med), basis, int(n))
    return out


def standards_from_rows(rows: list[dict[str, Any]]) -> dict[tuple[str, int], Standard]:
    """Standards recorded in a statement, back as objects (a closed month reprices with its own)."""
    return {
        (r["task_type"], int(r["complexity"])): Standard(
            r["task_type"], int(r["complexity"]), Decimal(r["minutes"]), r["basis"], int(r["completions"])
        )
        for r in rows
    }
