"""What the customer said, as a risk reason: "said: 我要打12378投诉" (personal data masked).

For each scored task, the customer's contacts before ``now`` (``features.contact_text.documents``: the
same point-in-time rule the text model trained with) are read from the event store, and the clause that
raises the text model's score most is quoted (``training.text_model.quote``). The text model is the
``opsmatch-complaint_text`` champion in MLflow (``training.text_run``), re-checked every
``CHECK_SECONDS`` off the request path; without one, the latest clause carrying an interpretable flag
(投诉, 12378, 不满意, 退保, 媒体, a long wait; negations excluded) is quoted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from features.contact_text import WINDOW_DAYS, documents
from opsmatch import event_store as es
from opsmatch import events
from opsmatch.settings import Settings
from serving.protocols import TaskRecord
from serving.risk.reasons import Reason
from training.text_model import quote

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
        self._version: str | None = None
        self._checked = float("-inf")

    def get(self) -> Any:
        with self._lock:
            if time.monotonic() - self._checked >= CHECK_SECONDS and self._registry_exists():
                self._checked = time.monotonic()
                threading.Thread(target=self._refresh, name="text-champion", daemon=True).start()
            return self._model

    def _registry_exists(self) -> bool:
        """A SQLite tracking store that does not exist has no text model (and is not created here)."""
        uri = str(self.settings.mlflow_tracking_uri)
        return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()

    def _refresh(self) -> None:
        try:
            from training.text_run import load_text_champion

            got = load_text_champion(self.settings, known=self._version)
        except Exception:  # noqa: BLE001 - no text model: the flags speak instead
            log.warning("text model champion unavailable; quoting flagged phrases", exc_info=True)
            return
        if got is not None:
            with self._lock:
                self._version, self._model = got


def voice_reasons(
    settings: Settings, model: Any, tasks: Sequence[TaskRecord], now: datetime
) -> list[Reason | None]:
    """One reason per task quoting what its customer said before ``now``, or None."""
    if not tasks:
        return []
    try:
        contacts = recent_contacts(settings, [t.customer_id or "" for t in tasks], now)
    except Exception:  # noqa: BLE001 - the words are an extra: a store hiccup must not fail /risk
        log.warning("contacts unavailable for risk reasons", exc_info=True)
        return [None] * len(tasks)
    if contacts.empty:
        return [None] * len(tasks)
    rows = pd.DataFrame({"customer_id": [t.customer_id or "" for t in tasks], "now": pd.Timestamp(now)})
    docs = documents(rows, contacts)["document"].tolist()
    out: list[Reason | None] = []
    for doc in docs:
        q = quote(model, doc) if doc else None
        out.append(None if q is None else Reason(CODE, q.text, q.lift, ("text_score",)))
    return out


def with_voice(reasons: list[list[Reason]], said: Sequence[Reason | None]) -> list[list[Reason]]:
    """Each task's reasons with its customer's words first (when they said something that counts)."""
    return [([v] if v is not None else []) + list(r) for r, v in zip(reasons, said, strict=True)]
