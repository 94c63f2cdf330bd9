"""Plain words for the codes the console shows, and the choice lists its forms offer (from the contract,
so a form never offers a value the API refuses)."""

from __future__ import annotations

from typing import Any

from opsmatch.contract import (
    INTERVENTION_KINDS,
    INTERVENTION_OUTCOMES,
    OVERRIDE_REASONS,
    REDISPATCH_REASONS,
    TASK_TYPES,
)
from serving.alerts import rules as alerts
from serving.matching.cost import PARTS
from serving.tasks.monitor import REDISPATCH_WORDS

RANK_REASONS: dict[str, str] = {
    "fast_on_task_type": "usually quick on this type of task",
    "slow_on_task_type": "usually slow on this type of task",
    "high_qa_pass": "high chance of passing QA",
    "qa_risk": "real risk of failing QA",
    "low_complaint_risk": "low chance the customer complains",
    "complaint_risk": "customer likely to complain with this handler",
    "same_province": "works in the task's own province",
    "cross_province": "would handle it from another province",
    "low_load": "has spare capacity now",
    "high_load": "already near capacity",
    "may_miss_sla": "may finish after the SLA deadline",
    "may_run_past_shift": "may not finish before the shift ends",
}
COST_PARTS: dict[str, str] = {
    "efficiency": "handling time",
    "quality": "QA failure risk",
    "complaint": "complaint risk",
    "load": "current load",
    "cross_province": "cross-province hand-off",
    "sla": "SLA lateness",
    "shift_end": "past shift end",
}
OVERRIDE_WORDS: dict[str, str] = {
    "customer_relationship": "knows this customer",
    "specialist_knowledge": "specialist knowledge needed",
    "workload_balance": "balancing the team's workload",
    "availability": "the top choice is not really available",
    "training": "training a colleague",
    "other": "other (say why in the note)",
}


def vocabulary() -> dict[str, Any]:
    """Everything the page needs to say codes in words and to fill its forms."""
    assert set(COST_PARTS) == set(PARTS), "every cost part has words"
    return {
        "rank_reasons": RANK_REASONS,
        "cost_parts": COST_PARTS,
        "override_reasons": {r: OVERRIDE_WORDS.get(r, r.replace("_", " ")) for r in OVERRIDE_REASONS},
        "redispatch_reasons": {r: REDISPATCH_WORDS.get(r, r.replace("_", " ")) for r in REDISPATCH_REASONS},
        "intervention_kinds": list(INTERVENTION_KINDS),
        "intervention_outcomes": list(INTERVENTION_OUTCOMES),
        "alert_kinds": list(alerts.KINDS),
        "indicators": list(alerts.INDICATORS),
        "task_types": list(TASK_TYPES),
    }
