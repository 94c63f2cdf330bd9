"""Alerts as incidents (Prometheus Alertmanager's grouping): the rules' observations, one
:class:`~serving.alerts.rules.Alert` per task, worker or province, become one incident per condition and
scope ``(kind, province[, task type])`` with a count, the worst examples, a severity and the roles it is
meant for. Pure: the store (:mod:`serving.alerts.store`) keeps their states, trends and silences.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from serving.alerts.rules import INDICATORS, Alert, alert_id

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
STATES: tuple[str, ...] = ("open", "acked", "resolved")
EXAMPLES = 5  # worst examples kept per incident


@dataclass(frozen=True)
class KindSpec:
    """How the observations of one kind group, read and route."""

    roles: tuple[str, ...]
    noun: str = ""  # "tasks overdue": the count's words in a grouped message
    per_subject: bool = False  # the subject is the scope (a province's indicator, a model)
    by_type: bool = False  # the scope includes the task type
    expire_minutes: float | None = None  # resolved when not raised again for this long


DISPATCH, RISK, OPS = "dispatcher", "risk", "ops_head"
SPECS: dict[str, KindSpec] = {
    "high_risk": KindSpec((RISK, OPS), "customers at high complaint risk", expire_minutes=120),
    "sla_overdue": KindSpec((DISPATCH, OPS), "tasks past their SLA", expire_minutes=60),
    "sla_near": KindSpec((DISPATCH, OPS), "tasks near their SLA", expire_minutes=60),
    "province_backlog": KindSpec((DISPATCH, OPS), per_subject=True, expire_minutes=60),
    "overloaded_worker": KindSpec((DISPATCH, OPS), "workers overloaded", expire_minutes=60),
    "redispatch_limit": KindSpec((DISPATCH, OPS), "tasks moved too often (by hand now)", expire_minutes=120),
    "redispatch": KindSpec((DISPATCH,), "tasks the monitor moved or found no worker for", expire_minutes=60),
    "model_health": KindSpec(("admin", OPS), per_subject=True),
    **{k: KindSpec((OPS, RISK) if k == "complaint_rate" else (OPS,), per_subject=True) for k in INDICATORS},
}
DEFAULT_SPEC = KindSpec((OPS,), per_subject=True)


def spec(kind: str) -> KindSpec:
    """The grouping of ``kind`` (a kind without one is its own scope, for the ops head)."""
    return SPECS.get(kind, DEFAULT_SPEC)


def scope_key(kind: str, province_id: str | None, task_type: str | None, subject: str | None) -> str:
    """``kind|province|type[|subject]``: what one incident covers (``*`` = any)."""
    parts = [kind, province_id or "*", task_type or "*"]
    if spec(kind).per_subject and subject and subject != province_id:
        parts.append(subject)
    return "|".join(parts)


def incident_id(scope: str) -> str:
    """Stable, URL-safe id of the incident of ``scope`` (the same across resolve and re-open)."""
    kind = scope.split("|", 1)[0]
    return f"{kind}-{hashlib.sha1(scope.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Incident:
    """One condition in one scope, as observed now."""

    kind: str
    scope: str
    severity: str
    message: str
    count: int
    value: float
    province_id: str | None = None
    task_type: str | None = None
    subject_id: str = ""
    examples: tuple[dict[str, Any], ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The scope's id; an incident whose subject is its scope (a province's indicator, a model's
        health) keeps its observation's id (``serving.alerts.rules.alert_id``)."""
        if spec(self.kind).per_subject and self.subject_id:
            return alert_id(self.kind, self.subject_id)
        return incident_id(self.scope)

    @property
    def roles(self) -> tuple[str, ...]:
        return spec(self.kind).roles


def example(a: Alert) -> dict[str, Any]:
    """One observation as an incident's example: its subject, badness, task type, words and details."""
    return {"subject_id": a.subject_id, "value": round(float(a.value), 3), "task_type": a.task_type,
            "message": a.message, "details": dict(a.details)}  # fmt: skip


def worst(examples: Iterable[dict[str, Any]], n: int = EXAMPLES) -> tuple[dict[str, Any], ...]:
    """The ``n`` worst examples (highest value), one per subject, newest words kept."""
    by_subject = {e["subject_id"]: e for e in examples}
    return tuple(sorted(by_subject.values(), key=lambda e: (-e["value"], e["subject_id"]))[:n])


def _grouped_message(kind: str, province: str | None, count: int, top: Sequence[dict[str, Any]]) -> str:
    where = f"{province}: " if province else ""
    noun = spec(kind).noun or kind.replace("_", " ")
    shown = "; ".join(e["message"] for e in top[:2])
    more = f" (+{count - min(count, 2)} more)" if count > 2 else ""
    return f"{where}{count} {noun}; worst: {shown}{more}"


def group(alerts: Sequence[Alert], n_examples: int = EXAMPLES) -> list[Incident]:
    """One incident per scope of the observations, in scope order."""
    groups: dict[str, list[Alert]] = defaultdict(list)
    for a in alerts:
        sp = spec(a.kind)
        groups[scope_key(a.kind, a.province_id, a.task_type if sp.by_type else None, a.subject_id)].append(a)
    out = []
    for scope, members in sorted(groups.items()):
        first = members[0]
        sp = spec(first.kind)
        severity = max((m.severity for m in members), key=lambda s: SEVERITY_RANK.get(s, 0))
        top = worst((example(m) for m in members), n_examples)
        if sp.per_subject:
            one = max(members, key=lambda m: m.value)
            out.append(
                Incident(
                    first.kind,
                    scope,
                    severity,
                    one.message,
                    1,
                    float(one.value),
                    one.province_id,
                    one.task_type,
                    one.subject_id,
                    top,
                    dict(one.details),
                )  # fmt: skip
            )
            continue
        types = Counter(m.task_type for m in members if m.task_type)
        out.append(
            Incident(
                first.kind,
                scope,
                severity,
                _grouped_message(first.kind, first.province_id, len({m.subject_id for m in members}), top),
                len({m.subject_id for m in members}),
                float(len({m.subject_id for m in members})),
                first.province_id,
                first.task_type if sp.by_type else None,
                first.province_id or first.kind,
                top,
                {"by_type": dict(sorted(types.items()))} if types else {},
            )
        )
    return out


def trend(reference: float | None, new: float, tolerance: float = 0.02) -> str:
    """``new`` without a reference, else ``rising`` / ``falling`` when the value moved from the
    reference (the value a trend window ago) by more than ``tolerance`` (relative), else ``steady``."""
    if reference is None:
        return "new"
    if abs(new - reference) <= tolerance * max(abs(reference), 1e-9):
        return "steady"
    return "rising" if new > reference else "falling"
