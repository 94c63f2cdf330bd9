"""The text-aware risk: the served P(complaint) updated by what the customer said, point-in-time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.voice_scores import voice_scores
from features.contact_text import documents
from tests.factories.voice import voice_models
from training.voice_risk import FEATURES, coefficients, served_voice_risk

T0 = pd.Timestamp("2026-06-01T08:00:00Z")


def test_what_was_said_raises_the_risk_and_only_before_the_scoring_time() -> None:
    models = voice_models()
    assert list(coefficients(models.stacker))[: len(FEATURES)] == list(FEATURES)
    contacts = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C2"],
            "at": [T0 - pd.Timedelta(hours=2), T0 - pd.Timedelta(hours=3), T0 + pd.Timedelta(hours=1)],
            "text": ["客户来电：我要打12378投诉", "客户来电：请问办理进度", "客户来电：我要找媒体曝光"],
        }
    )
    ids = np.array(["C1", "C2", "C3"])
    at = pd.DatetimeIndex([T0, T0, T0])
    base = np.array([0.05, 0.05, 0.05])
    got = voice_scores(models, ids, contacts, base, at)
    assert got[0] > got[1]  # the same served risk: the one who said 12378 ranks higher
    # Leakage: C2's threat after the scoring time cannot count; moved before it, it does.
    later = contacts.assign(at=lambda d: d["at"].where(d.index != 2, T0 + pd.Timedelta(days=3)))
    assert voice_scores(models, ids, later, base, at)[1] == got[1]
    earlier = contacts.assign(at=lambda d: d["at"].where(d.index != 2, T0 - pd.Timedelta(minutes=1)))
    assert voice_scores(models, ids, earlier, base, at)[1] > got[1]
    # Unscored tasks stay unscored; the same rows through documents() see the same words.
    partial = voice_scores(models, ids, contacts, np.array([0.05, np.nan, 0.05]), at)
    assert np.isnan(partial[1]) and partial[0] == got[0]
    assert documents(pd.DataFrame({"customer_id": ids, "now": at}), contacts)["contacts_30d"].tolist() == [
        1.0,
        1.0,
        0.0,
    ]


def test_served_risk_moves_complaint_pre_only_by_words_said_before_now() -> None:
    """The served form: silent customers keep complaint_pre exactly (its calibration and wait curve);
    angry words raise it by the same log-odds at any wait; words after ``now`` do not count."""
    models = voice_models()
    contacts = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "at": [T0 - pd.Timedelta(hours=2), T0 + pd.Timedelta(minutes=1)],
            "text": ["客户来电：我要打12378投诉", "客户来电：我要打12378投诉"],
        }
    )
    rows = pd.DataFrame({"customer_id": ["C1", "C1", "C2", "C3"], "now": [T0] * 4})
    docs = documents(rows, contacts)
    p_pre = np.array([0.02, 0.20, 0.02, 0.02])  # C1 at intake and far past its SLA
    got, shift = served_voice_risk(models.stacker, models.text, p_pre, docs)
    assert shift[0] > 0 and shift[0] == shift[1] and got[0] > p_pre[0] and got[1] > got[0]
    assert got[2] == p_pre[2] and got[3] == p_pre[3] and shift[2] == 0  # C2 spoke after now; C3 never
    logit = np.log(got / (1 - got)) - np.log(p_pre / (1 - p_pre))
    assert np.allclose(logit[:2], shift[0])
