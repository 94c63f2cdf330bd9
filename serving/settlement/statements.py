"""Settlement between provinces (结算): statements for a month or a range, and closing a month.

I/O at the edges of the pure parts: :mod:`serving.settlement.log` reads the event store,
:mod:`serving.settlement.book` keeps the closed months, :mod:`serving.settlement.lines` prices and
sums. A statement is computed as of one store version (read first), so rows stored while it is read
cannot half-appear. A closed month answers from the book, byte for byte as it was closed; the first
open month after a run of closed months carries their adjustments (late QA results or completions).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from opsmatch.settings import Settings
from serving.config import STAMP_RANGE
from serving.errors import ApiError
from serving.settlement.book import SettlementBook
from serving.settlement.lines import (
    LINE_FIELDS,
    adjustments,
    credited,
    flows,
    national,
    price,
    records,
    summaries,
)
from serving.settlement.log import SettlementLog
from serving.settlement.rates import Pricing, SettlementConfig, default_config
from serving.settlement.standards import standard_minutes, standards_from_rows
from serving.state.store import ConflictError, StateStore

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_DAYS = 366  # the longest range a statement covers
RECENT_SECONDS = 30.0  # an open statement is recomputed at most this often for its pages


@dataclass(frozen=True)
class Period:
    """[start, end) and its calendar month when it is exactly one."""

    start: datetime
    end: datetime
    month: str | None
    field: str = "month"  # the query field that set its end (named when the period has not ended)


def month_period(month: str, tz: str, loc: list[str | int] | None = None) -> Period:
    """The calendar month ``YYYY-MM`` in the settlement's time zone (422 naming ``loc`` otherwise)."""
    m = MONTH.match(month or "")
    if m is None:
        raise ApiError(422, f"month {month!r} is not YYYY-MM", loc or ["month"], "rule_violation")
    y, mo = int(m.group(1)), int(m.group(2))
    if not 1970 <= y < 2199:
        raise ApiError(422, f"month {month!r} is outside 1970-2198", loc or ["month"], "rule_violation")
    zone = ZoneInfo(tz)
    start = datetime(y, mo, 1, tzinfo=zone)
    end = datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=zone)
    return Period(start, end, month)


def _month_before(month: str, tz: str) -> str:
    start = month_period(month, tz).start - timedelta(days=1)
    return f"{start.year:04d}-{start.month:02d}"


