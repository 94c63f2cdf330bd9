"""Risk that moves with the wait: the wait in words, and the scorer's held rows at a later ``now``."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd

from serving.risk.reasons import top_reasons, wait_words, waits
from serving.runtime.scoring import TaskRows, task_row
from tests.factories.fakes import NOW, make_task
from training.encoder import FeatureEncoder

NAMES = ["task_complexity", "task_type_name", "hours_to_sla", "task_age_hours", "cust_vip"]


def _model(version: str = "1") -> SimpleNamespace:
    frame = pd.DataFrame(
        {
            "task_complexity": [1, 3],
            "task_type_name": ["renewal", "claims_review"],
            "hours_to_sla": [1.0, 2.0],
            "task_age_hours": [0.0, 1.0],
            "cust_vip": [0.0, 1.0],
        }
    )
    return SimpleNamespace(feature_names=NAMES, encoder=FeatureEncoder.fit(frame, NAMES), version=version)


def test_the_wait_is_said_in_hours_past_or_before_the_sla() -> None:
    assert wait_words(62.2, -38.4) == "waiting 62 h, 38 h past its SLA"
    assert wait_words(3.0, 21.0) == "waiting 3 h, SLA in 21 h"
    task = make_task("T1", hours_to_sla=8.0)  # created an hour before NOW
    assert waits([task], NOW + timedelta(hours=20)) == ["waiting 21 h, 12 h past its SLA"]


def test_the_waiting_reason_names_the_wait_when_a_wait_feature_pushes_the_risk_up() -> None:
    contrib = np.array([[0.0, 0.0, 0.8, 0.3, 0.1, -2.0], [0.0, 0.0, -0.5, -0.1, 0.4, -2.0]])
    said = top_reasons(contrib, NAMES, waits=["waiting 62 h, 38 h past its SLA", "waiting 1 h, SLA in 7 h"])
    assert (
        said[0][0].code == "waiting_sla"
        and said[0][0].text == "Waiting and SLA: waiting 62 h, 38 h past its SLA"
    )
    assert [r.code for r in said[1]] == ["customer_history"]  # the wait lowers the risk: no waiting reason


def test_held_rows_take_the_wait_of_each_call_and_re_encode_a_changed_record() -> None:
    model, rows = _model(), TaskRows()
    task = make_task("T1", "renewal", hours_to_sla=8.0, features={"task_complexity": 3, "cust_vip": True})
    for later in (0, 30, 75):
        now = NOW + timedelta(hours=later)
        np.testing.assert_allclose(rows.rows(model, [task], now), task_row(model, task, now)[None, :])
    changed = make_task("T1", "renewal", hours_to_sla=8.0, features={"task_complexity": 1, "cust_vip": False})
    np.testing.assert_allclose(rows.rows(model, [changed], NOW), task_row(model, changed, NOW)[None, :])
    newer = _model("2")
    np.testing.assert_allclose(rows.rows(newer, [task, changed], NOW)[0], task_row(newer, task, NOW))
