"""Ingest customer files (CSV or Parquet) into the event store: validate, append idempotently, quarantine.

The I/O edge around ``opsmatch.validation``: resolve file → table, read, validate, compare with the store
(unchanged vs conflicting rows), append the new rows, write rejected rows to the quarantine folder.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from opsmatch import events
from opsmatch.contract import LOAD_ORDER, TABLES, Table
from opsmatch.event_store import StoreConflict
from opsmatch.same_content import same
from opsmatch.settings import Settings
from opsmatch.validation import (
    PROBLEM_COLUMNS,
    ContractError,
    ValidationResult,
    check_columns,
    key_index,
    validate_table,
)

DATA_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")
QUARANTINE_COLUMNS: tuple[str, ...] = ("file", "row", "column", "value", "reason")
SOURCE_PREFIX = "src_"  # original row values appear in the quarantine file as src_<column>


@dataclass
class FileReport:
    """What happened to one input file."""

    path: Path
    table: str
    read: int
    new: int
    unchanged: int
    quarantined: int
    quarantine_file: Path | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """Per-file outcomes of one ``ingest_path`` run, with totals; ``rows()`` is ready to render as a table."""

    files: list[FileReport]
    warnings: list[str] = field(default_factory=list)
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "file",
        "table",
        "read",
        "new",
        "unchanged",
        "quarantined",
        "quarantine_file",
    )

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.files)

    @property
    def unchanged(self) -> int:
        return sum(f.unchanged for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def all_warnings(self) -> list[str]:
        """Run-level warnings (skipped files) followed by each file's (ignored columns)."""
        return self.warnings + [w for f in self.files for w in f.warnings]

    def rows(self) -> list[tuple[str, str, int, int, int, int, str]]:
        """One tuple per file plus a final ``TOTAL`` row, in ``COLUMNS`` order (ready for a rich table)."""
        out = [
            (str(f.path), f.table, f.read, f.new, f.unchanged, f.quarantined, str(f.quarantine_file or ""))
            for f in self.files
        ]
        out.append(("TOTAL", "", self.read, self.new, self.unchanged, self.quarantined, ""))
        return out


