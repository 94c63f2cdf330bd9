"""Request and response models of every endpoint.

Requests refuse unknown fields, NaN and infinities, empty ids and naive timestamps; batch sizes have
a hard ceiling here and a configurable one in the service (``defaults.yaml``: ``service``).
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from opsmatch.contract import AGE_BANDS, CHANNELS, VALUE_BANDS
from serving.api.contract_models import Id, bounds, row_model
from serving.api.patch_models import patch_model
from serving.config import STAMP_RANGE, WHOLE, Policy, ProvinceId, RiskTiers, Stamp, Strict, TaskType
from serving.matching.urgency import Urgency
from serving.risk.reasons import TIERS


def _iso_text(pattern: str, form: str):  # noqa: ANN202 - a pydantic before-validator
    """Refuse anything but ISO text (or the parsed value): pydantic's lax mode would read ``date=0`` or
    ``created_after=0`` as the Unix epoch, which a query string never means."""
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, dt.date) or (isinstance(value, str) and compiled.fullmatch(value)):
            return value
        raise PydanticCustomError(
            "iso_format", "expected {form}, got {value}", {"form": form, "value": repr(value)}
        )

    return BeforeValidator(check)


def _in_years(value: dt.date) -> dt.date:
    """The years the event store holds, as for :data:`serving.config.Stamp` (pandas cannot reckon
    with year 292): a rule beyond the schema, so 422 naming the parameter, never a 500."""
    if not STAMP_RANGE[0].year <= value.year < STAMP_RANGE[1].year:
        raise ValueError(f"must be from {STAMP_RANGE[0].year} to {STAMP_RANGE[1].year - 1}")
    return value


QueryDate = Annotated[
    dt.date, _iso_text(r"\d{4}-\d{2}-\d{2}", "a date as YYYY-MM-DD"), AfterValidator(_in_years)
]
QueryStamp = Annotated[
    datetime,
    _iso_text(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?", "an ISO timestamp (YYYY-MM-DD[THH:MM[:SS]][+HH:MM])"),
    AfterValidator(_in_years),
]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(max_length=2000)]
# The contract's enums (``opsmatch.contract``) and the risk tiers, as request/response types.
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
AgeBand = Literal[AGE_BANDS]  # type: ignore[valid-type]
ValueBand = Literal[VALUE_BANDS]  # type: ignore[valid-type]
Tier = Literal[TIERS]  # type: ignore[valid-type]
HARD_MAX_BATCH = 50_000


class InlineCustomer(Strict):
    """Customer traits of an inline task (used when the customer is not in the feature store)."""

    age_band: AgeBand | None = None
    channel: Channel | None = None
    tenure_years: Annotated[float, bounds("customers", "tenure_years")] | None = None
    policy_value_band: ValueBand | None = None
    vip: bool | None = None
    prior_complaints: Annotated[int, bounds("customers", "prior_complaints"), WHOLE] | None = None


class InlineTask(Strict):
    """A task given in full (e.g. just arrived, not yet in the feature store)."""

    task_id: Id
    task_type: TaskType
    province_id: ProvinceId
    created_at: Stamp
    sla_due_at: Stamp
    complexity: Annotated[int, bounds("tasks", "complexity"), WHOLE] = 3
    customer_id: Id | None = None
    channel: Channel | None = None
    amount: Annotated[float, bounds("tasks", "amount")] | None = None
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
        _check_tasks(self.task_ids, self.tasks, required=True)
        return self


def _check_tasks(task_ids: list[str], tasks: list[InlineTask], *, required: bool) -> None:
    """At least one task (when ``required``), no id twice."""
    if required and not task_ids and not tasks:
        raise ValueError("give at least one task in task_ids or tasks")
    ids = list(task_ids) + [t.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:10]
        raise ValueError(f"duplicate task ids: {', '.join(dup)}")


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
    shift_end: float


AvailabilitySource = Literal["live", "roster", "last_status", "assumed"]


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
    availability: AvailabilitySource = Field(description="What decided the worker is on shift")
    shift_minutes_left: float | None = Field(description="Minutes to the end of the rostered shift")


class RankResponse(BaseModel):
    task_id: str
    task_type: str
    province_id: str
    as_of: datetime
    eligible: int
    excluded: dict[str, int]
    availability: dict[str, int] = Field(description="Workers considered, by what decided their availability")
    workers: list[RankedWorker]
    policy_version: int
    model_versions: dict[str, str]
    fallback: str | None = Field(
        default=None,
        description="Why rule ranking served instead of the models (model_unavailable, model_error, "
        "non_finite, feature_store, few_eligible); null when the models did",
    )


# -- /assign --------------------------------------------------------------------------------------
class AssignRequest(_TaskBatch):
    """Pending tasks (ids and/or inline) and an optional subset of workers to assign them to."""

    worker_ids: Annotated[list[Id], Field(min_length=1, max_length=HARD_MAX_BATCH)] | None = None
    commit: bool = Field(default=False, description="Commit every proposed assignment (source assign).")
    all_waiting: bool = Field(
        default=False, description="Dispatch every waiting task (oldest SLA first, up to max_batch_tasks)."
    )
    limit: Annotated[int, Field(ge=1, le=HARD_MAX_BATCH), WHOLE] = Field(
        default=100,
        description="At most this many unassigned tasks listed (n_unassigned, unassigned_counts: all).",
    )

    @model_validator(mode="after")
    def _some_unique_tasks(self) -> AssignRequest:  # overrides the batch's: all_waiting needs no ids
        _check_tasks(self.task_ids, self.tasks, required=not self.all_waiting)
        return self


class Assignment(BaseModel):
    task_id: str
    worker_id: str
    worker_province_id: str
    task_province_id: str
    overdue: bool
    urgency: Urgency
    predicted_minutes: float
    p_qa_pass: float
    p_complaint: float
    cost: float
    cost_parts: CostParts
    availability: AvailabilitySource
    shift_minutes_left: float | None
    arm: str = "ml"
    assignment_id: str | None = Field(default=None, description="Set when the assignment was committed.")


class Unassigned(BaseModel):
    task_id: str
    task_province_id: str
    overdue: bool
    urgency: Urgency
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
    n_near_sla: int
    n_near_sla_assigned: int
    availability: dict[str, int] = Field(description="Workers considered, by what decided their availability")
    closed_provinces: list[str]
    moved_from_closed: int
    scored_pairs: int
    solver_iterations: int
    policy_version: int
    model_versions: dict[str, str]
    committed: int = 0
    arms: dict[str, int] = Field(default_factory=dict, description="Tasks decided by each experiment arm.")
    n_unassigned: int = Field(default=0, description="Tasks left unassigned (the list shows a page: limit)")
    unassigned_counts: dict[str, int] = Field(default_factory=dict, description="Unassigned tasks by reason")
    fallback: str | None = Field(
        default=None,
        description="Why rule ranking served instead of the models (model_unavailable, model_error, "
        "non_finite, feature_store, few_eligible); null when the models did",
    )


# -- /risk ----------------------------------------------------------------------------------------
class RiskRequest(_TaskBatch):
    """Tasks (ids and/or inline) to score for complaint risk before assignment."""


class ReasonOut(BaseModel):
    """A reason family (``reasons.FAMILIES``), what raises the risk and the features behind it."""

    code: str
    text: str
    contribution: float
    features: list[str] = []


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
class SilenceOut(BaseModel):
    id: str
    scope: str
    alert_id: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    ended_at: datetime | None = None
    ended_by: str | None = None


class AlertOut(BaseModel):
    """One incident: a condition in one scope (kind, province[, task type]) with its worst examples."""

    id: str
    kind: str
    scope: str
    state: Literal["open", "acked", "resolved"]
    severity: str
    roles: list[str]
    province_id: str | None
    task_type: str | None
    subject_id: str
    message: str
    count: int = Field(description="tasks, workers or customers in the condition (1 for an indicator)")
    value: float = Field(description="the headline value: the count, or the indicator's value")
    value_first: float = Field(description="the value when this episode opened")
    value_peak: float = Field(description="the highest value of this episode")
    trend: str = Field(description="new, rising, falling or steady against up to 30 min ago")
    examples: list[dict[str, Any]] = Field(description="the worst examples: subject, value, words")
    details: dict[str, Any]
    episode: int = Field(description="how many times it opened (a resolved incident re-opens)")
    first_seen: datetime
    last_seen: datetime
    acked: bool
    acked_by: str | None
    acked_at: datetime | None
    ack_note: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    silenced: bool
    silence: SilenceOut | None
    inhibited_by: str | None = Field(
        default=None,
        description="the active incident that explains and mutes this one (serving/alerts/inhibit.py)",
    )


class AlertList(BaseModel):
    count: int = Field(description="incidents on this page")
    total: int = Field(description="incidents matching the filters")
    offset: int
    next_offset: int | None
    alerts: list[AlertOut]


_ACTOR_NOTE = "Free text kept as a note; the audit's actor is the API key's name, whatever this says."


class AckRequest(Strict):
    actor: Actor | None = Field(default=None, description=_ACTOR_NOTE)
    note: Note | None = None


# -- /outcomes ------------------------------------------------------------------------------------
class _CompletionRow(Strict):
    @model_validator(mode="after")
    def _ordered(self) -> _CompletionRow:
        if getattr(self, "completed_at") < getattr(self, "started_at"):  # noqa: B009 - fields from the contract
            raise ValueError("completed_at must not be before started_at")
        return self


# Rows of contract tables: fields, dtypes, bounds and choices from ``opsmatch.contract``.
if TYPE_CHECKING:  # built at import time: to a type checker, strict models whose fields are dynamic

    class _Derived(Strict):
        def __init__(self, **data: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

    class CompletionIn(_Derived): ...

    class QaResultIn(_Derived): ...

    class ComplaintIn(_Derived): ...

    class WorkerStatusIn(_Derived): ...

else:
    CompletionIn = row_model("CompletionIn", "completions", _CompletionRow)
    QaResultIn = row_model("QaResultIn", "qa_results", Strict)
    ComplaintIn = row_model("ComplaintIn", "complaints", Strict)
    WorkerStatusIn = row_model("WorkerStatusIn", "worker_status", Strict)


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
class WorkerStatusRequest(Strict):
    statuses: Annotated[list[WorkerStatusIn], Field(min_length=1, max_length=HARD_MAX_BATCH)]


class WorkerStatusResponse(BaseModel):
    received: int
    stored: int = Field(description="rows new to the event store (the same as `new`)")
    new: int = Field(description="rows the store did not hold, decided in its write transaction")
    duplicates: int = Field(description="rows the store already held, whoever wrote them")
    alerts_raised: int


# -- /policy --------------------------------------------------------------------------------------
class _PolicyUpdate(Strict):
    """Partial policy change: fields left out keep their value; who and why are recorded."""

    actor: Actor | None = Field(default=None, description=_ACTOR_NOTE)
    note: Note | None = None
    expected_version: Annotated[int, Field(ge=0), WHOLE] | None = Field(
        default=None, description="Refuse (409) unless the policy in force has this version."
    )

    def changes(self) -> dict[str, Any]:
        """The policy fields this update sets."""
        return self.model_dump(exclude_unset=True, exclude={"actor", "note", "expected_version"})


# The policy fields come from ``serving.config.Policy`` (same bounds, all optional); see patch_models.
if TYPE_CHECKING:

    class PolicyUpdate(_PolicyUpdate):
        def __init__(self, **data: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

else:
    PolicyUpdate = patch_model(Policy, _PolicyUpdate, "PolicyUpdate", _PolicyUpdate.__doc__, Strict)


class PolicyOut(BaseModel):
    version: int
    policy: Policy
    closed_provinces: list[str]
    history: list[dict[str, Any]] = Field(default_factory=list)


# -- /info ----------------------------------------------------------------------------------------
class ClockInfo(BaseModel):
    """The operation's clock (opsmatch/clock.py): every "now" of the service."""

    mode: str = Field(description="wall (a deployment), demo (make run: never ahead of the wall) or fast")
    now: datetime = Field(description="The operation's now")
    speed: float = Field(description="Operation seconds per wall second")
    anchor: datetime | None = Field(default=None, description="Wall instant the clock reads `start` at")
    start: datetime | None = Field(default=None, description="What the clock read at the anchor")


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
    degraded: list[str] = Field(
        default_factory=list, description="Faults ranking is falling back for now (empty: healthy)"
    )
    prediction_log: dict[str, int] | None = Field(
        default=None, description="Prediction log counters: queued, written rows, overflow, failed rows"
    )
    clock: ClockInfo | None = Field(default=None, description="The operation's clock: now, speed, anchor")
