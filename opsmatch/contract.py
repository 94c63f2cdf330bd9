"""The data contract: the event-log tables a customer brings, as typed declarative schemas.

Pure definitions only; validation lives in ``opsmatch.validation`` and file I/O in ``opsmatch.ingest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DType = Literal["str", "int", "float", "bool", "timestamp", "json"]

TASK_TYPES: tuple[str, ...] = (
    "policy_change",
    "underwriting",
    "claims_review",
    "renewal",
    "return_visit",
    "complaint_case",
    "surrender",
    "beneficiary_change",
)
CHANNELS: tuple[str, ...] = ("branch", "agent", "online", "phone")
AGE_BANDS: tuple[str, ...] = ("18-29", "30-44", "45-59", "60+")
VALUE_BANDS: tuple[str, ...] = ("low", "mid", "high")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
COMPLAINT_REASONS: tuple[str, ...] = (
    "timeliness",
    "attitude",
    "accuracy",
    "fees",
    "operational_error",
    "promise_not_kept",
)
# The task lifecycle (serving/tasks/lifecycle.py): what can happen to a task, who made it happen, and why.
TASK_EVENT_KINDS: tuple[str, ...] = (
    "create",
    "assign",
    "accept",
    "reject",
    "start",
    "complete",
    "reassign",
    "cancel",
)
EVENT_SOURCES: tuple[str, ...] = ("intake", "assign", "rank", "person", "monitor", "worker", "outcomes")
REJECT_REASONS: tuple[str, ...] = (
    "unavailable",
    "workload",
    "lacks_skill",
    "conflict_of_interest",
    "wrong_assignment",
    "other",
)
REDISPATCH_REASONS: tuple[str, ...] = (
    "accept_timeout",
    "start_timeout",
    "worker_off_shift",
    "pending_too_long",
    "dispatcher",
)
CANCEL_REASONS: tuple[str, ...] = ("withdrawn", "duplicate", "other")
OVERRIDE_REASONS: tuple[str, ...] = (
    "customer_relationship",
    "specialist_knowledge",
    "workload_balance",
    "availability",
    "training",
    "other",
)
EVENT_REASON_CODES: tuple[str, ...] = tuple(
    dict.fromkeys(REJECT_REASONS + REDISPATCH_REASONS + CANCEL_REASONS)
)
INTERVENTION_KINDS: tuple[str, ...] = ("callback", "proactive")
INTERVENTION_OUTCOMES: tuple[str, ...] = ("resolved", "no_answer", "escalated")
PREDICTION_ENDPOINTS: tuple[str, ...] = ("rank", "assign", "risk")
# What customers say (issue 27): calls and chats, at a branch or through the regulator's hotline (12378).
CONTACT_CHANNELS: tuple[str, ...] = ("phone", "online_chat", "branch", "regulator_hotline")
CONTACT_DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
CONTACT_TEXT_MAX_CHARS = 4000  # a call or chat summary; a longer text is refused, never truncated
# Online journeys (issue 27, seed 002): the self-service flows customers run and where they broke off.
JOURNEY_FLOWS: tuple[str, ...] = (
    "renewal",
    "surrender",
    "policy_change",
    "claim",
    "beneficiary_change",
    "address_change",
)
JOURNEY_CHANNELS: tuple[str, ...] = ("app", "web", "wechat")
JOURNEY_MAX_STEPS = 20


@dataclass(frozen=True)
class Column:
    """One typed column with its constraints."""

    name: str
    dtype: DType
    nullable: bool = False
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    references: str | None = None  # "table.column" foreign key
    description: str = ""
    max_chars: int | None = None  # free text: at most this many characters (ids: 200, see contract_models)


@dataclass(frozen=True)
class Table:
    """One contract table: its key, columns and time column (never in the future)."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    time_column: str | None = None
    description: str = ""
    extra_time_columns: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "provinces",
            ("province_id",),
            (
                Column("province_id", "str", description="Stable id, e.g. P01"),
                Column("name", "str"),
                Column("timezone", "str", description="IANA timezone"),
                Column("workday_start_hour", "int", min=0, max=23, description="Business calendar: opening"),
                Column("workday_end_hour", "int", min=1, max=24, description="Business calendar: closing"),
                Column("works_weekends", "bool", description="Business calendar: open Sat/Sun"),
            ),
            description="The provincial operations centres.",
        ),
        Table(
            "workers",
            ("worker_id",),
            (
                Column("worker_id", "str"),
                Column("province_id", "str", references="provinces.province_id"),
                Column("hired_at", "timestamp"),
                Column("skills", "json", description='task_type -> level 1-5, e.g. {"renewal": 3}'),
                Column("daily_capacity", "int", min=1, max=500, description="Tasks a day at most"),
                Column("shift_start_hour", "int", min=0, max=23),
                Column("shift_hours", "int", min=1, max=24),
                Column("work_days", "str", description="Weekday digits worked, Monday=0, e.g. 01234"),
                Column("active", "bool"),
            ),
            time_column="hired_at",
            description="Operations staff and their declared skills and shift pattern.",
        ),
        Table(
            "customers",
            ("customer_id",),
            (
                Column("customer_id", "str", description="Pseudonymous id"),
                Column("age_band", "str", choices=AGE_BANDS),
                Column("channel", "str", choices=CHANNELS),
                Column("tenure_years", "float", min=0, max=100),
                Column("policy_value_band", "str", choices=VALUE_BANDS),
                Column("vip", "bool"),
                Column("prior_complaints", "int", min=0, max=1000),
            ),
            description="Customers (pseudonymised) with the traits that drive complaint risk.",
        ),
        Table(
            "tasks",
            ("task_id",),
            (
                Column("task_id", "str"),
                Column("task_type", "str", choices=TASK_TYPES),
                Column("province_id", "str", references="provinces.province_id"),
                Column("customer_id", "str", references="customers.customer_id"),
                Column("created_at", "timestamp"),
                Column("sla_due_at", "timestamp"),
                Column("complexity", "int", min=1, max=5),
                Column("channel", "str", choices=CHANNELS),
                Column("amount", "float", min=0, max=1e10, description="Monetary amount in CNY"),
            ),
            time_column="created_at",
            description="Back-office tasks as they arrive.",
        ),
        Table(
            "assignments",
            ("assignment_id",),
            (
                Column("assignment_id", "str"),
                Column("task_id", "str", references="tasks.task_id"),
                Column("worker_id", "str", references="workers.worker_id"),
                Column("assigned_at", "timestamp"),
                Column("policy", "str", description="Dispatch policy that decided"),
            ),
            time_column="assigned_at",
            description="Dispatch decisions (a task may be re-dispatched: several rows).",
        ),
        Table(
            "completions",
            ("task_id",),
            (
                Column("task_id", "str", references="tasks.task_id"),
                Column("worker_id", "str", references="workers.worker_id"),
                Column("started_at", "timestamp"),
                Column("completed_at", "timestamp"),
                Column("handling_minutes", "float", min=0, max=60 * 24 * 30),
            ),
            time_column="completed_at",
            description="Finished tasks with hands-on handling time.",
        ),
        Table(
            "qa_results",
            ("qa_id",),
            (
                Column("qa_id", "str"),
                Column("task_id", "str", references="tasks.task_id"),
                Column("worker_id", "str", references="workers.worker_id"),
                Column("checked_at", "timestamp"),
                Column("passed", "bool"),
                Column("score", "float", min=0, max=100),
                Column("satisfaction", "int", nullable=True, min=1, max=5),
            ),
            time_column="checked_at",
            description="QA inspection and customer-satisfaction outcomes.",
        ),
        Table(
            "complaints",
            ("complaint_id",),
            (
                Column("complaint_id", "str"),
                Column("task_id", "str", references="tasks.task_id"),
                Column("customer_id", "str", references="customers.customer_id"),
                Column("filed_at", "timestamp"),
                Column("severity", "str", choices=SEVERITIES),
                Column("reason", "str", choices=COMPLAINT_REASONS),
            ),
            time_column="filed_at",
            description="Customer complaints linked to the task they concern.",
        ),
        Table(
            "worker_status",
            ("worker_id", "at"),
            (
                Column("worker_id", "str", references="workers.worker_id"),
                Column("at", "timestamp"),
                Column("on_shift", "bool"),
                Column("open_tasks", "int", min=0, max=10_000),
            ),
            time_column="at",
            description="Live availability and load snapshots.",
        ),
        Table(
            "task_events",
            ("event_id",),
            (
                Column("event_id", "str"),
                Column("task_id", "str", references="tasks.task_id"),
                Column("kind", "str", choices=TASK_EVENT_KINDS, description="The transition (see below)"),
                Column("at", "timestamp"),
                Column("actor", "str", description="Who: the client key's name, or the monitor"),
                Column("source", "str", choices=EVENT_SOURCES, description="Where the decision came from"),
                Column("assignment_id", "str", nullable=True, references="assignments.assignment_id"),
                Column("worker_id", "str", nullable=True, references="workers.worker_id"),
                Column(
                    "ranked_worker_id",
                    "str",
                    nullable=True,
                    references="workers.worker_id",
                    description="Top-ranked worker when a person chose another",
                ),
                Column(
                    "reason_code",
                    "str",
                    nullable=True,
                    choices=EVENT_REASON_CODES,
                    description="Why: reject, re-dispatch or cancel reason",
                ),
                Column(
                    "override_reason",
                    "str",
                    nullable=True,
                    choices=OVERRIDE_REASONS,
                    description="Why a person overrode the top-ranked worker",
                ),
                Column("note", "str", nullable=True, description="Free text"),
                Column("arm", "str", nullable=True, description="Experiment arm (or policy) that decided"),
            ),
            time_column="at",
            description="Every transition of the task lifecycle, one row each (written by the service).",
        ),
        Table(
            "interventions",
            ("intervention_id",),
            (
                Column("intervention_id", "str"),
                Column("customer_id", "str", references="customers.customer_id"),
                Column("task_id", "str", nullable=True, references="tasks.task_id"),
                Column("at", "timestamp"),
                Column("kind", "str", choices=INTERVENTION_KINDS),
                Column("outcome", "str", choices=INTERVENTION_OUTCOMES),
                Column("note", "str", nullable=True),
                Column("actor", "str"),
            ),
            time_column="at",
            description="Risk-team contacts with a customer (callback or proactive) and their outcome.",
        ),
        Table(
            "predictions",
            ("prediction_id",),
            (
                Column("prediction_id", "str", description="decision_id:row"),
                Column(
                    "decision_id", "str", description="One served answer (a /rank, /assign or /risk call)"
                ),
                Column("at", "timestamp", description="Operation time the decision was made for"),
                Column("endpoint", "str", choices=PREDICTION_ENDPOINTS),
                Column(
                    "task_id", "str", description="Task scored (an inline task may be unknown to the store)"
                ),
                Column("worker_id", "str", nullable=True, description="Worker of the pair (null for /risk)"),
                Column("rank", "int", nullable=True, min=1, description="Position in /rank's top-k"),
                Column("model_versions", "str", description="JSON: model -> champion version served"),
                Column("inputs_hash", "str", description="Digest of the task, worker, time and features"),
                Column("predicted_minutes", "float", nullable=True, description="handling_time model"),
                Column("p_qa_pass", "float", nullable=True, min=0, max=1, description="qa_pass model"),
                Column("p_complaint", "float", nullable=True, min=0, max=1, description="complaint model"),
                Column(
                    "p_complaint_pre", "float", nullable=True, min=0, max=1, description="complaint_pre model"
                ),
                Column(
                    "fallback", "str", nullable=True, description="Why rules served instead of the models"
                ),
                Column(
                    "features", "str", nullable=True, description="JSON: task-level feature values served"
                ),
            ),
            time_column="at",
            description="Every served decision with its model versions, inputs hash and predicted values "
            "(written by the service only; read by the model monitor).",
        ),
        Table(
            "contacts",
            ("contact_id",),
            (
                Column("contact_id", "str"),
                Column("customer_id", "str", references="customers.customer_id"),
                Column("task_id", "str", nullable=True, references="tasks.task_id"),
                Column("at", "timestamp"),
                Column("channel", "str", choices=CONTACT_CHANNELS),
                Column("direction", "str", choices=CONTACT_DIRECTIONS),
                Column(
                    "text",
                    "str",
                    max_chars=CONTACT_TEXT_MAX_CHARS,
                    description="What the customer said: call or chat summary, UTF-8 (Chinese as is)",
                ),
            ),
            time_column="at",
            description="What customers say: calls, chats, branch visits and the regulator's hotline.",
        ),
        Table(
            "journeys",
            ("journey_id",),
            (
                Column("journey_id", "str"),
                Column("customer_id", "str", references="customers.customer_id"),
                Column(
                    "province_id",
                    "str",
                    references="provinces.province_id",
                    description="The centre that serves the customer's policy (who would call back)",
                ),
                Column("flow", "str", choices=JOURNEY_FLOWS, description="The online transaction"),
                Column("channel", "str", choices=JOURNEY_CHANNELS),
                Column("steps", "int", min=1, max=JOURNEY_MAX_STEPS, description="Steps of the flow"),
                Column(
                    "step_reached",
                    "int",
                    min=1,
                    max=JOURNEY_MAX_STEPS,
                    description="Last step the customer was on (= steps when completed)",
                ),
                Column("started_at", "timestamp"),
                Column("abandoned_at", "timestamp", nullable=True, description="Null when completed"),
                Column("completed_at", "timestamp", nullable=True, description="Null when abandoned"),
            ),
            time_column="started_at",
            extra_time_columns=("abandoned_at", "completed_at"),
            description="Online self-service journeys: completed, or abandoned at a step (a break point).",
        ),
    )
}

# Tables are ingested in this order so foreign keys resolve.
LOAD_ORDER: tuple[str, ...] = (
    "provinces",
    "workers",
    "customers",
    "tasks",
    "assignments",
    "completions",
    "qa_results",
    "complaints",
    "worker_status",
    "task_events",
    "interventions",
    "contacts",
    "journeys",
)  # not "predictions": the service's own log, never loaded from files
# Tables the service writes itself as work moves: the task lifecycle and the risk team's interventions
# (a customer may also bring their own history of them), and the prediction log (the service only).
# The twin's history writes none of them.
LIFECYCLE_TABLES: tuple[str, ...] = ("task_events", "interventions", "predictions")
# Tables the features do not read. The interventions are read (issue 15): a customer the risk team has
# just called is a different customer (``cust_contacts_so_far`` in the customer profile). The lifecycle's
# transitions are not: what they mean for the features already arrives as assignments and completions;
# nor is the prediction log (the model monitor's input, never a model's).
# Nor are the contacts: their text is read by the text model (training/text_model.py), point-in-time.
# Nor the journeys (issue 27): the proactive return visits read them (serving/risk/journeys.py).
NOT_FEATURE_INPUTS: tuple[str, ...] = ("task_events", "predictions", "contacts", "journeys")
