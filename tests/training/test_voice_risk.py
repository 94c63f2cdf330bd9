"""The text-aware risk: the served P(complaint) updated by what the customer said, point-in-time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.voice_scores import VoiceModels, voice_scores
from features.contact_text import documents
from training.text_model import fit_text_model
from training.voice_risk import FEATURES, coefficients, fit_voice_risk, voice_inputs

T0 = pd.Timestamp("2026-06-01T08:00:00Z")
ANGRY = ("我要打12378投诉", "对你们的服务很不满意", "我要找媒体曝光")
CALM = ("请问办理进度怎么样了", "需要补充什么材料吗", "不是要投诉，就是问一下")


def voice_models() -> VoiceModels:
    """A text model and a stacker fitted on synthetic rows where angry words go with complaints."""
    rng = np.random.default_rng(3)
    n = 600
    y = rng.random(n) < 0.3
    said = [ANGRY[i % 3] if (a and rng.random() < 0.8) else CALM[i % 3] for i, a in enumerate(y)]
    docs = pd.DataFrame({"document": said, "contacts_30d": rng.integers(1, 4, n).astype(float)})
    text = fit_text_model(docs["document"], y.astype(int))
    p_risk = np.clip(0.2 + 0.1 * y + 0.1 * rng.standard_normal(n), 0.01, 0.99)
    score = text.predict_proba(docs["document"].to_numpy())[:, 1]
    return VoiceModels(text, fit_voice_risk(voice_inputs(p_risk, score, docs), y.astype(int)))


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
