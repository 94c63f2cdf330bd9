"""The current complaint risk of the open tasks, held between calls: the monitor's sweeps, the watchlist
and the warm-up at start share one cache, so a warm national watchlist predicts and explains almost
nothing and the risk view fills at once.

A held score stays while its task's wait is in the same step (``alerts.risk_step_hours`` of age, and
of hours past the SLA: the SLA passing is a step), the task book holds the same record (a changed task is
enriched again) and the champion is the same version; otherwise the task is scored again. Its reasons are
computed once per held score and only when asked for (the rows a list shows, the alerts' examples); the
wait in their words is said at the time of the reading. Bounded by the open tasks: a full pass drops what
is no longer open, and at most ``limit`` entries are held.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from serving.protocols import TaskRecord
from serving.risk.reasons import Reason, top_reasons, waits


def wait_steps(tasks: Sequence[TaskRecord], now: datetime, step_hours: float) -> list[tuple[int, int]]:
    """The steps of age and of hours past the SLA each task's wait is in at ``now``."""
    if not tasks:
        return []
    at = pd.Timestamp(now).value
    step = step_hours * 3600e9  # nanoseconds
    created = pd.DatetimeIndex([t.created_at for t in tasks]).as_unit("ns").asi8
    due = pd.DatetimeIndex([t.sla_due_at for t in tasks]).as_unit("ns").asi8
    age = np.floor((at - created) / step).astype(np.int64)
    past = np.floor((at - due) / step).astype(np.int64)
    return list(zip(age.tolist(), past.tolist(), strict=True))


@dataclass(frozen=True)
class Held:
    record: TaskRecord  # the task book's record the score was computed from (compared by identity)
    key: tuple[object, ...]  # model version and wait steps
    prob: float
    reasons: tuple[Reason, ...] | None = None
    wait: str | None = None  # the wait in words said by ``reasons``


class RiskCache:
    """P(complaint) and top reasons per open task, scored again only when stale (thread-safe)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self.rescored = 0  # tasks scored again by the last ``scores`` call
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        # Cleared while the service's start-up warm-up fills the cache (``serving.risk.desk.warm``): the
        # watchlist waits for it and the monitor's risk sweep skips, instead of scoring the same tasks.
        self.settled = threading.Event()
        self.settled.set()
        # While the warm-up holds ``/readyz`` (the champion was served at start): the monotonic time it
        # holds it until; None when readiness does not wait for it (``serving.risk.desk.warmed``).
        self.hold_until: float | None = None

    def __len__(self) -> int:
        return len(self._held)

    def _stale(self, records: Sequence[TaskRecord], keys: Sequence[tuple[object, ...]]) -> list[int]:
        with self._lock:
            got = [self._held.get(r.task_id) for r in records]
        return [i for i, (r, h, k) in enumerate(zip(records, got, keys, strict=True))
                if h is None or h.record is not r or h.key != k]  # fmt: skip

    def scores(
        self,
        scorer,  # noqa: ANN001 - serving.protocols.Scorer
        records: Sequence[TaskRecord],
        now: datetime,
        step_hours: float,
        *,
        complete: bool = False,
    ) -> np.ndarray:
        """P(complaint) of each task now, scoring only the stale ones (one prediction, no contributions);
        ``complete``: ``records`` are every open task, so the others are dropped."""
        version = scorer.versions().get("complaint_pre")
        keys = [(version, *w) for w in wait_steps(records, now, step_hours)]
        todo = self._stale(records, keys)
        self.rescored = len(todo)
        if todo:
            batch = [records[i] for i in todo]
            prob = np.asarray(scorer.complaint_risk(batch, now=now, contributions=False).prob, dtype=float)
            fresh = {
                records[i].task_id: Held(records[i], keys[i], float(p))
                for i, p in zip(todo, prob, strict=True)
            }
        else:
            fresh = {}
        with self._lock:
            if complete:
                ids = {r.task_id for r in records}
                self._held = {k: v for k, v in self._held.items() if k in ids}
            self._held.update(fresh)
            if len(self._held) > self.limit:
                keep = {r.task_id for r in records}
                self._held = {k: v for k, v in self._held.items() if k in keep}
            held = [self._held.get(r.task_id) for r in records]
        out = np.array([h.prob if h is not None else np.nan for h in held], dtype=float)
        missing = np.flatnonzero(np.isnan(out))
        if len(missing):  # evicted meanwhile by a concurrent complete pass: score them here
            again = [records[int(i)] for i in missing]
            out[missing] = scorer.complaint_risk(again, now=now, contributions=False).prob
        return out

    def reasons(
        self,
        scorer,  # noqa: ANN001
        records: Sequence[TaskRecord],
        now: datetime,
        step_hours: float,
        *,
        reword: bool = True,
    ) -> list[list[Reason]]:
        """The top reasons of each task now (contributions only for those not explained at their held
        score); the wait in the words is the wait at ``now`` (``reword`` False: as when explained, for a
        reader of the codes only)."""
        if not records:
            return []
        self.scores(scorer, records, now, step_hours)
        with self._lock:
            held = [self._held.get(r.task_id) for r in records]
        todo = [i for i, h in enumerate(held) if h is None or h.reasons is None]
        said_now = waits(records, now) if reword else [(h.wait if h else None) or "" for h in held]
        if todo:
            batch = [records[i] for i in todo]
            risk = scorer.complaint_risk(batch, now=now)
            words = waits(batch, now)
            why = top_reasons(risk.contributions, risk.feature_names, waits=words) or [[] for _ in batch]
            with self._lock:
                for i, w, r in zip(todo, words, why, strict=True):
                    h = held[i]
                    new = Held(records[i], (), float("nan")) if h is None else h
                    held[i] = replace(new, reasons=tuple(r), wait=w)
                    if h is not None and self._held.get(h.record.task_id) is h:
                        self._held[h.record.task_id] = held[i]  # type: ignore[assignment]
        return [_reworded(h, w) for h, w in zip(held, said_now, strict=True) if h is not None]


def _reworded(held: Held, wait: str) -> list[Reason]:
    """The held reasons with the wait said as it is now."""
    reasons = list(held.reasons or ())
    if not held.wait or not wait or held.wait == wait:
        return reasons
    return [replace(r, text=r.text.replace(held.wait, wait)) for r in reasons]
