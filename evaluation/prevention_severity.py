"""Which complaints the risk team's list should prevent first: escalated ones count more (issue 27).

Seed 001 judges the team by escalated (high-severity) complaints, -46 %. A contact cuts the customer's
complaint hazard whatever the severity would be, so a list ranked by expected complaints prevented
spends a call on an ordinary task as readily as on a VIP's task finished days late, whose complaint is
about three times as likely to escalate. The list ranks instead by expected complaints prevented, each
counted ``1 + weight x P(high | complaint)``; ``P(high | complaint)`` is the history's share of high
severity among the complaints in cells of what is known when a task completes (the customer is a VIP;
the task finished more than ``LATE_HOURS`` past its SLA), shrunk towards the overall share in thin cells.
Only the contract's tables are read (complaints' severity, tasks' SLA, completions, customers' VIP flag).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsmatch.events import read_table
from opsmatch.settings import Settings

LATE_HOURS = 24.0  # the handling queue's "a day late", the lateness that makes complaints escalate
PRIOR = 20.0  # pseudo-complaints at the overall share in every cell
ESCALATION_WEIGHT = 3.0  # an escalated complaint counts as 1 + 3 x P(high) (chosen on seed 9, see docs)


@dataclass(frozen=True)
class EscalationShares:
    """P(high severity | complaint) by (VIP, late) cell, and the overall share."""

    cells: dict[tuple[bool, bool], float]
    overall: float

    def share(self, vip: np.ndarray, hours_late: np.ndarray) -> np.ndarray:
        """The cell share of each task (unknown lateness: on time)."""
        v = np.asarray(vip, dtype=bool)
        late = np.nan_to_num(np.asarray(hours_late, dtype=float)) > LATE_HOURS
        out = np.full(len(v), self.overall)
        for (cv, cl), p in self.cells.items():
            out[(v == cv) & (late == cl)] = p
        return out

    def weights(
        self, vip: np.ndarray, hours_late: np.ndarray, weight: float = ESCALATION_WEIGHT
    ) -> np.ndarray:
        """What preventing each task's complaint is worth, in complaints."""
        return 1.0 + weight * self.share(vip, hours_late)

    @classmethod
    def fit(cls, complaints: pd.DataFrame, tasks: pd.DataFrame, completions: pd.DataFrame,
            customers: pd.DataFrame) -> EscalationShares:  # fmt: skip
        """From the contract's tables: each complaint's severity, its customer's VIP flag and how late
        its task completed."""
        c = complaints[["task_id", "customer_id", "severity"]].astype({"task_id": str, "customer_id": str})
        due = tasks.astype({"task_id": str}).set_index("task_id")["sla_due_at"]
        done = completions.astype({"task_id": str}).drop_duplicates("task_id").set_index("task_id")
        vip = customers.astype({"customer_id": str}).set_index("customer_id")["vip"]
        late_h = done["completed_at"].reindex(c["task_id"]).to_numpy() - due.reindex(c["task_id"]).to_numpy()
        hours = pd.to_timedelta(pd.Series(late_h)).dt.total_seconds().to_numpy() / 3600
        frame = pd.DataFrame(
            {
                "vip": vip.reindex(c["customer_id"]).fillna(False).astype(bool).to_numpy(),
                "late": np.nan_to_num(hours) > LATE_HOURS,
                "high": (c["severity"] == "high").to_numpy(dtype=bool),
            }
        )
        overall = float(frame["high"].mean()) if len(frame) else 0.0
        g = frame.groupby(["vip", "late"])["high"].agg(["sum", "size"])
        cells = {
            (bool(k[0]), bool(k[1])): float((r["sum"] + PRIOR * overall) / (r["size"] + PRIOR))
            for k, r in g.iterrows()
        }
        return cls(cells, overall)

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationShares:
        """Fitted on the history in ``settings``' event store."""
        return cls.fit(
            read_table(settings, "complaints", columns=["task_id", "customer_id", "severity"]),
            read_table(settings, "tasks", columns=["task_id", "sla_due_at"]),
            read_table(settings, "completions", columns=["task_id", "completed_at"]),
            read_table(settings, "customers", columns=["customer_id", "vip"]),
        )
