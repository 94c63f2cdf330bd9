"""Complaint-risk tiers and reasons: pure functions over model outputs.

Reasons come from the model's per-feature contributions (log-odds, e.g. LightGBM ``pred_contrib``):
feature names map to human-readable reason codes, contributions of features that share a code add
up, and the largest positive ones (those that push the risk up) are the reasons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from serving.config import RiskTiers

TIERS: tuple[str, ...] = ("low", "medium", "high")

# (pattern searched in the feature name, reason code); the first match wins.
REASON_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"prior_complaint", "prior_complaints"),
    (r"complaint", "complaint_history"),
    (r"vip", "vip_customer"),
    (r"sla|hours_to|overdue", "sla_pressure"),
    (r"wait|backlog|queue", "waiting_time"),
    (r"complexity", "complex_task"),
    (r"amount", "high_amount"),
    (r"value_band|policy_value", "policy_value"),
    (r"tenure", "customer_tenure"),
    (r"age", "customer_age"),
    (r"satisfaction", "satisfaction_history"),
    (r"qa|quality", "quality_history"),
    (r"channel", "channel"),
    (r"task_type|type_", "task_type"),
    (r"province", "province"),
)
REASON_TEXT: dict[str, str] = {
    "prior_complaints": "customer has complained before",
    "complaint_history": "complaint history",
    "vip_customer": "VIP customer",
    "sla_pressure": "little time left before the SLA",
    "waiting_time": "long waiting or backlog",
    "complex_task": "complex task",
    "high_amount": "large amount at stake",
    "policy_value": "policy value band",
    "customer_tenure": "customer tenure",
    "customer_age": "customer age band",
    "satisfaction_history": "past satisfaction scores",
    "quality_history": "past QA results",
    "channel": "contact channel",
    "task_type": "task type",
    "province": "province",
}


@dataclass(frozen=True)
class Reason:
    """One reason: code, plain-language text and its contribution to the log-odds."""

    code: str
    text: str
    contribution: float


def tiers(prob: np.ndarray, thresholds: RiskTiers) -> list[str]:
    """Tier of each probability: ``high`` at or above ``thresholds.high``, ``medium`` above medium."""
    prob = np.asarray(prob, dtype=float)
    idx = (prob >= thresholds.medium).astype(int) + (prob >= thresholds.high).astype(int)
    return [TIERS[i] for i in idx]


def reason_code(feature_name: str) -> str:
    """Reason code of a model feature (the sanitised name itself when no pattern matches)."""
    name = feature_name.lower()
    for pattern, code in REASON_PATTERNS:
        if re.search(pattern, name):
            return code
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "other"


def top_reasons(
    contributions: np.ndarray | None, feature_names: Sequence[str], k: int = 3
) -> list[list[Reason]]:
    """Up to ``k`` reasons per row: codes with the largest positive summed contribution."""
    if contributions is None:
        return []
    contributions = np.atleast_2d(np.asarray(contributions, dtype=float))
    if contributions.shape[1] == len(feature_names) + 1:  # LightGBM appends the bias column
        contributions = contributions[:, :-1]
    if contributions.shape[1] != len(feature_names):
        raise ValueError(f"{contributions.shape[1]} contribution columns for {len(feature_names)} features")
    codes = [reason_code(f) for f in feature_names]
    unique = sorted(set(codes))
    onehot = np.zeros((len(feature_names), len(unique)))
    for j, code in enumerate(codes):
        onehot[j, unique.index(code)] = 1.0
    by_code = contributions @ onehot
    out: list[list[Reason]] = []
    for row in by_code:
        order = np.argsort(-row, kind="stable")[:k]
        out.append(
            [
                Reason(unique[j], REASON_TEXT.get(unique[j], unique[j].replace("_", " ")), float(row[j]))
                for j in order
                if row[j] > 0
            ]
        )
    return out
