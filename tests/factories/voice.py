"""Small text models for tests: a text model and a text-aware risk stacker fitted on synthetic rows where
angry words go with complaints, and their registration as champions in a world's MLflow store."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.voice_scores import VoiceModels
from opsmatch.settings import Settings
from training.text_model import fit_text_model
from training.voice_risk import fit_voice_risk, voice_inputs

ANGRY = ("我要打12378投诉", "对你们的服务很不满意", "我要找媒体曝光")
CALM = ("请问办理进度怎么样了", "需要补充什么材料吗", "不是要投诉，就是问一下")


def voice_models() -> VoiceModels:
    """The text model and the stacker (deterministic: fixed seed, liblinear/lbfgs on 600 rows)."""
    rng = np.random.default_rng(3)
    n = 600
    y = rng.random(n) < 0.3
    said = [ANGRY[i % 3] if (a and rng.random() < 0.8) else CALM[i % 3] for i, a in enumerate(y)]
    docs = pd.DataFrame({"document": said, "contacts_30d": rng.integers(1, 4, n).astype(float)})
    text = fit_text_model(docs["document"], y.astype(int))
    p_risk = np.clip(0.2 + 0.1 * y + 0.1 * rng.standard_normal(n), 0.01, 0.99)
    score = text.predict_proba(docs["document"].to_numpy())[:, 1]
    return VoiceModels(text, fit_voice_risk(voice_inputs(p_risk, score, docs), y.astype(int)))


def promote_voice(settings: Settings) -> str:
    """Register ``voice_models()`` as the ``opsmatch-complaint_text``/``_voice`` champions; the version."""
    import mlflow

    from training.registry import client_for, experiment_named
    from training.text_run import NAME, register

    models = voice_models()
    exp = experiment_named(client_for(settings), settings, NAME)
    with mlflow.start_run(experiment_id=exp, run_name="test voice"):
        return register(settings, models.text, models.stacker, promote=True)
