"""Validate one contract table: refuse a whole file (``ContractError``) or quarantine single rows.

Pure, vectorised logic (no file I/O): every check runs over whole columns so a million-row file takes
seconds. Row numbers are 1-based data rows as in the file, header excluded (the first data row is row 1).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from opsmatch.contract import TASK_TYPES, Column, Table
from opsmatch.events import coerce
from opsmatch.parsing import as_mask, parse_column
from opsmatch.same_content import canonical_json

PROBLEM_COLUMNS: tuple[str, ...] = ("source", "row", "column", "value", "reason")
_MAX_VALUE_CHARS = 200


class ContractError(ValueError):
    """A whole file is refused: unknown table, missing columns, no data rows, unreadable."""


@dataclass(frozen=True)
class Rejection:
    """One problem with one row: which file, which data row (1-based), which column, why."""

    source: str
    row: int
    column: str
    value: str
    reason: str


@dataclass
class ValidationResult:
    """Accepted rows in contract dtypes, plus every problem found (one line per row × problem)."""

    table: str
    source: str
    rows_read: int
    accepted: pd.DataFrame
    accepted_rows: np.ndarray  # 1-based row numbers of ``accepted``, aligned with it
    problems: pd.DataFrame  # columns PROBLEM_COLUMNS, sorted by row
    warnings: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> np.ndarray:
        """Sorted unique 1-based numbers of the quarantined rows."""
        return np.unique(self.problems["row"].to_numpy(dtype=np.int64))

    @property
    def rejections(self) -> list[Rejection]:
        """The problems as ``Rejection`` records."""
        return [Rejection(*r) for r in self.problems[list(PROBLEM_COLUMNS)].itertuples(index=False)]


def check_columns(table: Table, columns: list[str], *, source: str) -> list[str]:
    """File-level header check: raise ``ContractError`` or return warnings (extra columns are ignored)."""
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise ContractError(f"{source}: refused: duplicate column name(s) {', '.join(dupes)}")
    missing = [c for c in table.column_names if c not in columns]
    if missing:
        keys = [c for c in missing if c in table.key]
        what = f"key column(s) {', '.join(keys)}" if keys else "required column(s)"
        raise ContractError(
            f"{source}: refused: table '{table.name}' is missing {what}: {', '.join(missing)} "
            f"(expected columns: {', '.join(table.column_names)})"
        )
    extra = [c for c in columns if c not in table.column_names]
    if extra:
        return [f"{source}: ignored column(s) not in the '{table.name}' contract: {', '.join(extra)}"]
    return []


class _Collector:
    """Accumulates problems as column-wise frames and a per-row 'bad' mask."""

    def __init__(self, df: pd.DataFrame, source: str) -> None:
        self.df, self.source = df, source
        self.bad = np.zeros(len(df), dtype=bool)
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: object, column: str, reason: str | pd.Series, value: pd.Series | None = None) -> None:
        """Flag rows where ``mask``; ``reason``: one text or one per row; ``value``: one per flagged row."""
        idx = np.flatnonzero(as_mask(mask))
        if not len(idx):
            return
        if value is None:
            value = _display(self.df[column].iloc[idx])
        reasons = reason if isinstance(reason, str) else np.asarray(reason)[idx]
        self.bad[idx] = True
        values = np.asarray(value, dtype=object)
        part = {"source": self.source, "row": idx + 1, "column": column, "value": values, "reason": reasons}
        self.parts.append(pd.DataFrame(part))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in PROBLEM_COLUMNS})
        out = pd.concat(self.parts, ignore_index=True)
        return out.sort_values("row", kind="stable", ignore_index=True)


def _display(s: pd.Series) -> np.ndarray:
    """Raw values as short strings for the quarantine report (null is the empty string)."""
    out = s.astype("string").fillna("").str.slice(0, _MAX_VALUE_CHARS)
    return out.to_numpy(dtype=object)


@dataclass(frozen=True)
class _Context:
    known_keys: dict[str, set[str]]
    now: pd.Timestamp
    time_columns: frozenset[str]


def _num(x: float) -> str:
    return f"{x:g}"


def _check_column(col: Column, v: pd.Series, invalid: np.ndarray, c: _Collector, ctx: _Context) -> None:
    """Null, choices, range, foreign-key and not-in-the-future checks on parsed values."""
    null = v.isna().to_numpy() & ~invalid
    if not col.nullable:
        c.add(null, col.name, "missing value (column is required)")
    present = ~null & ~invalid
    if col.choices is not None:
        c.add(present & ~as_mask(v.isin(col.choices)), col.name, f"not one of: {', '.join(col.choices)}")
    if col.min is not None or col.max is not None:
        lo = -np.inf if col.min is None else col.min
        hi = np.inf if col.max is None else col.max
        arr = v.to_numpy(dtype="float64", na_value=np.nan)
        c.add(present & ((arr < lo) | (arr > hi)), col.name, f"out of range [{_num(lo)}, {_num(hi)}]")
    if col.max_chars is not None:
        _check_text(col, v, present, c)
    if col.references is not None:
        ref_table = col.references.split(".")[0]
        known = ctx.known_keys.get(ref_table, set())
        vals = v.to_numpy(dtype=object)[present]
        found = np.fromiter(map(known.__contains__, vals), dtype=bool, count=len(vals))
        missing = np.zeros(len(v), dtype=bool)
        missing[np.flatnonzero(present)[~found]] = True
        c.add(missing, col.name, f"unknown {col.references}: not in the event store nor loaded in this run")
    if col.name in ctx.time_columns:
        c.add(present & as_mask(v > ctx.now), col.name, f"in the future (after {ctx.now.isoformat()})")


def _check_text(col: Column, v: pd.Series, present: np.ndarray, c: _Collector) -> None:
    """Free text: at most ``col.max_chars`` characters (never cut), no NUL (UTF-8: see the parser)."""
    too_long = present & as_mask(v.str.len() > int(col.max_chars or 0))
    c.add(too_long, col.name, f"longer than {col.max_chars} characters (a text is never cut)")
    nul = present & as_mask(v.str.contains("\x00", regex=False))  # PostgreSQL text cannot hold it
    c.add(nul & ~too_long, col.name, "contains a NUL character (U+0000)")


def _check_order(v: dict[str, pd.Series], c: _Collector, early: str, late: str) -> None:
    c.add(v[late] < v[early], late, f"{late} is before {early}")


def _check_provinces(v: dict[str, pd.Series], c: _Collector) -> None:
    end, start = v["workday_end_hour"], v["workday_start_hour"]
    c.add(end <= start, "workday_end_hour", "workday_end_hour must be after workday_start_hour")
    tz = v["timezone"]
    bad_tz = tz.notna() & ~as_mask(tz.isin(_timezones()))
    c.add(bad_tz, "timezone", "not an IANA timezone (e.g. Asia/Shanghai)")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _skills_problem(obj: object) -> str:
    if not isinstance(obj, dict):
        return "skills must be a JSON object mapping task_type to level 1-5"
    for k, level in obj.items():
        if k not in TASK_TYPES:
            return f"unknown task type {k!r} in skills (known: {', '.join(TASK_TYPES)})"
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            return f"skill level for {k!r} must be an integer 1-5"
    return ""


def _check_workers(v: dict[str, pd.Series], c: _Collector) -> None:
    skills = v["skills"]
    present = skills.notna()
    reasons = skills[present].map(_skills_problem).reindex(skills.index, fill_value="")
    c.add(reasons.to_numpy() != "", "skills", reasons)
    days_ok = v["work_days"].map(_work_days_ok, na_action="ignore")
    wrong = days_ok.notna() & ~days_ok.fillna(True).astype(bool)
    c.add(wrong, "work_days", "work_days must be distinct weekday digits 0-6 (Monday=0), e.g. 01234")


def _work_days_ok(days: str) -> bool:
    return 0 < len(days) == len(set(days)) and set(days) <= set("0123456")


def _check_journeys(v: dict[str, pd.Series], c: _Collector) -> None:
    """A journey ends once: abandoned (at a step before the last) or completed (at the last step)."""
    c.add(v["step_reached"] > v["steps"], "step_reached", "step_reached is after the flow's last step")
    abandoned, completed = v["abandoned_at"].notna(), v["completed_at"].notna()
    c.add(abandoned & completed, "abandoned_at", "abandoned_at must be null when completed_at is set")
    c.add(~abandoned & ~completed, "completed_at", "a journey needs abandoned_at or completed_at")
    c.add(
        completed & (v["step_reached"] < v["steps"]),
        "step_reached",
        "a completed journey reached the last step",
    )
    _check_order(v, c, "started_at", "abandoned_at")
    _check_order(v, c, "started_at", "completed_at")


_TABLE_CHECKS: dict[str, Callable[[dict[str, pd.Series], _Collector], None]] = {
    "provinces": _check_provinces,
    "workers": _check_workers,
    "tasks": lambda v, c: _check_order(v, c, "created_at", "sla_due_at"),
    "completions": lambda v, c: _check_order(v, c, "started_at", "completed_at"),
    "journeys": _check_journeys,
}


def key_index(frame: pd.DataFrame, key: list[str]) -> pd.Index:
    """Index over the key columns (a plain object index for one column: much faster than a MultiIndex)."""
    if len(key) == 1:
        return pd.Index(frame[key[0]].to_numpy(dtype=object))
    return pd.MultiIndex.from_frame(frame[key])


def _check_duplicates(table: Table, v: dict[str, pd.Series], c: _Collector) -> None:
    """Keep the first row of each key; quarantine later ones, naming the first row."""
    keys = list(table.key)
    frame = pd.DataFrame({k: v[k] for k in keys})
    complete = frame.notna().all(axis=1).to_numpy()
    kf = frame[complete]
    dup = (kf[keys[0]].duplicated() if len(keys) == 1 else kf.duplicated()).to_numpy()
    if not dup.any():
        return
    firsts = kf[~dup]
    first_pos = firsts.index.to_numpy()[key_index(firsts, keys).get_indexer(key_index(kf[dup], keys))]
    mask = np.zeros(len(frame), dtype=bool)
    mask[kf.index.to_numpy()[dup]] = True
    reason = np.full(len(frame), "", dtype=object)
    reason[mask] = [f"duplicate key: same {', '.join(keys)} as row {p + 1}" for p in first_pos]
    shown = [_display(c.df[k].iloc[np.flatnonzero(mask)]) for k in keys]
    value = [", ".join(parts) for parts in zip(*shown, strict=True)]
    c.add(mask, ",".join(keys), pd.Series(reason), value=pd.Series(value))


def validate_table(
    table: Table, df: pd.DataFrame, *, source: str, known_keys: dict[str, set[str]], now: pd.Timestamp
) -> ValidationResult:
    """Validate ``df`` (strings from CSV or typed from Parquet) against ``table``.

    ``known_keys`` maps a referenced table name (e.g. ``"provinces"``) to the keys already in the store or
    accepted earlier in this run. Raises ``ContractError`` for file-level problems.
    """
    df = df.rename(columns=lambda c: str(c).strip())
    warnings = check_columns(table, list(df.columns), source=source)
    if len(df) == 0:
        raise ContractError(f"{source}: refused: no data rows (only a header or an empty table)")
    df = df.reset_index(drop=True)
    now = pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    time_cols = frozenset(t for t in (table.time_column, *table.extra_time_columns) if t)
    ctx = _Context(known_keys, now, time_cols)
    c = _Collector(df, source)
    values: dict[str, pd.Series] = {}
    for col in table.columns:
        v, errors = parse_column(col, df[col.name])
        invalid = np.zeros(len(df), dtype=bool)
        for mask, reason in errors:
            c.add(mask, col.name, reason)
            invalid |= as_mask(mask)
        if invalid.any():
            v = v.where(~invalid)
        _check_column(col, v, invalid, c, ctx)
        values[col.name] = v
    check = _TABLE_CHECKS.get(table.name)
    if check is not None:
        check(values, c)
    _check_duplicates(table, values, c)

    keep = ~c.bad
    typed = pd.DataFrame({name: s[keep] for name, s in values.items()})
    for col in table.columns:
        if col.dtype == "json":
            typed[col.name] = typed[col.name].map(canonical_json, na_action="ignore")
    accepted = coerce(table, typed)
    rows = np.flatnonzero(keep) + 1
    return ValidationResult(table.name, source, len(df), accepted, rows, c.frame(), warnings)
