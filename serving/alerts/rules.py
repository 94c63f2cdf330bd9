"""Early-warning rules: pure functions from the operation's state to alerts.

Kinds: ``high_risk`` (complaint risk at or above the policy's tier), ``sla_overdue`` / ``sla_near``
(pending task past / near its SLA, with a re-dispatch suggestion), ``province_backlog`` (pending tasks
per on-shift worker above the threshold), ``overloaded_worker`` (open tasks at or above the overload
ratio of capacity), ``redispatch_limit`` (the monitor moved a task too often: see ``monitor.py``).
An alert's id is derived from its kind and subject, so raising the same alert
again updates it instead of duplicating it (and keeps its acknowledgement).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving.config import AlertRules
from serving.matching.urgency import NORMAL, OVERDUE, level

INDICATORS: tuple[str, ...] = (
    "arrivals",
    "arrivals_low",
    "sla_attainment",
    "qa_pass_rate",
    "complaint_rate",
    "surrender_share",
    "renewal_share",
)

KINDS: tuple[str, ...] = (
    "high_risk",
    "sla_overdue",
    "sla_near",
    "province_backlog",
    "overloaded_worker",
    "redispatch_limit",
    "redispatch",  # one per move of the monitor (serving/tasks/assign.py)
    "model_health",  # raised by the retraining loop and the gate (apps/model_health.py), not by these rules
    *INDICATORS,  # operating indicators per province (serving/alerts/indicators.py)
)
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


def alert_id(kind: str, subject_id: str) -> str:
    """Stable, URL-safe id of the alert about ``subject_id``."""
    return f"{kind}-{hashlib.sha1(subject_id.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Alert:
    """One early warning."""

    kind: str
    severity: str
    subject_id: str
    message: str
    province_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    task_type: str | None = None
    value: float = 0.0  # how bad (hours overdue, probability, ratio): orders an incident's examples

    @property
    def id(self) -> str:
        return alert_id(self.kind, self.subject_id)


def high_risk_alerts(
    task_ids: Sequence[str],
    provinces: Sequence[str],
    probs: np.ndarray,
    tiers: Sequence[str],
    reasons: Sequence[Sequence[str]],
    rules: AlertRules,
) -> list[Alert]:
    """One alert per task whose complaint-risk tier is at or above ``rules.high_risk_tier``."""
    wanted = {"high"} if rules.high_risk_tier == "high" else {"high", "medium"}
    out = []
    for tid, prov, p, tier, why in zip(task_ids, provinces, probs, tiers, reasons, strict=True):
        if tier in wanted:
            out.append(
                Alert(
                    kind="high_risk",
                    severity="critical" if tier == "high" else "warning",
                    subject_id=tid,
                    province_id=prov,
                    message=f"task {tid}: complaint risk {p:.0%} ({tier})",
                    details={"probability": round(float(p), 4), "tier": tier, "reasons": list(why)},
                    value=float(p),
                )
            )
    return out


def sla_alerts(
    task_ids: Sequence[str],
    provinces: Sequence[str],
    hours_to_sla: np.ndarray,
    suggestions: Mapping[str, str | None],
    rules: AlertRules,
    *,
    holders: Mapping[str, str | None] | None = None,
    task_types: Sequence[str | None] | None = None,
) -> list[Alert]:
    """Overdue and near-SLA tasks not yet started, each with the suggested worker to re-dispatch to
    (``holders``: the worker a task is assigned to but not started by, or None while it waits)."""
    out = []
    holders = {} if holders is None else holders
    types = [None] * len(task_ids) if task_types is None else task_types
    hours_ = np.asarray(hours_to_sla, dtype=float)
    for tid, prov, hours, ttype in zip(task_ids, provinces, hours_, types, strict=True):
        urgency = level(hours * 3600.0, rules.sla_near_hours)
        if urgency == NORMAL:
            continue
        overdue = urgency == OVERDUE
        suggestion, holder = suggestions.get(tid), holders.get(tid)
        if suggestion:
            action = f"re-dispatch to {suggestion}"
        elif holder:
            action = f"assigned to {holder}, not started"
        elif tid in holders:
            action = "waiting for dispatch"
        else:
            action = "no eligible worker: escalate"
        when = f"{-hours:.1f} h overdue" if overdue else f"due in {hours:.1f} h"
        out.append(
            Alert(
                kind="sla_overdue" if overdue else "sla_near",
                severity="critical" if overdue else "warning",
                subject_id=tid,
                province_id=prov,
                message=f"task {tid} {when}: {action}",
                details={"hours_to_sla": round(float(hours), 3), "suggested_worker": suggestion},
                task_type=ttype,
                value=-float(hours),
            )
        )
    return out


def backlog_alerts(
    pending_by_province: Mapping[str, int],
    on_shift_by_province: Mapping[str, int],
    rules: AlertRules,
    active: Collection[str] = (),
) -> list[Alert]:
    """Provinces whose pending tasks per on-shift worker reach ``rules.backlog_per_worker`` (and at
    least ``backlog_min_tasks`` wait); a province in ``active`` (its backlog incident is open) stays
    until both fall below the clear band (``rules.backlog_clear``, the same share of the minimum):
    hysteresis, so a backlog hovering at the line does not resolve and re-open every sweep."""
    out = []
    band = rules.backlog_clear / rules.backlog_per_worker
    for prov, pending in sorted(pending_by_province.items()):
        staff = int(on_shift_by_province.get(prov, 0))
        per_worker = pending / staff if staff else float("inf")
        level, least = rules.backlog_per_worker, float(rules.backlog_min_tasks)
        if prov in active:
            level, least = rules.backlog_clear, least * band
        if pending >= least and per_worker >= level:
            out.append(
                Alert(
                    kind="province_backlog",
                    severity="critical" if per_worker >= 2 * rules.backlog_per_worker else "warning",
                    subject_id=prov,
                    province_id=prov,
                    message=f"province {prov}: {pending} pending tasks for {staff} workers on shift "
                    f"(threshold {rules.backlog_per_worker:g} per worker, "
                    f"clears below {rules.backlog_clear:g})",
                    details={
                        "pending": int(pending),
                        "on_shift": staff,
                        "per_worker": None if not staff else round(per_worker, 3),
                        "threshold": rules.backlog_per_worker,
                        "clear_at": round(rules.backlog_clear, 4),
                    },
                    value=float(pending if not staff else per_worker),
                )
            )
    return out


def overload_alerts(
    worker_ids: np.ndarray,
    provinces: np.ndarray,
    open_tasks: np.ndarray,
    capacity: np.ndarray,
    rules: AlertRules,
) -> list[Alert]:
    """Workers whose open tasks reach ``rules.overload_ratio`` × capacity."""
    ratio = np.asarray(open_tasks, dtype=float) / np.maximum(np.asarray(capacity, dtype=float), 1.0)
    out = []
    for i in np.flatnonzero(ratio >= rules.overload_ratio):
        wid = str(worker_ids[i])
        out.append(
            Alert(
                kind="overloaded_worker",
                severity="critical" if ratio[i] >= 1.5 * rules.overload_ratio else "warning",
                subject_id=wid,
                province_id=str(provinces[i]),
                message=f"worker {wid}: {int(open_tasks[i])} open tasks for a capacity of {int(capacity[i])}",
                details={
                    "open_tasks": int(open_tasks[i]),
                    "capacity": int(capacity[i]),
                    "ratio": round(float(ratio[i]), 3),
                },
                value=float(ratio[i]),
            )
        )
    return out
