"""Receipts come from the store: ``new`` and ``duplicates`` of /outcomes and /workers/status are what the
event store's write transaction found, whoever wrote the rows before (here ``opsmatch ingest``)."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd

from opsmatch.ingest import ingest_path
from serving.api.schemas import OutcomesRequest, WorkerStatusRequest
from serving.config import load_service_config
from serving.runtime.components import row_validator
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from tests.factories.events import hand_events, write_events
from tests.factories.fakes import NOW


def _qa(i: int) -> dict:
    at = (NOW - timedelta(minutes=5)).isoformat()
    return {"qa_id": f"QI{i}", "task_id": "T0", "worker_id": "W0001", "checked_at": at, "passed": True,
            "score": 88, "satisfaction": 4}  # fmt: skip


def _status(i: int) -> dict:
    at = (NOW - timedelta(minutes=10 + i)).isoformat()
    return {"worker_id": "W0001", "at": at, "on_shift": True, "open_tasks": i}


def test_receipts_after_an_ingest_of_the_same_rows_count_them_as_duplicates(
    settings, runtime, tmp_path
) -> None:  # noqa: ANN001, E501
    write_events(settings, hand_events(
        tasks=[{"task_id": "T0", "province_id": "P01", "created_at": pd.Timestamp(NOW - timedelta(hours=2))}],
        workers=[{"worker_id": "W0001", "province_id": "P01"}],
    ))  # fmt: skip
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame([_qa(i) for i in range(3)]).to_csv(folder / "qa_results.csv", index=False)
    pd.DataFrame([_status(i) for i in range(2)]).to_csv(folder / "worker_status.csv", index=False)
    report = ingest_path(settings, folder)  # `opsmatch ingest`: another writer, before the service
    assert report.quarantined == 0
    store = StateStore(settings.resolved_state_db_url)
    config = load_service_config({"policy_ttl_seconds": 0})
    eng = Engine(settings, runtime, store, config, clock=lambda: NOW, validate_rows=row_validator(settings))
    got = eng.outcomes(
        OutcomesRequest.model_validate_json(json.dumps({"qa_results": [_qa(i) for i in range(4)]})),
        actor="qa",
    )
    qa = got.tables["qa_results"]
    assert (qa.received, qa.new, qa.duplicates) == (4, 1, 3)
    body = {"statuses": [_status(i) for i in range(3)]}
    status = eng.worker_status(WorkerStatusRequest.model_validate_json(json.dumps(body)), actor="dispatch")
    assert (status.received, status.new, status.duplicates) == (3, 1, 2)
    store.close()
