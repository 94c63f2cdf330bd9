"""The live twin's customers speak: contract rows at intake and while open, warning of its complaints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from opsmatch.contract import TABLES
from opsmatch.validation import validate_table
from simulator.live_truth import TaskFacts, task_uniforms
from simulator.live_voice import LiveVoice
from simulator.scenario import VoiceConfig

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
SEED = 7


def _facts(i: int) -> TaskFacts:
    return TaskFacts(
        task_id=f"TL{i:05d}",
        task_type="policy_change",
        province_id="P01",
        customer_id=f"C{i % 50:04d}",
        created_at=T0 + timedelta(minutes=i),
        sla_due_at=T0 + timedelta(minutes=i, hours=24),
        complexity=2,
        channel="online",
        amount=100.0,
    )


def test_live_contacts_follow_open_tasks_and_warn_of_their_complaints() -> None:
    voice = LiveVoice(VoiceConfig(), SEED)
    facts = [_facts(i) for i in range(1000)]
    rows = [r for f in facts for r in voice.intake(f)]
    created = {f.task_id: f.created_at for f in facts}
    assert rows and all(r["at"] < created[r["task_id"]] for r in rows)  # the call that brought it in
    closed = {f.task_id for f in facts[::2]}  # half the tasks are done after a day
    rows += voice.due(T0 + timedelta(days=1), lambda t: True)
    later = voice.due(T0 + timedelta(days=8), lambda t: t not in closed)
    assert later and not {r["task_id"] for r in later} & closed  # a closed task's customer is silent
    rows += later
    frame = pd.DataFrame(rows).assign(at=lambda d: pd.to_datetime(d["at"], utc=True))
    assert frame["contact_id"].is_unique
    known = {"customers": set(frame["customer_id"]), "tasks": set(frame["task_id"])}
    now = pd.Timestamp(T0 + timedelta(days=9))
    res = validate_table(TABLES["contacts"], frame, source="live", known_keys=known, now=now)
    assert res.rejections == [] and len(res.accepted) == len(frame)
    # The twin's complaint draw (u < p) sits low in u: those customers say complaint phrases more often.
    u = frame["task_id"].map(lambda t: task_uniforms(SEED, t)[2])
    threat = frame["text"].str.contains("投诉|投述|12378|1237８|不满|退保|退宝|媒体|媒休|三天|太慢|太漫")
    assert threat[u < 0.05].mean() > 2 * threat[u > 0.5].mean()
