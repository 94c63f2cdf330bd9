"""What the live twin's customers say while their tasks are open: ``contacts`` rows for ``POST /contacts``.

The replays' voice (``simulator.voice``) one task at a time, as the live twin runs: a task's hidden
dissatisfaction is correlated ``voice.text_signal`` with the latent of its own complaint draw (the live
truth's uniform, ``simulator.live_truth.task_uniforms``), so what a customer says warns of the complaint
the twin will file. At intake the request's call or chat (``intake_share`` of tasks); then follow-ups
while the task is open, a Poisson process at ``followups_per_day`` x exp(``followup_dissatisfaction`` x
d), more complaint phrases past the SLA. Same phrase banks, negations, politeness and typos as the
replays. Pure: the edge (``apps.live``) posts what ``intake`` and ``due`` return.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.special import expit, ndtri

from simulator.live_truth import TaskFacts, task_uniforms
from simulator.scenario import VoiceConfig
from simulator.voice import CHANNEL_OF_TASK, COMPLAINT, NEGATED, NEUTRAL, OPENING, OUTBOUND_OPENING, POLITE

LIVE_VOICE_STREAM = 64
MAX_FOLLOWUPS = 6


def utterance(rng: np.random.Generator, v: VoiceConfig, d: float, late_hours: float, opening: str) -> str:
    """One contact's text: a neutral question, maybe a negated phrase, maybe a complaint phrase (typo'd)."""
    parts = [NEUTRAL[int(rng.integers(len(NEUTRAL)))]]
    if rng.random() < v.negation_share:
        parts.append(NEGATED[int(rng.integers(len(NEGATED)))])
    logit = v.signal_base + v.signal_slope * d + v.signal_late_per_hour * min(max(late_hours, 0.0), 72.0)
    if rng.random() < float(expit(logit)):
        parts.append(COMPLAINT[int(rng.integers(len(COMPLAINT)))][int(rng.random() < v.typo_share)])
    if rng.random() < v.pii_share:
        parts[-1] += f"，回拨电话1{3 + int(rng.integers(7))}{int(rng.integers(10**9)):09d}"
    return opening + "，".join(parts) + "。" + POLITE[int(rng.integers(len(POLITE)))]


class LiveVoice:
    """The live customers' contacts: ``intake`` when a task arrives, ``due`` as the clock moves."""

    def __init__(self, voice: VoiceConfig, seed: int) -> None:
        self.v, self.seed = voice, seed
        self._heap: list[tuple[datetime, int, str]] = []
        self._facts: dict[str, tuple[TaskFacts, float, int]] = {}  # task -> facts, d, contacts made
        self._n = 0

    def _rng(self, task_id: str, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, LIVE_VOICE_STREAM, salt, zlib.crc32(task_id.encode())])

    def _row(self, f: TaskFacts, at: datetime, channel: str, direction: str, text: str) -> dict[str, Any]:
        self._n += 1
        return {
            "contact_id": f"CL-{f.task_id}-{self._n}",
            "customer_id": f.customer_id,
            "task_id": f.task_id,
            "at": at,
            "channel": channel,
            "direction": direction,
            "text": text,
        }

    def _next(self, task_id: str, after: datetime, d: float, k: int) -> None:
        rate = self.v.followups_per_day * float(np.exp(self.v.followup_dissatisfaction * d - 0.25))
        if k >= MAX_FOLLOWUPS or rate <= 0:
            return
        gap_days = float(self._rng(task_id, 100 + k).exponential(1.0 / rate))
        heapq.heappush(self._heap, (after + timedelta(days=gap_days), k, task_id))

    def intake(self, f: TaskFacts) -> list[dict[str, Any]]:
        """The request's own call or chat (dated just before the task), and the first follow-up scheduled."""
        rng = self._rng(f.task_id, 0)
        latent = -float(ndtri(np.clip(task_uniforms(self.seed, f.task_id)[2], 1e-12, 1 - 1e-12)))
        rho = self.v.text_signal
        d = rho * latent + float(np.sqrt(1 - rho**2)) * float(rng.standard_normal())
        self._facts[f.task_id] = (f, d, 0)
        self._next(f.task_id, f.created_at, d, 0)
        if rng.random() >= self.v.intake_share:
            return []
        channel = CHANNEL_OF_TASK.get(f.channel, "phone")
        at = f.created_at - timedelta(minutes=1 + 29 * float(rng.random()))
        return [self._row(f, at, channel, "inbound", utterance(rng, self.v, d, 0.0, OPENING[channel]))]

    def due(self, now: datetime, is_open: Callable[[str], bool]) -> list[dict[str, Any]]:
        """Follow-ups whose time has come, of tasks still open (a closed task's customer falls silent)."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            at, k, task_id = heapq.heappop(self._heap)
            if not is_open(task_id):
                self._facts.pop(task_id, None)
                continue
            f, d, _ = self._facts[task_id]
            rng = self._rng(task_id, 1 + k)
            late = (at - f.sla_due_at).total_seconds() / 3600.0
            hotline = late > 0 and d > 1.0 and rng.random() < 0.25
            outbound = not hotline and rng.random() < 0.2
            own = "phone" if rng.random() < 0.5 else CHANNEL_OF_TASK.get(f.channel, "phone")
            channel = "regulator_hotline" if hotline else own
            opening = OUTBOUND_OPENING if outbound else OPENING[channel]
            text = utterance(rng, self.v, d, late, opening)
            out.append(self._row(f, at, channel, "outbound" if outbound else "inbound", text))
            self._facts[task_id] = (f, d, k + 1)
            self._next(task_id, at, d, k + 1)
        return out
