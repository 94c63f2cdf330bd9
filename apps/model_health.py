"""``model_health`` alerts: what the retraining loop and the gate need a person to look at.

Training must not import serving, so the loop (the roof) raises these: one row per model and topic in
the service's alerts table, through the same state-store URL the service reads
(``settings.resolved_state_db_url``). They show in ``GET /alerts?kind=model_health`` and are
acknowledged like any other alert; raising the same one again refreshes it (same id: kind + subject).

Topics: ``data_checks`` (a challenger's training frame failed its checks; the loop stopped before
registering anything) and ``champion_check`` (the champion's figures on the new holdout collapsed
against its recorded ones; promotion held).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsmatch.settings import Settings

KIND = "model_health"


@dataclass(frozen=True)
class HealthIssue:
    """One thing a person must look at."""

    model: str
    topic: str  # data_checks | champion_check
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def subject_id(self) -> str:
        return f"opsmatch-{self.model}:{self.topic}"


def raise_alerts(settings: Settings, issues: Sequence[HealthIssue]) -> list[str]:
    """Write ``issues`` as critical ``model_health`` alerts; returns their ids."""
    if not issues:
        return []
    # serving (SQLAlchemy) is imported here only, to keep it off the CLI's start-up
    from serving.alerts.rules import Alert
    from serving.state.store import StateStore

    alerts = [
        Alert(
            KIND,
            "critical",
            i.subject_id,
            i.message,
            details={"model": i.model, "topic": i.topic, **i.details},
        )
        for i in issues
    ]
    store = StateStore(settings.resolved_state_db_url)
    try:
        store.upsert_alerts(alerts, dt.datetime.now(dt.UTC))
    finally:
        store.close()
    return [a.id for a in alerts]
