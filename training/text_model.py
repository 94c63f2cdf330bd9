"""The text model: P(complaint) from what the customer said, char n-gram TF-IDF + logistic regression.

Why char n-grams and not jieba words: Chinese has no spaces, and the phrases that matter are short and
fixed (投诉, 12378, 退保, 不满意); 1-3 character grams catch them, their negations (不是要投诉 shares
"要投" with 我要投诉 but adds "是要"), and their typos (投述 still shares 投), with no segmenter, no
dictionary to maintain and nothing that mis-cuts a typo or a number. Words would need jieba's dictionary
(and a user dictionary for 12378 and insurance terms) for no gain we could measure on short summaries.

Inputs are the point-in-time documents of ``features.contact_text``. ``quote`` finds the clause of a
customer's last contacts that raises the score most, masked (``mask_pii``), for a reason "said: ...".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline

from features.contact_text import SEPARATOR, clauses, flags, mask_pii

NGRAMS = (1, 3)
MIN_DF = 3
C = 2.0


def make_text_model() -> Pipeline:
    """The unfitted pipeline: char 1-3 grams (sublinear TF, IDF), L2 logistic regression."""
    return make_pipeline(
        TfidfVectorizer(
            analyzer="char", ngram_range=NGRAMS, min_df=MIN_DF, sublinear_tf=True, dtype=np.float32
        ),
        LogisticRegression(C=C, solver="liblinear", max_iter=500),
    )


def fit_text_model(documents: pd.Series, label: np.ndarray) -> Pipeline:
    """Fit on the documents (empty documents count: 'said nothing' is information too)."""
    return make_text_model().fit(documents.fillna("").astype(str).to_numpy(), np.asarray(label, dtype=int))


def text_scores(model: Pipeline, documents: pd.Series) -> np.ndarray:
    """P(complaint | text) of each document."""
    return model.predict_proba(documents.fillna("").astype(str).to_numpy())[:, 1]


def out_of_fold_scores(
    documents: pd.Series, label: np.ndarray, groups: np.ndarray, folds: int = 3
) -> np.ndarray:
    """Scores of training rows from models that never saw their group (the customer): a second-stage
    model trained on them then sees scores as honest as the ones it will get at serving."""
    out = np.empty(len(documents))
    for fit_idx, score_idx in GroupKFold(n_splits=folds).split(documents, label, groups):
        m = fit_text_model(documents.iloc[fit_idx], label[fit_idx])
        out[score_idx] = text_scores(m, documents.iloc[score_idx])
    return out


@dataclass(frozen=True)
class Quote:
    """The phrase that raised the score most, masked, and how much it raised it (log-odds)."""

    phrase: str
    lift: float

    @property
    def text(self) -> str:
        return f"said: {self.phrase}"


def quote(model: Pipeline | None, document: str, min_lift: float = 0.5) -> Quote | None:
    """The clause of ``document`` whose own text model log-odds exceed an empty text's by the most (at
    least ``min_lift``); without a model, the latest clause carrying an interpretable flag."""
    parts = list(dict.fromkeys(c for doc in document.split(SEPARATOR) for c in clauses(doc)))
    if not parts:
        return None
    if model is None:
        hit = np.flatnonzero(flags(pd.Series(parts)).to_numpy().any(axis=1))
        return Quote(mask_pii(parts[int(hit[-1])]), 1.0) if len(hit) else None  # the latest said
    p = model.predict_proba(np.asarray(["", *parts], dtype=object))[:, 1]
    logit = np.log(p) - np.log1p(-p)
    lift = logit[1:] - logit[0]
    best = int(np.argmax(lift))
    return Quote(mask_pii(parts[best]), float(lift[best])) if lift[best] >= min_lift else None
