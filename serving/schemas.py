"""Request and response models of every endpoint.

Requests refuse unknown fields, NaN and infinities, empty ids and naive timestamps; batch sizes have
a hard ceiling here and a configurable one in the service (``defaults.yaml``: ``service``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from opsmatch.contract import AGE_BANDS, CHANNELS, COMPLAINT_REASONS, SEVERITIES, VALUE_BANDS
from serving.config import (
    NonNeg,
    Policy,
    Prob,
    ProvinceId,
    RiskTiers,
    Strict,
    TaskType,
)
from serving.risk import TIERS

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=200)]
STAMP_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


def _plausible(ts: datetime) -> datetime:
    if not STAMP_RANGE[0] <= ts < STAMP_RANGE[1]:
        raise ValueError("timestamp must be from 1970 to 2199")
    return ts


def _whole(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer: take it; refuse strings and booleans as the schema does."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


WHOLE = BeforeValidator(_whole)  # after the bounds: ``Annotated[int, Field(ge=1), WHOLE]``
# An ISO 8601 timestamp with its offset, in the years the event store can hold.
Stamp = Annotated[AwareDatetime, AfterValidator(_plausible)]
Note = Annotated[str, StringConstraints(max_length=2000)]
# The contract's enums (``opsmatch.contract``) and the risk tiers, as request/response types.
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
AgeBand = Literal[AGE_BANDS]  # type: ignore[valid-type]
ValueBand = Literal[VALUE_BANDS]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
ComplaintReason = Literal[COMPLAINT_REASONS]  # type: ignore[valid-type]
Tier = Literal[TIERS]  # type: ignore[valid-type]
HARD_MAX_BATCH = 50_000


class InlineCustomer(Strict):
    """Customer traits of an inline task (used when the customer is not in the feature store)."""

    age_band: AgeBand | None = None
    channel: Channel | None = None
    tenure_years: Annotated[float, Field(ge=0, le=100)] | None = None
    policy_value_band: ValueBand | None = None
    vip: bool | None = None
    prior_complaints: Annotated[int, Field(ge=0, le=1000), WHOLE] | None = None


class InlineTask(Strict):
    """A task given in full (e.g. just arrived, not yet in the feature store)."""

    task_id: Id
    task_type: TaskType
    province_id: ProvinceId
    created_at: Stamp
    sla_due_at: Stamp
    complexity: Annotated[int, Field(ge=1, le=5), WHOLE] = 3
    customer_id: Id | None = None
    channel: Channel | None = None
    amount: Annotated[float, Field(ge=0, le=1e10)] | None = None
    customer: InlineCustomer | None = None

    @model_validator(mode="after")
    def _sla_after_creation(self) -> InlineTask:
        if self.sla_due_at < self.created_at:
            raise ValueError("sla_due_at must not be before created_at")
        return self


class _TaskBatch(Strict):
    task_ids: Annotated[
        list[Id], Field(max_length=HARD_MAX_BATCH, json_schema_extra={"uniqueItems": True})
    ] = Field(default_factory=list)
    tasks: Annotated[list[InlineTask], Field(max_length=HARD_MAX_BATCH)] = Field(default_factory=list)
    as_of: Stamp | None = Field(default=None, description="Evaluate at this time instead of now.")

    @model_validator(mode="after")
    def _some_unique_tasks(self) -> _TaskBatch:
        if not self.task_ids and not self.tasks:
            raise ValueError("give at least one task in task_ids or tasks")
        ids = list(self.task_ids) + [t.task_id for t in self.tasks]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:10]
            raise ValueError(f"duplicate task ids: {', '.join(dup)}")
        return self


# -- /rank ----------------------------------------------------------------------------------------
class RankRequest(Strict):
    """One task by id or inline, how many workers to return, optional province filter."""

    task_id: Id | None = None
    task: InlineTask | None = None
    top_k: Annotated[int, Field(ge=1, le=1000), WHOLE] = 10
    provinces: Annotated[list[ProvinceId], Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="Only consider workers of these provinces."
    )
    as_of: Stamp | None = None

    @model_validator(mode="after")
    def _one_task(self) -> RankRequest:
        if (self.task_id is None) == (self.task is None):
            raise ValueError("give exactly one of task_id or task")
        return self


class CostParts(BaseModel):
    efficiency: float
    quality: float
    complaint: float
    load: float
    cross_province: float
    sla: float


class RankedWorker(BaseModel):
    rank: int
    worker_id: str
    province_id: str
    predicted_minutes: float
    p_qa_pass: float
    p_complaint: float
    cost: float
    cost_parts: CostParts
    open_tasks: int
    capacity: int
    reason_codes: list[str]


class RankResponse(BaseModel):
    task_id: str
    task_type: str
    province_id: str
    as_of: datetime
    eligible: int
    excluded: dict[str, int]
    workers: list[RankedWorker]
    policy_version: int
    model_versions: dict[str, str]


# -- /assign --------------------------------------------------------------------------------------
class AssignRequest(_TaskBatch):
    """Pending tasks (ids and/or inline) and an optional subset of workers to assign them to."""

    worker_ids: Annotated[list[Id], Field(min_length=1, max_length=HARD_MAX_BATCH)] | None = None


class Assignment(BaseModel):
    task_id: str
    worker_id: str
    worker_province_id: str
    task_province_id: str
    overdue: bool
    predicted_minutes: float
    p_qa_pass: float
    p_complaint: float
    cost: float
    cost_parts: CostParts


class Unassigned(BaseModel):
    task_id: str
    task_province_id: str
    overdue: bool
    reason: Literal["no_eligible_worker", "capacity_exhausted"]
    excluded: dict[str, int] = Field(default_factory=dict)


class AssignResponse(BaseModel):
    as_of: datetime
    assignments: list[Assignment]
    unassigned: list[Unassigned]
    objective: float
    n_tasks: int
    n_assigned: int
    n_overdue: int
    n_overdue_assigned: int
    closed_provinces: list[str]
    moved_from_closed: int
    scored_pairs: int
    solver_iterations: int
    policy_version: int
    model_versions: dict[str, str]


# -- /risk ----------------------------------------------------------------------------------------
class RiskRequest(_TaskBatch):
    """Tasks (ids and/or inline) to score for complaint risk before assignment."""


class ReasonOut(BaseModel):
    code: str
    text: str
    contribution: float


class RiskItem(BaseModel):
    task_id: str
    customer_id: str | None
    province_id: str
    probability: float
    tier: Tier
    reasons: list[ReasonOut]


class CustomerRisk(BaseModel):
    customer_id: str
    probability: float
    tier: Tier
    task_ids: list[str]


class RiskResponse(BaseModel):
    items: list[RiskItem]
    customers: list[CustomerRisk]
    thresholds: RiskTiers
    alerts_raised: int
    model_version: str


# -- /alerts --------------------------------------------------------------------------------------
class AlertOut(BaseModel):
    id: str
    kind: str
    severity: str
    province_id: str | None
    subject_id: str
    message: str
    details: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    acked: bool
    acked_by: str | None
    acked_at: datetime | None
    ack_note: str | None


class AlertList(BaseModel):
    count: int
    alerts: list[AlertOut]


_ACTOR_NOTE = "Free text kept as a note; the audit's actor is the API key's name, whatever this says."


class AckRequest(Strict):
    actor: Actor | None = Field(default=None, description=_ACTOR_NOTE)
    note: Note | None = None


# -- /outcomes ------------------------------------------------------------------------------------
class CompletionIn(Strict):
    task_id: Id
    worker_id: Id
    started_at: Stamp
    completed_at: Stamp
    handling_minutes: Annotated[float, Field(ge=0, le=60 * 24 * 30)]

    @model_validator(mode="after")
    def _ordered(self) -> CompletionIn:
        if self.completed_at < self.started_at:
            raise ValueError("completed_at must not be before started_at")
        return self


class QaResultIn(Strict):
    qa_id: Id
    task_id: Id
    worker_id: Id
    checked_at: Stamp
    passed: bool
    score: Annotated[float, Field(ge=0, le=100)]
    satisfaction: Annotated[int, Field(ge=1, le=5), WHOLE] | None = None


class ComplaintIn(Strict):
    complaint_id: Id
    task_id: Id
    customer_id: Id
    filed_at: Stamp
    severity: Severity
    reason: ComplaintReason


class OutcomesRequest(Strict):
    """Completions, QA results and complaints from the QA system."""

    completions: Annotated[list[CompletionIn], Field(max_length=HARD_MAX_BATCH)] = Field(default_factory=list)
    qa_results: Annotated[list[QaResultIn], Field(max_length=HARD_MAX_BATCH)] = Field(default_factory=list)
    complaints: Annotated[list[ComplaintIn], Field(max_length=HARD_MAX_BATCH)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> OutcomesRequest:
        if not (self.completions or self.qa_results or self.complaints):
            raise ValueError("give at least one row in completions, qa_results or complaints")
        return self


class TableReceipt(BaseModel):
    received: int
    new: int
    duplicates: int


class OutcomesResponse(BaseModel):
    tables: dict[str, TableReceipt]
    profiles_refreshed: bool


# -- /workers/status ------------------------------------------------------------------------------
class WorkerStatusIn(Strict):
    worker_id: Id
    at: Stamp
    on_shift: bool
    open_tasks: Annotated[int, Field(ge=0, le=10_000), WHOLE]


class WorkerStatusRequest(Strict):
    statuses: Annotated[list[WorkerStatusIn], Field(min_length=1, max_length=HARD_MAX_BATCH)]


class WorkerStatusResponse(BaseModel):
    received: int
    stored: int
    alerts_raised: int


# -- /policy --------------------------------------------------------------------------------------
class WeightsPatch(Strict):
    efficiency: NonNeg | None = None
    quality: NonNeg | None = None
    complaint: NonNeg | None = None
    load: NonNeg | None = None
    cross_province: NonNeg | None = None
    sla: NonNeg | None = None


class SharingPatch(Strict):
    share_in: bool | None = None
    share_out: bool | None = None
    closed: bool | None = None


class RiskTiersPatch(Strict):
    high: Prob | None = None
    medium: Prob | None = None


class AlertRulesPatch(Strict):
    high_risk_tier: Literal["high", "medium"] | None = None
    sla_near_hours: Annotated[float, Field(ge=0, le=24 * 30)] | None = None
    backlog_min_tasks: Annotated[int, Field(ge=1), WHOLE] | None = None
    backlog_per_worker: Annotated[float, Field(gt=0)] | None = None
    overload_ratio: Annotated[float, Field(gt=0, le=100)] | None = None


class PolicyUpdate(Strict):
    """Partial policy change: fields left out keep their value; the key's name and the note are recorded."""

    actor: Actor | None = Field(default=None, description=_ACTOR_NOTE)
    note: Note | None = None
    expected_version: Annotated[int, Field(ge=0), WHOLE] | None = Field(
        default=None, description="Refuse (409) unless the policy in force has this version."
    )
    weights: WeightsPatch | None = None
    sla_cap: Annotated[float, Field(gt=0, le=1000)] | None = None
    default_sharing: SharingPatch | None = None
    provinces: Annotated[dict[ProvinceId, SharingPatch], Field(max_length=1000)] | None = None
    min_skill_level: dict[TaskType, Annotated[int, Field(ge=1, le=5), WHOLE]] | None = None
    max_open_tasks: Annotated[int, Field(ge=1, le=10_000), WHOLE] | None = None
    risk_tiers: RiskTiersPatch | None = None
    alerts: AlertRulesPatch | None = None
    type_median_minutes: dict[TaskType, Annotated[float, Field(gt=0, le=1e5)]] | None = None

    def changes(self) -> dict[str, Any]:
        """The policy fields this update sets."""
        return self.model_dump(exclude_unset=True, exclude={"actor", "note", "expected_version"})


class PolicyOut(BaseModel):
    version: int
    policy: Policy
    closed_provinces: list[str]
    history: list[dict[str, Any]] = Field(default_factory=list)


# -- /info ----------------------------------------------------------------------------------------
class InfoResponse(BaseModel):
    service: str
    ready: bool
    model_versions: dict[str, str]
    policy_version: int
    workers: int
    profiles_refreshed_at: datetime | None
    profiles_staleness_seconds: float | None
    state_store: str
    limits: dict[str, Any]
