"""Declarative spec of every feature table: names, keys, typed columns, TTLs and the shrinkage constants.

The single source of truth shared by the pipeline (which writes the Parquet tables), the Feast
definitions (which declare them) and the consumers (training frames, profile cache). Pure data only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from opsmatch.contract import TASK_TYPES

FType = Literal["int", "float", "str", "bool", "ts"]

PROJECT = "opsmatch"
EVENT_TS = "event_timestamp"

# Rolling windows (days) for throughput; every rate uses the longest one.
THROUGHPUT_WINDOWS_DAYS: tuple[int, ...] = (7, 30, 90)
RATE_WINDOW_DAYS = 90
ARRIVAL_WINDOW_HOURS = 4
COMPLAINT_LABEL_DAYS = 30

# Empirical-Bayes pseudo-counts: a rate over n events is shrunk to (x + k * prior) / (n + k), i.e. the
# posterior mean under a Beta(k * prior, k * (1 - prior)) prior (a Normal-mean analogue for ratios). The
# prior is the population value over the same window at the same snapshot (point-in-time). k is the
# number of events at which a worker's own evidence weighs as much as the population's.
PSEUDO_COUNTS: dict[str, float] = {
    "qa": 20.0,  # QA pass rate: pass rates ~0.8-0.95, a worker needs ~20 checks to move it
    "complaint": 50.0,  # complaints are rare (~1-3 %): heavy shrinkage
    "handling": 10.0,  # handling-time ratio: lognormal noise, ~10 tasks give a usable mean
    "satisfaction": 10.0,  # mean satisfaction (1-5)
}


# Feast entities and their join key (one each): a view's keys are its entities' join keys.
ENTITY_KEYS: dict[str, str] = {
    "worker": "worker_id",
    "task": "task_id",
    "customer": "customer_id",
    "province": "province_id",
    "task_type": "task_type",
}


@dataclass(frozen=True)
class ViewSpec:
    """One feature table / Feast feature view."""

    name: str
    entities: tuple[str, ...]
    features: tuple[tuple[str, FType], ...]
    ttl: timedelta
    description: str
    cadence: str  # daily | hourly | event | push
    extra_tags: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(ENTITY_KEYS[e] for e in self.entities)

    @property
    def tags(self) -> dict[str, str]:
        """Feast tags: owning team and cadence, plus the view's own."""
        return {"team": "ops-ml", "cadence": self.cadence, **self.extra_tags}

    @property
    def feature_names(self) -> list[str]:
        return [n for n, _ in self.features]

    @property
    def columns(self) -> list[str]:
        """Parquet column order: keys, event timestamp, features."""
        return [*self.keys, EVENT_TS, *self.feature_names]

    def dtype(self, name: str) -> FType:
        for n, t in self.features:
            if n == name:
                return t
        raise KeyError(name)


SKILL_COLUMNS: tuple[str, ...] = tuple(f"worker_skill_{t}" for t in TASK_TYPES)

WORKER_PROFILE = ViewSpec(
    name="worker_profile",
    entities=("worker",),
    features=(
        ("worker_province_id", "str"),
        ("worker_tenure_days", "float"),
        ("worker_daily_capacity", "int"),
        ("worker_n_skills", "int"),
        *((c, "int") for c in SKILL_COLUMNS),
        *((f"worker_done_{d}d", "int") for d in THROUGHPUT_WINDOWS_DAYS),
        ("worker_handling_ratio", "float"),
        ("worker_qa_checked_90d", "int"),
        ("worker_qa_pass_rate", "float"),
        ("worker_complaints_90d", "int"),
        ("worker_complaint_rate", "float"),
        ("worker_satisfaction", "float"),
    ),
    ttl=timedelta(days=2),
    description=(
        "Daily worker snapshot at 00:00 UTC (plus one at the latest event) from events strictly before it: "
        "tenure, declared skills, 7/30/90-day completions, and 90-day handling-time ratio vs the task-type "
        "median, QA pass rate, complaint rate and satisfaction, shrunk toward the population prior."
    ),
    cadence="daily",
    extra_tags={"pit": "strictly-before"},
)

