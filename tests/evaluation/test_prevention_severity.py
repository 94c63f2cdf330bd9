"""The watchlist's escalation weights: P(high severity | complaint) by what is known at completion."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.prevention_severity import PRIOR, EscalationShares

T0 = pd.Timestamp("2026-06-01T08:00:00Z")


def test_vip_and_late_complaints_weigh_more_and_thin_cells_shrink_to_the_overall_share() -> None:
    # 100 complaints: 80 ordinary on-time tasks (8 high), 20 VIP on-time (10 high); none late.
    n = 100
    vip = np.r_[np.zeros(80, bool), np.ones(20, bool)]
    high = np.r_[np.arange(80) < 8, np.arange(20) < 10]
    ids = [f"T{i}" for i in range(n)]
    complaints = pd.DataFrame({"task_id": ids, "customer_id": ids, "severity": np.where(high, "high", "low")})
    tasks = pd.DataFrame({"task_id": complaints["task_id"], "sla_due_at": T0})
    done = pd.DataFrame({"task_id": complaints["task_id"], "completed_at": T0 - pd.Timedelta(hours=1)})
    customers = pd.DataFrame({"customer_id": complaints["customer_id"], "vip": vip})
    shares = EscalationShares.fit(complaints, tasks, done, customers)
    assert shares.overall == 0.18
    assert shares.cells[(False, False)] == (8 + PRIOR * 0.18) / (80 + PRIOR)
    assert shares.cells[(True, False)] == (10 + PRIOR * 0.18) / (20 + PRIOR)
    # A VIP's complaint weighs more; an unseen cell (late) and unknown lateness fall back as documented.
    w = shares.weights(np.array([False, True, False, False]), np.array([0.0, 0.0, 30.0, np.nan]), weight=3.0)
    assert w[1] > w[0] and w[2] == 1 + 3 * 0.18 and w[3] == w[0]
