"""Request and response models of the risk team's endpoints: ``GET /watchlist``, ``POST /interventions``.

The intervention rows are the contract's ``interventions`` table (``opsmatch.contract``) without its
``actor``: the service records the caller's key name there, never a name from the body.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

from serving.api.contract_models import row_model
from serving.api.schemas import HARD_MAX_BATCH, ReasonOut, Tier
from serving.config import Strict

if TYPE_CHECKING:  # built at import time (see serving.api.schemas): fields from the contract

    class InterventionIn(Strict):
        def __init__(self, **data: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

else:
    InterventionIn = row_model("InterventionIn", "interventions", Strict, exclude=("actor",))


class InterventionsRequest(Strict):
    """Risk-team contacts (callback or proactive) and their outcome; idempotent by ``intervention_id``."""

    interventions: Annotated[list[InterventionIn], Field(min_length=1, max_length=HARD_MAX_BATCH)]


class InterventionsResponse(BaseModel):
    received: int
    new: int
    duplicates: int
    actor: str = Field(description="The API key's name, recorded as every new row's actor.")


class CustomerContext(BaseModel):
    """What the caller should know before dialling."""

    prior_complaints: int = Field(description="complaints before the history plus complaints filed since")
    tasks_waiting: int = Field(description="open tasks of the customer")
    hours_waiting: float = Field(description="age of the customer's oldest open task, hours")
    contacts_30d: int = Field(description="risk-team contacts in the last 30 days")
    last_contact_at: datetime | None


class TaskSummary(BaseModel):
    """The customer's riskiest open task and where it stands."""

    task_id: str
    task_type: str
    status: str
    created_at: datetime
    sla_due_at: datetime
    hours_to_sla: float
    assignments: int
    p_complaint: float
    summary: str


class WatchlistRow(BaseModel):
    rank: int
    customer_id: str
    province_id: str
    held_out: bool = Field(description="in today's random holdout: do not call (field measurement)")
    expected_complaints_prevented: float = Field(description="contact effect x expected complaints")
    expected_complaints: float = Field(description="sum of P(complaint) over the open tasks")
    p_complaint: float = Field(description="P(at least one complaint) over the open tasks")
    tier: Tier  # type: ignore[valid-type]
    context: CustomerContext
    task: TaskSummary
    reasons: list[ReasonOut]


class WatchlistResponse(BaseModel):
    date: date
    as_of: datetime
    province_id: str | None
    capacity: int = Field(description="contacts the team makes today (held-out rows not counted)")
    contacts: int
    held_out: int
    holdout_share: float
    contact_effect: float
    expected_daily_arrivals: float
    open_tasks: int
    eligible_customers: int
    recently_contacted: int = Field(description="customers left out: contacted within recontact_days")
    rows: list[WatchlistRow]
    policy_version: int
    model_version: str