WORKER_TYPE_PERF = ViewSpec(
    name="worker_type_perf",
    entities=("worker", "task_type"),
    features=(
        ("wt_skill_level", "int"),
        ("wt_done_total", "int"),
        ("wt_done_90d", "int"),
        ("wt_handling_ratio", "float"),
        ("wt_qa_checked_90d", "int"),
        ("wt_qa_pass_rate", "float"),
        ("wt_complaint_rate", "float"),
    ),
    ttl=timedelta(days=2),
    description=(
        "Daily worker x task-type snapshot (the matching signal): tasks done, and 90-day handling-time "
        "ratio, QA pass rate and complaint rate for that type, shrunk toward the type's population prior."
    ),
    cadence="daily",
    extra_tags={"pit": "strictly-before"},
)

TASK_PROFILE = ViewSpec(
    name="task_profile",
    entities=("task",),
    features=(
        ("task_type_name", "str"),
        ("task_complexity", "int"),
        ("task_channel", "str"),
        ("task_log_amount", "float"),
        ("task_province_id", "str"),
        ("task_sla_hours", "float"),
        ("task_created_hour", "int"),
        ("task_created_weekday", "int"),
        ("task_customer_id", "str"),
        ("task_created_at", "ts"),
        ("task_sla_due_at", "ts"),
    ),
    ttl=timedelta(days=365),
    description=(
        "Task attributes known at creation (row at created_at): type, complexity, channel, log amount, "
        "province, SLA hours, local created hour/weekday."
    ),
    cadence="event",
)

CUSTOMER_PROFILE = ViewSpec(
    name="customer_profile",
    entities=("customer",),
    features=(
        ("cust_age_band", "str"),
        ("cust_channel", "str"),
        ("cust_tenure_years", "float"),
        ("cust_value_band", "str"),
        ("cust_vip", "bool"),
        ("cust_prior_complaints", "int"),
        ("cust_complaints_so_far", "int"),
        ("cust_tasks_so_far", "int"),
        ("cust_contacts_so_far", "int"),
    ),
    ttl=timedelta(days=3650),
    description=(
        "Customer traits plus complaints filed, tasks created and risk-team contacts (interventions) so "
        "far: one row at the history start and one at every task creation, complaint filing or contact "
        "for that customer (point-in-time exact)."
    ),
    cadence="event",
    extra_tags={"pii": "pseudonymous"},
)

PROVINCE_STATUS = ViewSpec(
    name="province_status",
    entities=("province",),
    features=(
        ("prov_backlog", "int"),
        ("prov_unassigned", "int"),
        ("prov_staff_on_shift", "int"),
        ("prov_staff_scheduled", "int"),
        ("prov_arrival_rate", "float"),
        ("prov_backlog_per_staff", "float"),
        ("prov_is_open", "bool"),
    ),
    ttl=timedelta(hours=3),
    description=(
        "Hourly province snapshot from events strictly before it: backlog (created, not completed), "
        "unassigned tasks, staff on shift (live status, else shift pattern), arrivals per hour over the "
        "last 4 hours, business-calendar open flag. Sharing policy is not in the event log: the service's "
        "policy store owns it."
    ),
    cadence="hourly",
    extra_tags={"pit": "strictly-before"},
)

WORKER_STATUS = ViewSpec(
    name="worker_status",
    entities=("worker",),
    features=(("on_shift", "bool"), ("open_tasks", "int")),
    # Short TTLs matter for training retrieval: Feast's point-in-time join ranks every row inside the
    # TTL for each entity row, so its cost grows with the TTL (unmeasured here: keep push-view TTLs short).
    ttl=timedelta(days=1),
    description="Live worker availability and load; batch rows from the worker_status log, live by push.",
    cadence="push",
)

