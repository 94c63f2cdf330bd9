"""POST /contacts: receipts decided by the event store; malformed contacts answer 4xx naming the field."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from pydantic import ValidationError

from serving.config import load_service_config
from serving.errors import ApiError
from serving.risk.contacts import ContactsRequest, record_contacts
from serving.runtime.components import row_validator
from serving.runtime.engine import Engine
from serving.state.store import StateStore
from tests.factories.events import hand_events, write_events
from tests.factories.fakes import NOW


def _contact(i: int, **kw: object) -> dict:
    at = (NOW - timedelta(minutes=30 - i)).isoformat()
    return {"contact_id": f"CT{i}", "customer_id": "C1", "task_id": "T0", "at": at, "channel": "phone",
            "direction": "inbound", "text": "等了三天了，我要打12378投诉"} | kw  # fmt: skip


@pytest.fixture
def engine(settings, runtime):  # noqa: ANN001, ANN201
    write_events(settings, hand_events(
        tasks=[{"task_id": "T0", "province_id": "P01", "created_at": pd.Timestamp(NOW - timedelta(hours=2))}],
        workers=[{"worker_id": "W0001", "province_id": "P01"}],
    ))  # fmt: skip
    store = StateStore(settings.resolved_state_db_url)
    config = load_service_config({"policy_ttl_seconds": 0})
    yield Engine(settings, runtime, store, config, clock=lambda: NOW, validate_rows=row_validator(settings))
    store.close()


def _req(rows: list[dict]) -> ContactsRequest:
    return ContactsRequest.model_validate_json(json.dumps({"contacts": rows}, ensure_ascii=False))


def test_contacts_are_idempotent_by_id_with_receipts_from_the_store(engine: Engine) -> None:
    first = record_contacts(engine, _req([_contact(0), _contact(1)]), actor="cc")
    assert (first.received, first.new, first.duplicates) == (2, 2, 0)
    again = record_contacts(engine, _req([_contact(i) for i in range(3)]), actor="cc")
    assert (again.received, again.new, again.duplicates) == (3, 1, 2)


def test_malformed_contacts_are_refused_naming_the_field(engine: Engine) -> None:
    with pytest.raises(ValidationError) as bad:
        _req([_contact(0, channel="fax")])
    assert bad.value.errors()[0]["loc"][:3] == ("contacts", 0, "channel")
    with pytest.raises(ValidationError) as long:
        _req([_contact(0, text="投诉" * 2001)])
    assert long.value.errors()[0]["loc"][:3] == ("contacts", 0, "text")
    with pytest.raises(ApiError) as unknown:  # a rule the schema cannot state: 422 naming the field
        record_contacts(engine, _req([_contact(0, customer_id="NOBODY")]), actor="cc")
    assert unknown.value.status == 422 and "customer_id" in json.dumps(unknown.value.body())
    got = record_contacts(engine, _req([_contact(5)]), actor="cc")
    assert got.new == 1  # nothing of the refused request was written
