"""Request models of contract rows carry the contract's columns, bounds and choices, and name the field."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from opsmatch.contract import TABLES
from serving.api import schemas as s
from training.gate_rules import MAX_MINUTES

ROW_MODELS: dict[str, type[BaseModel]] = {
    "completions": s.CompletionIn,
    "qa_results": s.QaResultIn,
    "complaints": s.ComplaintIn,
    "worker_status": s.WorkerStatusIn,
}
VALID = {"str": "X1", "int": 1, "float": 1.0, "bool": True, "timestamp": "2026-03-02T10:00:00Z"}


def _validate(model: type[BaseModel], row: dict) -> BaseModel:
    """As the service validates a request body: from JSON (strict models take ISO timestamps there)."""
    return model.model_validate_json(json.dumps(row))


def _valid_row(table: str) -> dict:
    return {c.name: c.choices[0] if c.choices else VALID[c.dtype] for c in TABLES[table].columns}


def _error_locs(model: type[BaseModel], row: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as info:
        _validate(model, row)
    return [e["loc"] for e in info.value.errors()]


@pytest.mark.parametrize("table", sorted(ROW_MODELS))
def test_fields_are_the_contract_columns(table: str) -> None:
    model = ROW_MODELS[table]
    assert list(model.model_fields) == TABLES[table].column_names
    _validate(model, _valid_row(table))
    assert _error_locs(model, {**_valid_row(table), "extra": 1}) == [("extra",)]


@pytest.mark.parametrize("table", sorted(ROW_MODELS))
def test_bounds_choices_and_nullability_come_from_the_contract(table: str) -> None:
    model = ROW_MODELS[table]
    checked = 0
    for col in TABLES[table].columns:
        row = _valid_row(table)
        if col.max is not None:
            assert _validate(model, {**row, col.name: col.max}) is not None
            assert _error_locs(model, {**row, col.name: col.max + 1}) == [(col.name,)]
            checked += 1
        if col.min is not None:
            assert _error_locs(model, {**row, col.name: col.min - 1}) == [(col.name,)]
            checked += 1
        if col.choices is not None:
            assert _error_locs(model, {**row, col.name: "not-a-choice"}) == [(col.name,)]
            checked += 1
        if col.nullable:
            assert (
                getattr(_validate(model, {k: v for k, v in row.items() if k != col.name}), col.name) is None
            )
        elif col.dtype in ("str", "timestamp"):
            assert _error_locs(model, {k: v for k, v in row.items() if k != col.name}) == [(col.name,)]
    assert checked  # every one of these tables has a bounded or enumerated column


def test_naive_timestamps_empty_ids_and_order_are_refused() -> None:
    row = _valid_row("completions")
    assert _error_locs(s.CompletionIn, {**row, "completed_at": "2026-03-02T10:00:00"}) == [("completed_at",)]
    assert _error_locs(s.CompletionIn, {**row, "task_id": ""}) == [("task_id",)]
    with pytest.raises(ValidationError, match="completed_at must not be before started_at"):
        _validate(s.CompletionIn, {**row, "started_at": "2026-03-02T11:00:00Z"})


def test_inline_task_bounds_and_the_gate_ceiling_are_the_contract() -> None:
    assert TABLES["completions"].column("handling_minutes").max == MAX_MINUTES
    task = {
        "task_id": "T1",
        "task_type": "renewal",
        "province_id": "P01",
        "created_at": "2026-03-02T10:00:00Z",
        "sla_due_at": "2026-03-02T12:00:00Z",
    }
    top = TABLES["tasks"].column("complexity").max
    assert _validate(s.InlineTask, {**task, "complexity": top}).complexity == top
    assert _error_locs(s.InlineTask, {**task, "complexity": top + 1}) == [("complexity",)]
    cap = TABLES["customers"].column("prior_complaints").max
    assert _error_locs(s.InlineTask, {**task, "customer": {"prior_complaints": cap + 1}}) == [
        ("customer", "prior_complaints")
    ]
