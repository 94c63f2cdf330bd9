"""The open tasks' current risk held between calls (``serving/risk/cache.py``): scored again only when the
wait crosses a step (of age, or the SLA passing), the record or the champion changes; reasons computed
once per held score, their wait said as it is now; bounded by the open tasks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace

import numpy as np

from serving.protocols import RiskScores, TaskRecord
from serving.risk import desk
from serving.risk.cache import RiskCache, wait_steps
from tests.factories.fakes import NOW, FakeScorer, make_task


class Counting(FakeScorer):
    """The fake scorer, counting the rows it predicts and explains."""

    def __init__(self, version: str = "1") -> None:
        super().__init__(version)
        self.predicted = 0
        self.explained = 0

    def complaint_risk(
        self, tasks: Sequence[TaskRecord], *, now: datetime | None = None, contributions: bool = True
    ) -> RiskScores:
        self.predicted += len(tasks)
        self.explained += len(tasks) if contributions else 0
        got = super().complaint_risk(tasks, now=now, contributions=contributions)
        return got if contributions else replace(got, contributions=None)


def _tasks(n: int) -> list[TaskRecord]:
    cust = {"customer": {"prior_complaints": 2}}
    return [make_task(f"T{i}", hours_to_sla=8.0 + i, features=cust) for i in range(n)]  # created 1 h ago


def test_the_sla_passing_and_each_hour_of_age_are_steps() -> None:
    (task,) = _tasks(1)  # created at NOW - 1 h, due at NOW + 8 h
    steps = [wait_steps([task], NOW + timedelta(hours=h), 1.0)[0] for h in (0, 0.5, 7.99, 8.0, 8.5)]
    assert steps == [(1, -8), (1, -8), (8, -1), (9, 0), (9, 0)]


def test_a_task_is_scored_again_only_when_its_wait_record_or_champion_changes() -> None:
    scorer, cache, tasks = Counting(), RiskCache(), _tasks(3)
    first = cache.scores(scorer, tasks, NOW, 1.0, complete=True)
    assert cache.rescored == 3 and scorer.explained == 0  # a prediction, no contributions
    np.testing.assert_allclose(first, FakeScorer().complaint_risk(tasks).prob)
    cache.scores(scorer, tasks, NOW + timedelta(minutes=30), 1.0)
    assert cache.rescored == 0  # same step of age and of SLA
    cache.scores(scorer, tasks, NOW + timedelta(hours=8), 1.0)
    assert cache.rescored == 3  # an hour of age later
    changed = [replace(tasks[0]), *tasks[1:]]  # the book enriched the first task again
    cache.scores(scorer, changed, NOW + timedelta(hours=8), 1.0)
    assert cache.rescored == 1
    scorer.version = "2"
    cache.scores(scorer, changed, NOW + timedelta(hours=8), 1.0)
    assert cache.rescored == 3


def test_reasons_are_explained_once_and_say_the_wait_of_now() -> None:
    scorer, cache, tasks = Counting(), RiskCache(), _tasks(2)
    cache.scores(scorer, tasks, NOW, 1.0, complete=True)
    first = cache.reasons(scorer, tasks[:1], NOW, 1.0)
    assert scorer.explained == 1 and first[0] and first[0][0].code == "customer_history"
    again = cache.reasons(scorer, tasks[:1], NOW + timedelta(minutes=20), 1.0)
    assert scorer.explained == 1 and again == first


def test_the_held_words_of_the_wait_follow_the_clock() -> None:
    from serving.risk.cache import Held, _reworded
    from serving.risk.reasons import Reason

    text = "Waiting and SLA: waiting 9 h, SLA in 1 h"
    said = Held(_tasks(1)[0], (), 0.3, (Reason("waiting_sla", text, 1.0),), "waiting 9 h, SLA in 1 h")
    assert _reworded(said, "waiting 10 h, SLA in 0 h")[0].text == "Waiting and SLA: waiting 10 h, SLA in 0 h"


def test_a_full_pass_drops_what_is_no_longer_open() -> None:
    scorer, cache, tasks = Counting(), RiskCache(), _tasks(4)
    cache.scores(scorer, tasks, NOW, 1.0, complete=True)
    cache.scores(scorer, tasks[:2], NOW, 1.0)  # a partial reader (a province's list) keeps the rest
    assert len(cache) == 4
    cache.scores(scorer, tasks[:2], NOW, 1.0, complete=True)
    assert len(cache) == 2


def _warming(served: bool, ready_wait: float, monkeypatch) -> tuple[SimpleNamespace, threading.Event]:  # noqa: ANN001
    """A service's warm-up thread on a fake engine whose champions' first load is tried (``served``:
    complaint_pre among them); the warm-up itself runs until the returned event is set."""
    release = threading.Event()
    monkeypatch.setattr(desk, "_warm", lambda engine: release.wait(30))
    tried = threading.Event()
    tried.set()
    scorer = SimpleNamespace(attempted=tried, versions=lambda: {"complaint_pre": "1"} if served else {})
    engine = SimpleNamespace(risk_cache=RiskCache(), runtime=SimpleNamespace(scorer=scorer))
    stop = threading.Event()
    engine.risk_cache.hold_until = float("inf")  # as warm sets it first, so the wait below cannot pass early
    thread = threading.Thread(target=desk.warm, args=(engine, stop, 0.01, ready_wait), daemon=True)
    thread.start()
    for _ in range(3000):  # until the warm-up decided whether it holds readiness
        if engine.risk_cache.hold_until != float("inf"):
            break
        stop.wait(0.01)
    engine.stop, engine.thread = stop, thread
    return engine, release


def test_readyz_waits_for_the_warm_up_when_the_champion_is_served_at_start(monkeypatch) -> None:  # noqa: ANN001
    engine, release = _warming(True, 3600.0, monkeypatch)
    assert not desk.warmed(engine)
    release.set()
    engine.thread.join(30)
    assert desk.warmed(engine) and engine.risk_cache.settled.is_set()


def test_readyz_does_not_wait_when_no_champion_is_served_yet(monkeypatch) -> None:  # noqa: ANN001
    engine, release = _warming(False, 3600.0, monkeypatch)
    assert desk.warmed(engine) and not engine.risk_cache.settled.is_set()  # still waiting for a champion
    engine.stop.set()
    engine.thread.join(30)


def test_readyz_stops_waiting_after_its_timeout_and_says_why(monkeypatch, caplog) -> None:  # noqa: ANN001
    engine, release = _warming(True, 0.0, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="opsmatch.serving"):
        assert desk.warmed(engine) and not engine.risk_cache.settled.is_set()
    assert "ready before the risk warm-up finished" in caplog.text
    release.set()
    engine.thread.join(30)
