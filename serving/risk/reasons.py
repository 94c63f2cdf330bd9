"""Complaint-risk tiers and reasons: pure functions over model outputs.

Reasons come from the model's per-feature contributions (log-odds, e.g. LightGBM ``pred_contrib``),
grouped into the risk team's reason families (customer history, waiting and SLA, task type and amount,
handler fit, channel): a family's contribution is the sum over its features, the families that push the
risk up most are the reasons, and each says in business language which of its features did. Calendar
artefacts (the hour or weekday a task was created) are suppressed: nobody can act on them. A feature no
rule knows counts in no family (it is neither shown nor allowed to pose as one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from features.request_time import sla_urgency
from serving.config import RiskTiers
from serving.protocols import TaskRecord

TIERS: tuple[str, ...] = ("low", "medium", "high")

FAMILIES: dict[str, str] = {
    "customer_history": "Customer history",
    "waiting_sla": "Waiting and SLA",
    "task_type_amount": "Task type and amount",
    "handler_fit": "Handler fit",
    "channel": "Channel",
}
CALENDAR = "calendar"  # suppressed: when a task was created is no reason a risk team can act on
OTHER = "other"  # features no rule knows: never a reason

# (pattern searched in the feature name, family, business phrase); the first match wins.
FEATURE_RULES: tuple[tuple[str, str, str], ...] = (
    (r"created_hour|created_weekday|weekday|hour_of|day_of_week", CALENDAR, ""),
    (r"contact", "customer_history", "recent risk-team contact"),
    (r"prior_complaint", "customer_history", "has complained before"),
    (r"cust.*complaint|customer.*complaint", "customer_history", "complaints filed so far"),
    (r"vip", "customer_history", "VIP customer"),
    (r"cust.*tasks|customer.*tasks", "customer_history", "many tasks with us"),
    (r"tenure_years|cust.*tenure|customer.*tenure", "customer_history", "customer tenure"),
    (r"value_band|policy_value", "customer_history", "policy value"),
    (r"age_band", "customer_history", "age band"),
    (r"hours_to_sla|overdue", "waiting_sla", "little time left before the SLA"),
    (r"sla_hours", "waiting_sla", "tight SLA for this task"),
    (r"task_age|wait", "waiting_sla", "waiting long already"),
    (r"prov_unassigned|prov_backlog|backlog|queue", "waiting_sla", "backlog in the province"),
    (r"prov_staff|prov_arrival|prov_is_open", "waiting_sla", "province short of staff for its arrivals"),
    (r"channel", "channel", "contact channel"),
    (r"complexity", "task_type_amount", "complex file"),
    (r"amount", "task_type_amount", "large amount at stake"),
    (r"task_type|type_name", "task_type_amount", "task type"),
    (r"task_province|province_id", "waiting_sla", "province's service level"),
    (r"^worker|^wt_|last_qa|on_shift|open_tasks|load_ratio", "handler_fit", "handler's record on this work"),
)


@dataclass(frozen=True)
class Reason:
    """One reason: its family (code), plain-language text, contribution to the log-odds and the
    features behind it (strongest first)."""

    code: str
    text: str
    contribution: float
    features: tuple[str, ...] = field(default=())


def tiers(prob: np.ndarray, thresholds: RiskTiers) -> list[str]:
    """Tier of each probability: ``high`` at or above ``thresholds.high``, ``medium`` above medium."""
    prob = np.asarray(prob, dtype=float)
    idx = (prob >= thresholds.medium).astype(int) + (prob >= thresholds.high).astype(int)
    return [TIERS[i] for i in idx]


def classify(feature_name: str) -> tuple[str, str]:
    """(family, business phrase) of a model feature; ``("other", "")`` when no rule knows it."""
    name = feature_name.lower()
    for pattern, family, phrase in FEATURE_RULES:
        if re.search(pattern, name):
            return family, phrase
    return OTHER, ""


def reason_code(feature_name: str) -> str:
    """The reason family of a model feature (``calendar`` and ``other`` are never shown)."""
    return classify(feature_name)[0]


WAIT_FEATURES: frozenset[str] = frozenset({"hours_to_sla", "task_age_hours"})  # said as the wait itself


def wait_words(age_hours: float, hours_to_sla: float) -> str:
    """The wait in words: ``"waiting 62 h, 38 h past its SLA"`` or ``"waiting 3 h, SLA in 21 h"``."""
    left = f"{-hours_to_sla:.0f} h past its SLA" if hours_to_sla < 0 else f"SLA in {hours_to_sla:.0f} h"
    return f"waiting {max(age_hours, 0.0):.0f} h, {left}"


def waits(tasks: Sequence[TaskRecord], now: datetime) -> list[str]:
    """Each task's wait at ``now`` in words (the request-time formulas the model's inputs use)."""
    out = []
    for t in tasks:
        u = sla_urgency(t.sla_due_at, t.created_at, now)
        out.append(wait_words(float(u["task_age_hours"]), float(u["hours_to_sla"])))
    return out


def top_reasons(
    contributions: np.ndarray | None,
    feature_names: Sequence[str],
    k: int = 3,
    phrases: int = 2,
    waits: Sequence[str | None] | None = None,
) -> list[list[Reason]]:
    """Up to ``k`` reason families per row, those with the largest positive summed contribution; each
    text names up to ``phrases`` of the family's features that push the risk up. ``waits``: each row's
    wait in words (``wait_words``), said instead of the phrases of the wait features when they count."""
    if contributions is None:
        return []
    contributions = np.atleast_2d(np.asarray(contributions, dtype=float))
    if contributions.shape[1] == len(feature_names) + 1:  # LightGBM appends the bias column
        contributions = contributions[:, :-1]
    if contributions.shape[1] != len(feature_names):
        raise ValueError(f"{contributions.shape[1]} contribution columns for {len(feature_names)} features")
    kinds = [classify(f) for f in feature_names]
    families = list(FAMILIES)
    onehot = np.zeros((len(feature_names), len(families)))
    for j, (family, _) in enumerate(kinds):
        if family in FAMILIES:
            onehot[j, families.index(family)] = 1.0
    by_family = contributions @ onehot
    out: list[list[Reason]] = []
    for row, contrib in zip(by_family, contributions, strict=True):
        reasons = []
        for j in np.argsort(-row, kind="stable")[:k]:
            if row[j] <= 0:
                break
            mine = [i for i, (fam, _) in enumerate(kinds) if fam == families[j] and contrib[i] > 0]
            mine.sort(key=lambda i: -contrib[i])
            wait = waits[len(out)] if waits is not None else None
            if wait and any(str(feature_names[i]) in WAIT_FEATURES for i in mine):
                others = [kinds[i][1] for i in mine if str(feature_names[i]) not in WAIT_FEATURES]
                said = list(dict.fromkeys([wait, *others]))[:phrases]
            else:
                said = list(dict.fromkeys(kinds[i][1] for i in mine))[:phrases]
            text = FAMILIES[families[j]] + (": " + "; ".join(said) if said else "")
            reasons.append(
                Reason(families[j], text, float(row[j]), tuple(str(feature_names[i]) for i in mine))
            )
        out.append(reasons)
    return out
