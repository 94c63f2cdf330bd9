"""The settlement's settings (``settlement/settlement.yaml``), the cost per productive minute by province.

Time-driven ABC (Kaplan & Anderson 2004): cost per productive minute = monthly staff cost per FTE /
(paid minutes per month x practical share). Money is :class:`~decimal.Decimal`, never a float: a rate
is kept to 1/10,000 of a yuan, amounts are whole cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

RATE_STEP = Decimal("0.0001")  # yuan per minute
CENT = Decimal("0.01")


class Capacity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paid_days_per_month: Decimal = Field(gt=0, le=31)
    paid_hours_per_day: Decimal = Field(gt=0, le=24)
    practical_share: Decimal = Field(gt=0, le=1)

    @property
    def productive_minutes(self) -> Decimal:
        """Productive minutes per FTE per month (paid minutes x practical share)."""
        return self.paid_days_per_month * self.paid_hours_per_day * 60 * self.practical_share


class StaffCost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monthly_per_fte: Decimal = Field(gt=0, le=10_000_000)
    provinces: dict[str, Decimal] = Field(default_factory=dict)


class Standards(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statistic: str = Field(default="median", pattern="^median$")
    lookback_days: int = Field(default=90, ge=1, le=3650)
    min_completions: int = Field(default=20, ge=1, le=100_000)


class Pricing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    late_factor: Decimal = Field(default=Decimal(1), ge=0, le=10)
    failed_qa_factor: Decimal = Field(default=Decimal(0), ge=0, le=1)


class SettlementConfig(BaseModel):
    """Everything a statement's prices depend on (recorded in every statement)."""

    model_config = ConfigDict(extra="forbid")
    currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    capacity: Capacity
    staff_cost: StaffCost
    standards: Standards = Standards()
    pricing: Pricing = Pricing()

    def rate(self, province_id: str) -> Decimal:
        """Yuan per productive minute of ``province_id``'s staff."""
        cost = self.staff_cost.provinces.get(province_id, self.staff_cost.monthly_per_fte)
        return (cost / self.capacity.productive_minutes).quantize(RATE_STEP, ROUND_HALF_EVEN)

    def rates(self, province_ids: list[str]) -> dict[str, Decimal]:
        """``{province: yuan per productive minute}`` for the given provinces."""
        return {p: self.rate(p) for p in sorted(province_ids)}


def _yaml() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parent / "settlement.yaml").read_text(encoding="utf-8")) or {}


@lru_cache(maxsize=1)
def default_config() -> SettlementConfig:
    """The settings of ``settlement.yaml``."""
    return SettlementConfig.model_validate(_yaml())


def load_config(overrides: dict[str, Any] | None = None) -> SettlementConfig:
    """``settlement.yaml`` with ``overrides`` merged one level deep (tests, other centres)."""
    if not overrides:
        return default_config()
    data = _yaml()
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return SettlementConfig.model_validate(data)


def cents(amount: Decimal) -> int:
    """Whole cents of a yuan amount (half to even)."""
    return int((amount / CENT).quantize(Decimal(1), ROUND_HALF_EVEN))


def yuan(amount_cents: int) -> str:
    """A cent amount as yuan text, e.g. 123456 -> '1234.56'."""
    return str((Decimal(amount_cents) * CENT).quantize(CENT))