WORKER_LAST_QA = ViewSpec(
    name="worker_last_qa",
    entities=("worker",),
    features=(("last_qa_passed", "bool"), ("last_qa_score", "float"), ("last_qa_satisfaction", "float")),
    ttl=timedelta(days=2),
    description="The worker's latest QA outcome (row at checked_at); batch from qa_results, live by push.",
    cadence="push",
)

VIEWS: dict[str, ViewSpec] = {
    v.name: v
    for v in (
        WORKER_PROFILE,
        WORKER_TYPE_PERF,
        TASK_PROFILE,
        CUSTOMER_PROFILE,
        PROVINCE_STATUS,
        WORKER_STATUS,
        WORKER_LAST_QA,
    )
}

# On-demand (request-time) features: name -> type.
ODFV_FEATURES: dict[str, tuple[tuple[str, FType], ...]] = {
    "sla_urgency": (("hours_to_sla", "float"), ("task_age_hours", "float")),
    "worker_load": (("load_ratio", "float"),),
}
REQUEST_FIELDS: tuple[tuple[str, FType], ...] = (("now", "ts"),)

# Feature services: model -> views (in this order; features in view order).
SERVICES: dict[str, tuple[str, ...]] = {
    "handling_time": (
        "task_profile",
        "worker_profile",
        "worker_type_perf",
        "worker_status",
        "province_status",
        "sla_urgency",
        "worker_load",
    ),
    "qa_pass": (
        "task_profile",
        "worker_profile",
        "worker_type_perf",
        "worker_status",
        "worker_last_qa",
        "province_status",
        "sla_urgency",
        "worker_load",
    ),
    "complaint": (
        "task_profile",
        "customer_profile",
        "worker_profile",
        "worker_type_perf",
        "worker_status",
        "worker_last_qa",
        "province_status",
        "sla_urgency",
        "worker_load",
    ),
    # Scored while the task waits: hours waited and to the SLA at ``now`` (trained on open-task snapshots).
    "complaint_pre": ("task_profile", "customer_profile", "province_status", "sla_urgency"),
}

# Service columns that are identifiers or raw timestamps, not model inputs.
NON_MODEL_COLUMNS: frozenset[str] = frozenset({"task_customer_id", "task_created_at", "task_sla_due_at"})
CATEGORICAL_COLUMNS: frozenset[str] = frozenset(
    {
        "task_type_name",
        "task_channel",
        "task_province_id",
        "worker_province_id",
        "cust_age_band",
        "cust_channel",
        "cust_value_band",
    }
)

# Auxiliary tables written next to the feature tables (not Feast views).
TYPE_STATS = "type_stats"  # per task type: median minutes and population priors at the latest snapshot
WORKER_STATS = "worker_stats"  # per worker: raw window sums at the latest snapshot, for the profile cache
PAIR_STATS = "worker_type_stats"  # per (worker, task type): the same
MANIFEST = "manifest.json"


def tables_dir(feature_data_dir: Path) -> Path:
    """Folder of the feature tables."""
    return Path(feature_data_dir) / "tables"


def table_path(feature_data_dir: Path, name: str) -> Path:
    """Absolute Parquet path of one feature (or auxiliary) table."""
    return (tables_dir(feature_data_dir) / f"{name}.parquet").resolve()


def service_features(model: str) -> list[str]:
    """All feature names a service returns, in order."""
    if model not in SERVICES:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(SERVICES)}")
    return [n for view in SERVICES[model] for n in view_features(view)]


def view_features(view: str) -> list[str]:
    """Feature names of a feature view or an on-demand view."""
    return VIEWS[view].feature_names if view in VIEWS else [n for n, _ in ODFV_FEATURES[view]]


def feature_columns(model: str) -> list[str]:
    """Model-input columns for ``model`` in a fixed order (service order minus ids/raw timestamps)."""
    return [c for c in service_features(model) if c not in NON_MODEL_COLUMNS]