def table_for_file(path: Path) -> str:
    """Contract table named by a file: ``tasks.csv``, ``tasks_2026-07.parquet``, ``qa_results_batch2.csv``.

    The stem (lower-cased, data suffix removed) must equal a table name or start with ``<table>_``;
    the longest matching table name wins.
    """
    name = path.name.lower()
    suffix = next((s for s in DATA_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise ContractError(f"{path}: refused: not a data file (expected {', '.join(DATA_SUFFIXES)})")
    stem = name[: -len(suffix)]
    matches = [t for t in TABLES if stem == t or stem.startswith(t + "_")]
    if not matches:
        raise ContractError(
            f"{path}: refused: unknown table {stem!r}; name files after a table ({', '.join(LOAD_ORDER)}), "
            "optionally with a _suffix such as tasks_2026-07.csv"
        )
    return max(matches, key=len)


def data_files(path: Path) -> tuple[list[Path], list[str]]:
    """The data files to load (in ``LOAD_ORDER``, then by name) and warnings about skipped entries."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [path], []
    files, warnings = [], []
    for p in sorted(path.iterdir()):
        if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES):
            files.append(p)
        else:
            warnings.append(f"{p}: skipped (not a {'/'.join(DATA_SUFFIXES)} file; folders are not recursed)")
    if not files:
        raise ContractError(f"{path}: refused: no {', '.join(DATA_SUFFIXES)} files in this folder")
    order = {t: i for i, t in enumerate(LOAD_ORDER)}
    return sorted(files, key=lambda p: (order[_table_or_first(p)], p.name)), warnings


def _table_or_first(path: Path) -> str:
    try:
        return table_for_file(path)
    except ContractError:
        return LOAD_ORDER[0]  # refused later, in preflight


def _open_text(path: Path) -> IO[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def preflight(path: Path) -> Table:
    """File-level checks from the header alone (no full read): table, columns, at least one data row."""
    table = TABLES[table_for_file(path)]
    try:
        if path.name.lower().endswith(".parquet"):
            meta = pq.ParquetFile(path)
            columns, has_rows = list(meta.schema_arrow.names), meta.metadata.num_rows > 0
        else:
            with _open_text(path) as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header is None:
                    raise ContractError(f"{path}: refused: empty file (no header, no rows)")
                columns = [c.strip() for c in header]
                has_rows = any(any(cell.strip() for cell in rec) for rec in reader)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        if isinstance(exc, ContractError):
            raise
        raise ContractError(f"{path}: refused: cannot read file ({exc})") from exc
    check_columns(table, columns, source=str(path))  # its warnings come again from validate_table
    if not has_rows:
        raise ContractError(f"{path}: refused: no data rows (only a header or an empty table)")
    return table


def read_file(path: Path) -> pd.DataFrame:
    """Read a file as delivered: CSV cells as strings (empty stays ``""``), Parquet with its own types."""
    try:
        df = pd.read_parquet(path) if path.name.lower().endswith(".parquet") else _read_csv_as_text(path)
    except (OSError, UnicodeDecodeError, ValueError, pa.ArrowException) as exc:
        raise ContractError(f"{path}: refused: cannot read file ({exc})") from exc
    return df.rename(columns=lambda c: str(c).strip())


def _read_csv_as_text(path: Path) -> pd.DataFrame:
    """Every cell as a string (arrow-backed); an empty cell stays ``""`` so the validator decides."""
    with _open_text(path) as fh:
        header = next(csv.reader(fh))
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def ingest_path(settings: Settings, path: Path, *, now: pd.Timestamp | None = None) -> IngestReport:
    """Validate and load one file or a folder of files into the event store.

    Every file is checked at file level before anything is written (one ``ContractError`` lists all
    refusals); then files load in ``LOAD_ORDER`` so foreign keys resolve across the files of one run.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    files, warnings = data_files(Path(path))
    errors, plans = [], []
    for f in files:
        try:
            plans.append((f, preflight(f)))
        except ContractError as exc:
            errors.append(str(exc))
    if errors:
        raise ContractError("\n".join(errors))
    run_dir = settings.quarantine_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    known = _KnownKeys(settings)
    reports = [_ingest_file(settings, f, table, known, now, run_dir) for f, table in plans]
    return IngestReport(reports, warnings)


class _KnownKeys(dict[str, set[str]]):
    """Keys of referenced tables, read lazily from the store and extended as this run appends rows."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def __missing__(self, name: str) -> set[str]:
        key = TABLES[name].key
        held = set()
        if len(key) == 1:
            col = events.read_arrow(self.settings, name, columns=[key[0]]).column(key[0])
            held = {str(k) for k in col.to_pylist()}
        self[name] = held
        return self[name]


def _ingest_file(
    settings: Settings,
    path: Path,
    table: Table,
    known: _KnownKeys,
    now: pd.Timestamp,
    run_dir: Path,
) -> FileReport:
    raw = read_file(path)
    refs = {c.references.split(".")[0] for c in table.columns if c.references}
    res = validate_table(table, raw, source=str(path), known_keys={r: known[r] for r in refs}, now=now)
    current = events.lookup(settings, table.name, res.accepted)  # stored rows sharing a key: no full read
    is_new, conflicts = _compare_with_store(table, res, raw, current)
    new_rows = res.accepted[is_new]
    added = 0
    if len(new_rows):
        try:  # another writer may have stored some of these keys since the lookup: the store decides
            added = events.append(settings, table.name, new_rows).new
        except StoreConflict as exc:
            raise ContractError(f"{path}: refused: {exc} (stored meanwhile by another writer)") from exc
        if len(table.key) == 1 and table.name in known:
            known[table.name].update(new_rows[table.key[0]].astype(str))
    problems = pd.concat([res.problems, conflicts], ignore_index=True).sort_values("row", kind="stable")
    quarantined = int(problems["row"].nunique())
    unchanged = len(res.accepted) - added - int(conflicts["row"].nunique())
    if res.rows_read != added + unchanged + quarantined:
        raise RuntimeError(f"{path}: row accounting broken: read != new + unchanged + quarantined")
    qfile = _write_quarantine(run_dir, path, raw, problems) if quarantined else None
    return FileReport(path, table.name, res.rows_read, added, unchanged, quarantined, qfile, res.warnings)


def _compare_with_store(
    table: Table, res: ValidationResult, raw: pd.DataFrame, current: pd.DataFrame
) -> tuple[np.ndarray, pd.DataFrame]:
    """Mask of accepted rows whose key is new, and problems for rows that differ from the stored row."""
    acc, key = res.accepted, list(table.key)
    if current.empty or acc.empty:
        return np.ones(len(acc), dtype=bool), _no_problems()
    cur = current.drop_duplicates(key, keep="first")
    pos = key_index(cur, key).get_indexer(key_index(acc, key))
    matched = np.flatnonzero(pos >= 0)
    a, b = acc.iloc[matched].reset_index(drop=True), cur.iloc[pos[matched]].reset_index(drop=True)
    parts = []
    for col in (c for c in table.columns if c.name not in key):
        diff = np.flatnonzero(~same(col.dtype, a[col.name], b[col.name]))
        if not len(diff):
            continue
        rows = res.accepted_rows[matched[diff]]
        stored = b[col.name].iloc[diff].astype("string").fillna("<null>")
        value = raw[col.name].iloc[rows - 1].astype("string").fillna("").to_numpy(dtype=object)
        reason = [f"conflicts with the stored row of the same key (stored value: {v})" for v in stored]
        part = {"source": res.source, "row": rows, "column": col.name, "value": value, "reason": reason}
        parts.append(pd.DataFrame(part))
    return pos < 0, pd.concat(parts, ignore_index=True) if parts else _no_problems()


def _no_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in PROBLEM_COLUMNS})


def _write_quarantine(run_dir: Path, path: Path, raw: pd.DataFrame, problems: pd.DataFrame) -> Path:
    """One CSV per source file: file,row,column,value,reason then the row as read (src_<column>)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = problems["row"].to_numpy(dtype=np.int64)
    original = raw.iloc[rows - 1].reset_index(drop=True).astype("string")
    original.columns = [f"{SOURCE_PREFIX}{c}" for c in original.columns]
    head = problems.rename(columns={"source": "file"})[list(QUARANTINE_COLUMNS)].reset_index(drop=True)
    out = run_dir / f"{path.name}.quarantine.csv"
    pd.concat([head, original], axis=1).to_csv(out, index=False)
    return out
