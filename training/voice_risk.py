"""The text-aware complaint risk: a served P(complaint) updated by what the customer said before ``now``.

A logistic stacker on ``[logit p_risk, logit text_score, contacts_30d, flags...]``: ``p_risk`` is a
risk model's probability without text (``complaint_pre`` at the wait, or the served ``complaint``), the
text score is the text model's (``training.text_model``) on the customer's point-in-time document
(``features.contact_text.documents``: only contacts strictly before ``now``). Fitted on the text
holdout's rows (``training.text_holdout``), where the no-text risk is a model that never saw them, so the
coefficient on ``logit p_risk`` is an honest calibration of the base risk and the others are what the
words add on top of it. Registered with the text model (``training.text_run``,
``opsmatch-complaint_voice``).

Served (``serving.risk.voice``) as an offset on ``complaint_pre``: ``words_shift`` is the stacker's
log-odds of what the customer said minus that of saying nothing (no contacts, an empty document). Being
linear in ``logit p_risk``, it does not depend on the risk, so ``with_words`` leaves ``complaint_pre``
exactly as it is (its calibration, its rise with the wait) for a customer who said nothing, and moves
everyone else by what their words add at any wait.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from features.contact_text import FLAG_NAMES, flags

FEATURES: tuple[str, ...] = ("risk_logit", "text_logit", "contacts_30d", *FLAG_NAMES)
EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def voice_inputs(p_risk: np.ndarray, text_score: np.ndarray, docs: pd.DataFrame) -> np.ndarray:
    """The stacker's inputs (``FEATURES`` order); ``docs``: ``document`` and ``contacts_30d`` per row."""
    f = flags(docs["document"]).to_numpy(dtype=float)
    return np.column_stack(
        [_logit(p_risk), _logit(text_score), np.log1p(docs["contacts_30d"].to_numpy(dtype=float)), f]
    )


def fit_voice_risk(x: np.ndarray, label: np.ndarray) -> LogisticRegression:
    """Fit the stacker (mild L2: ~10 coefficients on tens of thousands of rows)."""
    return LogisticRegression(C=1.0, max_iter=1000).fit(x, np.asarray(label, dtype=int))


def voice_risk(
    stacker: LogisticRegression, text_model: Pipeline, p_risk: np.ndarray, docs: pd.DataFrame
) -> np.ndarray:
    """P(complaint) of each row from its no-text risk and its customer's document before ``now``."""
    if len(docs) == 0:
        return np.zeros(0)
    text_score = text_model.predict_proba(docs["document"].fillna("").astype(str).to_numpy())[:, 1]
    return stacker.predict_proba(voice_inputs(p_risk, text_score, docs))[:, 1]


def words_shift(stacker: LogisticRegression, said: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """Log-odds the words add: the stacker's linear term of ``said`` minus ``silent`` (the same rows'
    ``voice_inputs`` with nothing said); the risk column, equal in both, cancels."""
    return np.asarray((said - silent) @ stacker.coef_[0], dtype=float)


def silent_inputs(p_risk: np.ndarray, empty_score: float) -> np.ndarray:
    """``voice_inputs`` of rows whose customer said nothing (``empty_score``: the text model's score of
    an empty document)."""
    n = len(p_risk)
    docs = pd.DataFrame({"document": [""] * n, "contacts_30d": np.zeros(n)})
    return voice_inputs(p_risk, np.full(n, empty_score), docs)


def with_words(p_risk: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The risk moved by ``shift`` log-odds."""
    return np.asarray(1.0 / (1.0 + np.exp(-(_logit(p_risk) + np.asarray(shift, dtype=float)))))


def served_voice_risk(
    stacker: LogisticRegression, text_model: Pipeline, p_risk: np.ndarray, docs: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """``(risk, shift)``: ``p_risk`` moved by what each row's customer said before ``now`` (``docs``:
    ``document`` and ``contacts_30d``); rows with no contact keep ``p_risk`` (shift 0)."""
    p = np.asarray(p_risk, dtype=float)
    shift = np.zeros(len(p))
    spoke = np.flatnonzero(docs["contacts_30d"].to_numpy(dtype=float) > 0)
    if len(spoke):
        d = docs.iloc[spoke]
        scores = text_model.predict_proba(np.asarray(["", *d["document"].astype(str)], dtype=object))[:, 1]
        said = voice_inputs(p[spoke], scores[1:], d)
        shift[spoke] = words_shift(stacker, said, silent_inputs(p[spoke], float(scores[0])))
    return np.where(shift != 0, with_words(p, shift), p), shift


def coefficients(stacker: LogisticRegression) -> dict[str, float]:
    """The stacker's coefficients by input name (what each input adds, in log-odds per unit)."""
    return dict(zip(FEATURES, map(float, stacker.coef_[0]), strict=True)) | {
        "intercept": float(stacker.intercept_[0])
    }
