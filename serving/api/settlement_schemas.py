"""Request and response models of ``GET /settlement`` and ``POST /settlement/close``.

Money is text in yuan with two decimals (``"1234.56"``) and whole cents beside it: never a float.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.api.schemas import Note

Money = str


class SettlementLine(BaseModel):
    """One priced task (or one adjustment of a task of a closed month)."""

    kind: Literal["work", "adjustment"]
    task_id: str
    ref_month: str | None = Field(description="For an adjustment: the closed month of the task")
    credit_province: str = Field(description="Province of the worker credited (did the accepted work)")
    debit_province: str = Field(description="Province that owns the task (debited)")
    worker_id: str
    completed_at: str
    task_type: str
    complexity: int
    qa: Literal["unchecked", "passed", "reworked", "failed"]
    late: bool = Field(description="Completed after its SLA")
    standard_minutes: str
    rate: str = Field(description="Yuan per productive minute of the credited province")
    factor: str = Field(description="Late and failed-QA factors applied")
    amount_cents: int


class ProvinceSummary(BaseModel):
    province_id: str
    credit: Money
    debit: Money
    net: Money
    credit_cents: int
    debit_cents: int
    net_cents: int
    tasks_for_others: int
    tasks_by_others: int
    minutes_for_others: str
    minutes_by_others: str
    own_tasks: int = Field(description="Work for the own province: nets to zero, no line")
    adjustment_lines: int


class Flow(BaseModel):
    """One cell of the who-worked-for-whom matrix."""

    worker_province: str
    owner_province: str
    tasks: int
    amount: Money
    amount_cents: int


class National(BaseModel):
    credit: Money
    debit: Money
    credit_cents: int
    debit_cents: int
    tasks: int
    adjustment_lines: int


class Standard(BaseModel):
    task_type: str
    complexity: int
    minutes: str
    basis: Literal["cell", "type", "all"]
    completions: int


class SettlementOut(BaseModel):
    """A statement: summary per province, the matrix, the figures it used and a page of its lines."""

    model_config = ConfigDict(populate_by_name=True)
    month: str | None = Field(description="YYYY-MM when the range is exactly one calendar month")
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    status: Literal["open", "provisional", "closed"]
    closed_at: str | None
    closed_by: str | None
    event_version: int = Field(description="Event store version the statement was computed at")
    currency: str
    costing: dict[str, object]
    standards: list[Standard]
    rates: dict[str, str]
    national: National
    provinces: list[ProvinceSummary]
    flows: list[Flow]
    province_id: str | None = None
    counterparty: str | None = None
    lines: list[SettlementLine]
    lines_total: int
    offset: int
    limit: int | None


class CloseRequest(BaseModel):
    """Close (freeze) a calendar month that has ended."""

    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM", examples=["2026-11"])
    note: Note | None = None
