"""The watchlist's risk with what customers said: the served P(complaint) updated by the text (issue 27).

In a replay, the twin's customers speak (``simulator.voice.contacts_table``, the same generator as the
history's); each task the watchlist scored at ``scored_at`` (the hour after its completion) is re-scored
by the text-aware risk (``training.voice_risk``, the champions of ``training.text_run``) from its
customer's contacts strictly before ``scored_at`` (``features.contact_text.documents``): the point-in-time
rule of training. Contacts of the replay only (the customer's words from the history are not carried
over), so the first days see fewer words than a running centre would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.contact_text import documents
from opsmatch.settings import Settings
from simulator.clock import to_timestamps
from simulator.engine import SimResult
from simulator.voice import contacts_table
from training.voice_risk import voice_risk


@dataclass(frozen=True)
class VoiceModels:
    """The text model's pipeline and the text-aware risk stacker (champions of ``training.text_run``)."""

    text: Any
    stacker: Any

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceModels:
        from training.text_run import load_voice_champions

        got = load_voice_champions(settings)
        if got is None:
            raise ValueError("no text/voice champions in MLflow: run `opsmatch text train` first")
        return cls(*got)


def replay_contacts(result: SimResult, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The replay's ``contacts`` table (what its customers said, censored at the replay's end)."""
    return contacts_table(result, outcomes)


def voice_scores(
    models: VoiceModels,
    customer_ids: np.ndarray,
    contacts: pd.DataFrame,
    scores: np.ndarray,
    scored_at: pd.DatetimeIndex,
) -> np.ndarray:
    """Each scored task's P(complaint) updated by its customer's words strictly before its ``scored_at``
    (UTC); unscored tasks (NaN score or time) stay as they are."""
    out = np.asarray(scores, dtype=float).copy()
    idx = np.flatnonzero(np.isfinite(out) & ~pd.isna(scored_at))
    if not len(idx):
        return out
    rows = pd.DataFrame({"customer_id": np.asarray(customer_ids)[idx], "now": scored_at[idx]})
    docs = documents(rows, contacts)
    out[idx] = voice_risk(models.stacker, models.text, out[idx], docs)
    return out


def replay_voice_scores(
    models: VoiceModels, result: SimResult, outcomes: pd.DataFrame, scores: np.ndarray, scored_at: np.ndarray
) -> np.ndarray:
    """``voice_scores`` of a replay's tasks scored at ``scored_at`` (sim minutes), from the replay's
    contacts."""
    return voice_scores(
        models,
        result.arrivals.tasks["customer_id"].to_numpy(),
        replay_contacts(result, outcomes),
        scores,
        to_timestamps(result.config, np.asarray(scored_at, dtype=float)),
    )
