"""Request and response models of the lifecycle endpoints (``/tasks``, ``/assignments``), see API_SPEC.md.

Requests are :class:`~serving.config.Strict` like ``serving.api.schemas``: unknown fields, coercions and
naive timestamps are refused; contract rows take their fields from ``opsmatch.contract``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from opsmatch.contract import OVERRIDE_REASONS, REJECT_REASONS
from serving.api.contract_models import Id, row_model
from serving.api.schemas import HARD_MAX_BATCH, Note
from serving.config import Strict
from serving.matching.urgency import Urgency

OverrideReason = Literal[OVERRIDE_REASONS]  # type: ignore[valid-type]
RejectReason = Literal[REJECT_REASONS]  # type: ignore[valid-type]
StatusName = Literal[
    "pending", "assigned", "accepted", "started", "done", "rejected", "reassigned", "cancelled"
]
StatusFilter = Literal[
    "pending",
    "assigned",
    "accepted",
    "started",
    "done",
    "rejected",
    "reassigned",
    "cancelled",
    "waiting",
    "held",
    "open",
]
TaskSort = Literal["sla_due_at", "-sla_due_at", "created_at", "-created_at"]


class _TaskRow(Strict):
    @model_validator(mode="after")
    def _sla_after_creation(self) -> _TaskRow:
        if getattr(self, "sla_due_at") < getattr(self, "created_at"):  # noqa: B009 - fields from the contract
            raise ValueError("sla_due_at must not be before created_at")
        return self


if TYPE_CHECKING:

    class TaskIn(Strict):
        def __init__(self, **data: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

else:
    TaskIn = row_model("TaskIn", "tasks", _TaskRow)


# -- POST /tasks ----------------------------------------------------------------------------------
class TasksIn(Strict):
    """New tasks from the core systems (contract ``tasks`` rows)."""

    tasks: Annotated[list[TaskIn], Field(min_length=1, max_length=HARD_MAX_BATCH)]


class TaskReceipt(BaseModel):
    task_id: str
    status: StatusName
    p_complaint: float | None
    risk_tier: str | None


class TasksReceipt(BaseModel):
    received: int
    new: int
    duplicates: int
    tasks: list[TaskReceipt]


# -- GET /tasks, GET /tasks/{id} ------------------------------------------------------------------
class TaskOut(BaseModel):
    task_id: str
    status: StatusName
    task_type: str
    province_id: str
    customer_id: str | None
    created_at: datetime
    sla_due_at: datetime
    hours_to_sla: float
    urgency: Urgency
    complexity: int
    channel: str | None
    amount: float | None
    since: datetime = Field(description="Time of the last transition.")
    assignment_id: str | None
    worker_id: str | None
    assignments: int = Field(description="How many times the task was assigned.")
    p_complaint: float | None = Field(description="P(complaint) scored on arrival; null when not scored.")
    risk_tier: str | None


class TaskList(BaseModel):
    count: int
    total: int
    tasks: list[TaskOut]


class TaskEventOut(BaseModel):
    event_id: str
    kind: str
    at: datetime
    actor: str
    source: str
    assignment_id: str | None
    worker_id: str | None
    ranked_worker_id: str | None
    reason_code: str | None
    override_reason: str | None
    note: str | None
    arm: str | None


class TaskDetail(TaskOut):
    history: list[TaskEventOut]


# -- POST /assignments and the worker's answers ---------------------------------------------------
class AssignmentIn(Strict):
    """Commit an assignment (from ``/assign``, ``/rank`` or a person's choice)."""

    task_id: Id
    worker_id: Id
    source: Literal["assign", "rank", "person"]
    ranked_worker_id: Id | None = None
    override_reason: OverrideReason | None = None
    note: Note | None = None
    assignment_id: Id | None = Field(default=None, description="Client-chosen id for idempotency.")


class AssignmentOut(BaseModel):
    assignment_id: str
    task_id: str
    worker_id: str
    status: StatusName
    source: str
    arm: str | None
    at: datetime
    duplicate: bool = False


class NoteIn(Strict):
    note: Note | None = None


class RejectIn(Strict):
    reason_code: RejectReason
    note: Note | None = None


class AssignmentStep(BaseModel):
    assignment_id: str
    task_id: str
    worker_id: str
    status: StatusName
    at: datetime


# -- POST /assignments/answers --------------------------------------------------------------------
class AnswerIn(Strict):
    """One worker's answer: accept, reject (with its reason code) or start an assignment."""

    assignment_id: Id
    action: Literal["accept", "reject", "start"]
    reason_code: RejectReason | None = Field(default=None, description="A reject's reason (required then).")
    note: Note | None = None


class AnswersIn(Strict):
    """Many workers' answers at once (a dispatch system relaying its workers' taps)."""

    answers: Annotated[list[AnswerIn], Field(min_length=1, max_length=HARD_MAX_BATCH)]


class AnswerOut(BaseModel):
    """What became of one answer: ``status`` as the single route would have answered (200, 404, 409,
    422); ``duplicate`` when the same answer was already stored (nothing written)."""

    assignment_id: str
    action: str
    status: int
    task_id: str | None = None
    worker_id: str | None = None
    state: StatusName | None = Field(default=None, description="The task's status after the answer.")
    at: datetime | None = None
    duplicate: bool = False
    error: str | None = None


class AnswersOut(BaseModel):
    received: int
    answered: int = Field(description="Answers stored now.")
    duplicates: int
    refused: int = Field(description="Answers refused (unknown id, illegal now, rule broken).")
    answers: list[AnswerOut]
