"""What the customer said: in the risk (``complaint_pre`` moved by the words) and as a reason, "said:
我要打12378投诉" (personal data masked).

With an ``opsmatch-complaint_voice`` champion, a task's P(complaint) is ``complaint_pre``'s moved by the
log-odds its customer's words add (``training.voice_risk.served_voice_risk``): unchanged for a customer
who said nothing in the window, so the model's calibration and its rise with the wait hold; the
offset's own calibration is gated at training (``training.text_run``). For each scored task, the
customer's contacts before ``now`` (``features.contact_text.documents``: the same point-in-time rule the
text model trained with) are read from the event store, and the clause that raises the text model's
score most is quoted (``training.text_model.quote``). The text model is the
``opsmatch-complaint_text`` champion in MLflow (``training.text_run``), re-checked every
``CHECK_SECONDS`` off the request path; without one, the latest clause carrying an interpretable flag
(投诉, 12378, 不满意, 退保, 媒体, a long wait; negations excluded) is quoted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.contact_text import WINDOW_DAYS, documents
from opsmatch import event_store as es
from opsmatch import events
from opsmatch.settings import Settings
from serving.protocols import TaskRecord
from serving.risk.reasons import Reason
from training.text_model import quote
from training.voice_risk import served_voice_risk

log = logging.getLogger("opsmatch.serving")
CODE = "customer_voice"
CHECK_SECONDS = 60.0


def recent_contacts(settings: Settings, customer_ids: Sequence[str], now: datetime) -> pd.DataFrame:
    """The customers' contacts in ``[now - WINDOW_DAYS, now)``: ``customer_id, at, text``."""
    ids = sorted({c for c in customer_ids if c})
    if not ids:
        return pd.DataFrame({"customer_id": [], "at": [], "text": []})
    t = es.SQL_TABLES["contacts"]
    end = pd.Timestamp(now)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    lo, hi = (int((x - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)) for x in (
        end - timedelta(days=WINDOW_DAYS), end))  # fmt: skip
    query = (
        sa.select(t.c.customer_id, t.c.at, t.c.text)
        .where(t.c.customer_id.in_(ids), t.c.at >= lo, t.c.at < hi)
        .order_by(t.c.seq)
    )
    arrow = es.store_for(events.store_url(settings)).query_arrow(query)
    frame = arrow.to_pandas()
    frame["at"] = pd.to_datetime(frame["at"].astype("int64"), unit="us", utc=True)
    return frame


class TextChampion:
    """The text model's champion, re-checked at most every ``CHECK_SECONDS`` in a background thread, so
    a request never waits on MLflow (it quotes with the model it has, or the flags)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._model: Any = None
        self._stacker: Any = None  # the text-aware risk (opsmatch-complaint_voice), moved with the text
        self._version: str | None = None
        self._checked = float("-inf")

    def get(self) -> Any:
        with self._lock:
            if time.monotonic() - self._checked >= CHECK_SECONDS and self._registry_exists():
                self._checked = time.monotonic()
                threading.Thread(target=self._refresh, name="text-champion", daemon=True).start()
            return self._model

    def stacker(self) -> Any:
        """The text-aware risk's champion loaded with the text model (None until both are)."""
        with self._lock:
            return self._stacker if self._model is not None else None

    def _registry_exists(self) -> bool:
        """A SQLite tracking store that does not exist has no text model (and is not created here)."""
        uri = str(self.settings.mlflow_tracking_uri)
        return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()

    def _refresh(self) -> None:
        try:
            from training.text_run import load_text_champion, load_voice_stacker

            got = load_text_champion(self.settings, known=self._version)
            stacker = load_voice_stacker(self.settings) if got is not None else None
        except Exception:  # noqa: BLE001 - no text model: the flags speak instead
            log.warning("text model champion unavailable; quoting flagged phrases", exc_info=True)
            return
        if got is not None:
            with self._lock:
                self._version, self._model = got
                self._stacker = stacker


@dataclass(frozen=True)
class Words:
    """What each scored task's customer said before ``now`` (``documents``: the point-in-time rule the
    text model trained with) and the text models to read it."""

    docs: pd.DataFrame  # document, contacts_30d per task (empty: nothing said, or no contacts read)
    text: Any
    stacker: Any

    def risk(self, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P(complaint) with the words, the log-odds they added)``; as given without a stacker."""
        p = np.asarray(prob, dtype=float)
        if self.text is None or self.stacker is None or self.docs.empty:
            return p, np.zeros(len(p))
        return served_voice_risk(self.stacker, self.text, p, self.docs)

    def reasons(self, shift: np.ndarray | None = None) -> list[Reason | None]:
        """One reason per task quoting what its customer said, or None; its contribution is the log-odds
        the words added (``shift``) when the risk used them, else the quote's own lift."""
        if self.docs.empty:
            return []
        out: list[Reason | None] = []
        for i, doc in enumerate(self.docs["document"].tolist()):
            q = quote(self.text, doc) if doc else None
            if q is None:
                out.append(None)
                continue
            lift = q.lift if shift is None or shift[i] == 0 else float(shift[i])
            out.append(Reason(CODE, q.text, lift, ("text_score",)))
        return out


def customer_words(
    settings: Settings, champion: TextChampion, tasks: Sequence[TaskRecord], now: datetime
) -> Words:
    """The tasks' customers' words before ``now`` (nothing on a store hiccup: the words are an extra,
    they must not fail /risk)."""
    text, stacker = champion.get(), champion.stacker()
    silent = pd.DataFrame({"document": [""] * len(tasks), "contacts_30d": np.zeros(len(tasks))})
    if not tasks:
        return Words(silent, text, stacker)
    try:
        contacts = recent_contacts(settings, [t.customer_id or "" for t in tasks], now)
    except Exception:  # noqa: BLE001
        log.warning("contacts unavailable for risk reasons", exc_info=True)
        return Words(silent, text, stacker)
    if contacts.empty:
        return Words(silent, text, stacker)
    rows = pd.DataFrame({"customer_id": [t.customer_id or "" for t in tasks], "now": pd.Timestamp(now)})
    return Words(documents(rows, contacts).reset_index(drop=True), text, stacker)


def with_voice(reasons: list[list[Reason]], said: Sequence[Reason | None]) -> list[list[Reason]]:
    """Each task's reasons with its customer's words first (when they said something that counts)."""
    if not said:
        return reasons
    return [([v] if v is not None else []) + list(r) for r, v in zip(reasons, said, strict=True)]