class Settlement:
    """Statements and closes for one event store and one state store."""

    def __init__(
        self,
        events: Settings | str,
        state: StateStore,
        clock: Callable[[], datetime],
        config: SettlementConfig | None = None,
    ) -> None:
        self.log = SettlementLog(events)
        self.book = SettlementBook(state)
        self.clock = clock
        self.config = config or default_config()
        self._recent: dict[tuple, tuple[float, dict[str, Any], pd.DataFrame]] = {}

    # -- input -------------------------------------------------------------------------------------
    def _bound(self, value: date | datetime) -> datetime:
        zone = ZoneInfo(self.config.timezone)
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return datetime(value.year, value.month, value.day, tzinfo=zone)

    def period(self, start: date | datetime | None, end: date | datetime | None, month: str | None) -> Period:
        """The range asked for: ``month`` or ``from``/``to`` (422 naming the field when wrong)."""
        if month is not None:
            if start is not None or end is not None:
                raise ApiError(
                    422, "give month, or from and to, not both", ["query", "month"], "rule_violation"
                )
            return month_period(month, self.config.timezone, ["query", "month"])
        if start is None or end is None:
            where = "from" if start is None else "to"
            raise ApiError(422, f"{where} is required (or month)", ["query", where], "rule_violation")
        a, b = self._bound(start), self._bound(end)
        for ts, where in ((a, "from"), (b, "to")):
            if not STAMP_RANGE[0] <= ts < STAMP_RANGE[1]:
                raise ApiError(422, f"{where} must be from 1970 to 2199", ["query", where], "rule_violation")
        if b <= a:
            raise ApiError(422, f"to ({b.isoformat()}) is not after from ({a.isoformat()})", ["query", "to"],
                           "rule_violation")  # fmt: skip
        if b - a > timedelta(days=MAX_DAYS):
            raise ApiError(
                422, f"a statement covers at most {MAX_DAYS} days", ["query", "to"], "rule_violation"
            )
        local = a.astimezone(ZoneInfo(self.config.timezone))
        label = f"{local.year:04d}-{local.month:02d}"
        whole = month_period(label, self.config.timezone)
        return Period(a, b, label if (whole.start, whole.end) == (a, b) else None, "to")

    def _check(
        self, period: Period, province_id: str | None, provisional: bool, loc: list[str | int]
    ) -> None:
        if province_id is not None and province_id not in self.log.provinces():
            raise ApiError(
                422, f"unknown province {province_id!r}", ["query", "province_id"], "rule_violation"
            )
        now = self.clock()
        if period.end > now and not provisional:
            raise ApiError(
                422,
                f"the period ends {period.end.isoformat()}, after now ({now.isoformat()}): "
                "ask for it as provisional (provisional=true)",
                loc,
                "rule_violation",
            )

    # -- statements --------------------------------------------------------------------------------
    def statement(
        self,
        period: Period,
        province_id: str | None = None,
        *,
        provisional: bool = False,
        counterparty: str | None = None,
        offset: int = 0,
        limit: int | None = 100,
    ) -> dict[str, Any]:
        """The statement of ``period`` (frozen when it is a closed month), filtered and paged."""
        self._check(period, province_id, provisional, ["query", period.field])
        if counterparty is not None and counterparty not in self.log.provinces():
            raise ApiError(
                422, f"unknown province {counterparty!r}", ["query", "counterparty"], "rule_violation"
            )
        frozen = self.book.statement(period.month) if period.month else None
        if frozen is not None:
            assert period.month is not None
            total, page = self.book.lines(period.month, province_id, counterparty, offset, limit)
            return _view(frozen, province_id, counterparty) | {
                "lines": page, "lines_total": total, "offset": offset, "limit": limit,
            }  # fmt: skip
        head, lines = self._computed(period, provisional)
        for who in (province_id, counterparty):
            if who is not None:
                lines = lines[(lines["credit_province"] == who) | (lines["debit_province"] == who)]
        end = None if limit is None else offset + limit
        return _view(head, province_id, counterparty) | {
            "lines": records(lines.iloc[offset:end]), "lines_total": len(lines), "offset": offset,
            "limit": limit,
        }  # fmt: skip

    def _computed(self, period: Period, provisional: bool) -> tuple[dict[str, Any], pd.DataFrame]:
        """``compute`` kept ``RECENT_SECONDS`` for the pages and drill-downs of one statement (a
        default-sized month takes seconds); a close always computes afresh."""
        key = (period.start, period.end, provisional)
        now = time.monotonic()
        hit = self._recent.get(key)
        if hit is not None and now - hit[0] < RECENT_SECONDS:
            return hit[1], hit[2]
        head, lines = self.compute(period, provisional=provisional)
        self._recent = {k: v for k, v in self._recent.items() if now - v[0] < RECENT_SECONDS}
        self._recent[key] = (now, head, lines)
        return head, lines

    def compute(self, period: Period, *, provisional: bool = False) -> tuple[dict[str, Any], pd.DataFrame]:
        """(statement head, every line) of ``period`` from the log as it is now (at one version)."""
        cap = self.log.version()
        provinces = self.log.provinces()
        facts, qa = self.log.completed(period.start, period.end, cap)
        tasks = credited(facts, qa)
        sample = self.log.handling(period.start - timedelta(days=self.config.standards.lookback_days),
                                   period.start, cap)  # fmt: skip
        window = "lookback"
        if not len(sample):
            sample, window = self.log.handling(period.start, period.end, cap), "in_range"
        cells = list(zip(tasks["task_type"], tasks["complexity"].astype(int), strict=True))
        standards = standard_minutes(sample, cells, self.config.standards.min_completions)
        rates = self.config.rates(provinces)
        lines, own = price(tasks, standards, rates, self.config.pricing)
        if period.month:
            late = self._adjustments(period.month, cap)
            if late:
                lines = pd.concat([lines, pd.DataFrame(late, columns=list(LINE_FIELDS))], ignore_index=True)
        rows = summaries(lines, provinces, own)
        status = "provisional" if period.end > self.clock() else "open"  # provisional: asked for as such
        head = {
            "month": period.month,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "status": status,
            "closed_at": None,
            "closed_by": None,
            "event_version": cap,
            "currency": self.config.currency,
            "costing": _costing(self.config, window),
            "standards": [s.as_row() for s in standards.values()],
            "rates": {p: str(r) for p, r in rates.items()},
            "national": national(rows, lines),
            "provinces": rows,
            "flows": flows(lines),
        }
        return head, lines

    def _adjustments(self, month: str, cap: int) -> list[dict[str, Any]]:
        """What changed, since their close, in the run of closed months just before ``month``."""
        closed = self.book.closed()
        out: list[dict[str, Any]] = []
        prior = _month_before(month, self.config.timezone)
        while prior in closed:
            frozen = self.book.statement(prior)
            assert frozen is not None
            period = month_period(prior, self.config.timezone)
            touched = self.log.touched_after(period.start, period.end, closed[prior], cap)
            if touched:
                facts, qa = self.log.tasks(touched, cap)
                standards = standards_from_rows(frozen["standards"])
                rates = {p: Decimal(r) for p, r in frozen["rates"].items()}
                pricing = Pricing.model_validate(frozen["costing"]["pricing"])
                cells = {(t, int(c)) for t, c in zip(facts["task_type"], facts["complexity"], strict=True)}
                missing = [c for c in cells if c not in standards]  # a cell new to the month: today's
                if missing:
                    sample = self.log.handling(period.start, period.end, closed[prior])
                    standards |= standard_minutes(sample, missing, self.config.standards.min_completions)
                current, _ = price(credited(facts, qa), standards, rates, pricing)
                out += adjustments(records(current), self.book.settled(touched), prior)
            prior = _month_before(prior, self.config.timezone)
        return sorted(out, key=lambda x: (x["ref_month"], x["task_id"], x["credit_province"], x["worker_id"]))

    # -- closing -----------------------------------------------------------------------------------
    def close(self, month: str, *, actor: str, note: str | None = None) -> dict[str, Any]:
        """Freeze ``month`` (ended, not yet closed) as of the store's version now; audited."""
        period = month_period(month, self.config.timezone, ["month"])
        self._check(period, None, False, ["month"])
        if self.book.statement(month) is not None:
            raise ApiError(409, f"month {month} is already closed", ["month"], "conflict")
        head, lines = self.compute(period)
        now = self.clock()
        head = head | {"status": "closed", "closed_at": now.isoformat(), "closed_by": actor}
        try:
            self.book.close(month, head, records(lines), actor=actor, note=note, at=now)
        except ConflictError as exc:
            raise ApiError(409, str(exc), ["month"], "conflict") from None
        return head | {"lines": [], "lines_total": len(lines), "offset": 0, "limit": 0}

    def all_lines(self, period: Period, provisional: bool = False) -> tuple[dict[str, Any], pd.DataFrame]:
        """(head, every line) for an export: the frozen statement when the month is closed."""
        self._check(period, None, provisional, ["month"])
        frozen = self.book.statement(period.month) if period.month else None
        if frozen is not None and period.month:
            return frozen, pd.DataFrame(self.book.lines(period.month)[1], columns=list(LINE_FIELDS))
        return self.compute(period, provisional=provisional)


