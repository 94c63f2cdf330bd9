"""The prediction log's writer: batches, a bounded queue whose overflow is counted, failures counted,
rows in the contract's ``predictions`` table."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from opsmatch import events
from serving.predictions.log import TABLE, Decision, PredictionLog, decision_rows, inputs_hash
from tests.factories.fakes import NOW


def _decision(i: int, k: int = 3) -> Decision:
    return Decision(
        endpoint="rank",
        at=NOW,
        task_ids=[f"T{i}"] * k,
        worker_ids=[f"W{j}" for j in range(k)],
        model_versions={"qa_pass": "2", "handling_time": "5"},
        values={"predicted_minutes": np.arange(k, dtype=float), "p_qa_pass": np.full(k, 0.9)},
        features=[{"cust_age_band": "30-44", "task_complexity": np.int64(3), "x": float("nan")}],
        ranks=list(range(1, k + 1)),
    )


def test_rows_carry_versions_hash_values_and_the_features_once() -> None:
    rows = decision_rows(_decision(1))
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[2]["predicted_minutes"] == 2.0
    assert rows[0]["model_versions"] == '{"handling_time": "5", "qa_pass": "2"}'
    assert rows[0]["features"] == '{"cust_age_band": "30-44", "task_complexity": 3, "x": null}'
    assert rows[1]["features"] is None and rows[0]["p_complaint"] is None
    assert len({r["inputs_hash"] for r in rows}) == 3  # one per worker
    assert inputs_hash("T1", "W0", NOW, {"a": 1}) != inputs_hash("T1", "W0", NOW, {"a": 2})


def test_writer_batches_into_the_event_store(tmp_path) -> None:
    calls: list[int] = []

    def write(frame: pd.DataFrame) -> None:
        calls.append(len(frame))
        events.append(tmp_path, TABLE, frame)

    log = PredictionLog(write, batch_decisions=50, flush_seconds=0.05).start()
    assert log.submit(_decision(999, k=0))  # a /rank that found nobody: no rows, not a failure
    for i in range(120):
        assert log.submit(_decision(i))
    assert log.flush()
    log.stop()
    stored = events.read_table(tmp_path, TABLE)
    assert len(stored) == 360 == log.stats()["written_rows"] and stored["prediction_id"].is_unique
    assert len(calls) < 120  # batched, not one write per decision
    assert log.stats()["failed_rows"] == 0


def test_a_full_queue_refuses_and_counts_and_a_failing_store_is_counted() -> None:
    gate = threading.Event()

    def stuck(frame: pd.DataFrame) -> None:
        gate.wait(10)

    log = PredictionLog(stuck, max_queue=5, batch_decisions=1, flush_seconds=0.01).start()
    accepted = sum(log.submit(_decision(i)) for i in range(30))
    stats = log.stats()
    assert stats["overflow_decisions"] == 30 - accepted > 0 and stats["submitted"] == accepted
    gate.set()
    assert log.flush()
    log.stop()

    def broken(frame: pd.DataFrame) -> None:
        raise OSError("disk full")

    bad = PredictionLog(broken, retries=2, flush_seconds=0.01).start()
    bad.submit(_decision(0, k=4))
    assert bad.flush()
    bad.stop()
    assert bad.stats()["failed_rows"] == 4 and bad.stats()["written_rows"] == 0
