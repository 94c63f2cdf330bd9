"""The feature build's input tables, read when a builder first needs them and released after the last.

``features.pipeline.build_features`` used to read every input table before building anything: at ten
times the default (``national``, 45 days: 9.2 M input rows) that held 3.4 GB before the first output
table, and the build peaked at 4.35 GB. ``LazyInputs`` is the same ``name -> frame`` mapping the builders
read, but a table is read from the event store on first use (only ``INPUT_COLUMNS`` where the builders
use fewer columns than the table has), and ``iter_tables(..., release=True)`` drops each table after the
last builder that reads it (``RELEASE_AFTER``). The frames, so the feature tables, are the same.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from opsmatch.events import read_table
from opsmatch.heap import frame_bytes, give_back
from opsmatch.settings import Settings

# Columns the builders read, for tables that hold more (at 10x: assignments' ids and policy, ~0.4 GB).
INPUT_COLUMNS: dict[str, list[str]] = {"assignments": ["task_id", "assigned_at"]}
# Output table -> input tables no later builder reads (``features.pipeline.iter_tables``' order).
RELEASE_AFTER: dict[str, tuple[str, ...]] = {
    "customer_profile": ("customers", "complaints", "interventions"),
    "province_status": ("tasks", "completions", "assignments", "workers", "provinces"),
    "worker_status": ("worker_status",),
    "worker_last_qa": ("qa_results",),
}


class LazyInputs(dict[str, pd.DataFrame]):
    """``name -> frame`` of the input tables as of one store ``version``, each read on first use."""

    def __init__(self, where: Settings | Path, names: tuple[str, ...], version: int) -> None:
        super().__init__()
        self.where, self.names, self.version = where, names, version

    def __missing__(self, name: str) -> pd.DataFrame:
        if name not in self.names:
            raise KeyError(name)
        frame = read_table(self.where, name, version=self.version, columns=INPUT_COLUMNS.get(name))
        self[name] = frame
        return frame

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def time_column(self, name: str, column: str) -> pd.Series:
        """One column of a table: from the frame when it is read, else only that column from the store."""
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)[column]
        return read_table(self.where, name, version=self.version, columns=[column])[column]

    def release(self, names: tuple[str, ...]) -> None:
        """Drop these tables (read again if asked for) and hand the freed heap back to the OS."""
        freed = sum(frame_bytes(dict.__getitem__(self, n)) for n in names if dict.__contains__(self, n))
        for name in names:
            self.pop(name, None)
        give_back(freed)