def _costing(config: SettlementConfig, window: str) -> dict[str, Any]:
    return {
        "method": "time-driven ABC: standard minutes x cost per productive minute (Kaplan & Anderson 2004)",
        "productive_minutes_per_fte_month": str(config.capacity.productive_minutes),
        "practical_share": str(config.capacity.practical_share),
        "standards": f"{config.standards.statistic} handling minutes per task type x complexity, "
        f"{config.standards.lookback_days} days before the start"
        + (" (none stored: the range itself)" if window == "in_range" else ""),
        "standards_window": window,
        "pricing": {k: str(v) for k, v in config.pricing.model_dump().items()},
        "rework": "credited once, to the worker of the last passing QA check after a failed one",
        "own_work": "work for the own province nets to zero: counted as own_tasks, no line",
    }


def _view(head: dict[str, Any], province_id: str | None, counterparty: str | None) -> dict[str, Any]:
    """The head filtered to one province (its summary row and its flows)."""
    out = dict(head)
    if province_id is not None:
        out["provinces"] = [r for r in head["provinces"] if r["province_id"] == province_id]
        out["flows"] = [
            f for f in head["flows"] if province_id in (f["worker_province"], f["owner_province"])
        ]
    if counterparty is not None:
        out["flows"] = [
            f for f in out["flows"] if counterparty in (f["worker_province"], f["owner_province"])
        ]
    out["province_id"] = province_id
    out["counterparty"] = counterparty
    return out


_BY_ENGINE: dict[int, Settlement] = {}


def settlement_of(engine: Any) -> Settlement:
    """The settlement of a service engine (its event store, state store and clock), one per engine."""
    found = _BY_ENGINE.get(id(engine))
    if found is None:
        found = _BY_ENGINE[id(engine)] = Settlement(engine.settings, engine.store, engine.clock)
    return found
