"""Policy patches are derived from the policy model: same fields and bounds, all optional, unknown refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from serving.api import schemas as s
from serving.api.patch_models import patch_model
from serving.config import Policy, default_policy, merge_policy

META = {"default", "title", "description"}


def _constraints(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A field's JSON schema without defaults/titles and without the patch's "or null"."""
    if "$ref" in schema:
        return _constraints(defs[schema["$ref"].split("/")[-1]], defs)
    if "anyOf" in schema:
        kept = [_constraints(x, defs) for x in schema["anyOf"] if x != {"type": "null"}]
        return kept[0] if len(kept) == 1 else kept
    out = {k: v for k, v in schema.items() if k not in META}
    if "properties" in out:
        out["properties"] = {k: _constraints(v, defs) for k, v in out["properties"].items()}
        out.pop("required", None)
    for key in ("additionalProperties", "items"):
        if isinstance(out.get(key), dict):
            out[key] = _constraints(out[key], defs)
    return out


def test_every_policy_field_has_the_same_bounds_in_the_update() -> None:
    policy, update = Policy.model_json_schema(), s.PolicyUpdate.model_json_schema()
    pdefs, udefs = policy.get("$defs", {}), update.get("$defs", {})
    fields = policy["properties"]
    assert set(fields) <= set(update["properties"])
    assert set(update["properties"]) - set(fields) == {"actor", "note", "expected_version"}
    for name, schema in fields.items():
        assert _constraints(update["properties"][name], udefs) == _constraints(schema, pdefs), name
    assert "required" not in update  # the actor is the API key, the body's actor only a note
    assert all(d.get("additionalProperties") is False for d in udefs.values())


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"alerts": {"backlog_min_tasks": 10**8}}, ("alerts", "backlog_min_tasks")),
        ({"alerts": {"backlog_per_worker": 1e7}}, ("alerts", "backlog_per_worker")),
        ({"weights": {"quality": -1}}, ("weights", "quality")),
        ({"provinces": {"P01": {"closd": True}}}, ("provinces", "P01", "closd")),
        ({"min_skill_level": {"renewal": 9}}, ("min_skill_level", "renewal")),
        ({"sla_cap": 0}, ("sla_cap",)),
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_a_bad_patch_names_the_field(patch: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as info:
        s.PolicyUpdate(actor="ops", **patch)
    assert [e["loc"] for e in info.value.errors()] == [loc]


def test_a_valid_patch_sets_only_what_it_names() -> None:
    update = s.PolicyUpdate(actor="ops", alerts={"backlog_min_tasks": 10**7}, risk_tiers={"medium": 0.2})
    assert update.changes() == {"alerts": {"backlog_min_tasks": 10**7}, "risk_tiers": {"medium": 0.2}}
    merged = merge_policy(default_policy(), update.changes())
    assert (
        merged.alerts.backlog_min_tasks == 10**7
        and merged.risk_tiers.high == default_policy().risk_tiers.high
    )


def test_patch_models_are_built_once_per_model() -> None:
    class Base(BaseModel):
        pass

    assert patch_model(Policy, Base) is patch_model(Policy, Base)
    assert patch_model(Policy, Base)().model_dump(exclude_unset=True) == {}
