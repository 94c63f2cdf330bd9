"""The alert endpoints: ``GET /alerts`` (filters by state, kind, province and role; pages), ``POST
/alerts/{id}/ack``, ``POST /alerts/{id}/silence`` (a snooze with a reason and an end, audited) and
``POST /alerts/{id}/unsilence``. The incidents live in :mod:`serving.alerts.store`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from serving.access.routes import ROLES
from serving.alerts import rules
from serving.api import schemas as s
from serving.config import Stamp, Strict
from serving.errors import ApiError

if TYPE_CHECKING:
    from serving.runtime.context import Context

AlertState = Literal["open", "acked", "resolved", "silenced", "inhibited", "active"]
MAX_SILENCE_MINUTES = 30 * 24 * 60
_AWARE = TypeAdapter(AwareDatetime)


def _json_text(value: Any) -> Any:
    """FastAPI validates a parsed body (Python mode), where a strict timestamp refuses its ISO text:
    read the text as the JSON-body routes do (strict JSON mode; a number stays refused)."""
    if not isinstance(value, str):
        return value
    try:
        return _AWARE.validate_json(json.dumps(value), strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise PydanticCustomError(first["type"], first["msg"]) from None


class SilenceRequest(Strict):
    """Silence the incident's scope (kind, province[, type]) until ``until`` or for ``minutes``."""

    reason: Annotated[str, Field(min_length=1, max_length=500)] = Field(description="why it may wait")
    until: Annotated[Stamp, BeforeValidator(_json_text)] | None = Field(
        default=None, description="when the silence ends"
    )
    minutes: Annotated[float, Field(gt=0, le=MAX_SILENCE_MINUTES)] | None = Field(
        default=None, description="or: how long it lasts from now"
    )

    @model_validator(mode="after")
    def _one_end(self) -> SilenceRequest:
        if (self.until is None) == (self.minutes is None):
            raise ValueError("give exactly one of until or minutes")
        return self


def list_alerts(
    engine: Context,
    *,
    state: str | None,
    kind: str | None,
    province_id: str | None,
    role: str | None,
    acked: bool | None,
    limit: int,
    offset: int,
) -> s.AlertList:
    """One page of incidents, worst first. ``state``: open (and neither silenced nor inhibited), acked,
    resolved, silenced (open or acked under a silence), inhibited (open or acked, muted by an incident
    that explains it), active (open or acked, silenced, inhibited or not)."""
    if kind is not None and kind not in rules.KINDS:
        raise ApiError(
            400, f"unknown alert kind {kind!r}; one of {', '.join(rules.KINDS)}", ["query", "kind"]
        )
    if role is not None and role not in ROLES:
        raise ApiError(400, f"unknown role {role!r}; one of {', '.join(ROLES)}", ["query", "role"])
    engine.limit(limit, engine.config.max_alerts_limit, "limit", "alerts")
    states: list[str] | None = None
    silenced: bool | None = None
    inhibited: bool | None = None
    if state == "open":
        states, silenced, inhibited = ["open"], False, False
    elif state == "inhibited":
        states, inhibited = ["open", "acked"], True
    elif state in ("acked", "resolved"):
        states = [state]
    elif state == "silenced":
        states, silenced = ["open", "acked"], True
    elif state == "active":
        states = ["open", "acked"]
    elif acked is False:  # the old filter: not acknowledged yet, and not resolved either
        states = ["open"]
    total, rows = engine.store.alerts.list(
        engine.clock(),
        states=states,
        silenced=silenced,
        kind=kind,
        province_id=province_id,
        role=role,
        acked=acked,
        inhibited=inhibited,
        limit=limit,
        offset=offset,
    )
    after = offset + len(rows)
    return s.AlertList(
        count=len(rows),
        total=total,
        offset=offset,
        next_offset=after if after < total else None,
        alerts=[s.AlertOut(**r) for r in rows],
    )


def _not_found(alert_id: str) -> ApiError:
    return ApiError(404, f"no alert with id {alert_id!r}", ["path", "alert_id"], kind="not_found")


def silence(engine: Context, alert_id: str, req: SilenceRequest, *, actor: str) -> s.AlertOut:
    """Silence the incident's scope (this and later episodes) until the end asked for (audited)."""
    now = engine.clock()
    until = req.until if req.until is not None else now + timedelta(minutes=float(req.minutes or 0))
    if until <= now:
        raise ApiError(422, "the silence must end in the future", ["body", "until"], kind="value_error")
    if until > now + timedelta(minutes=MAX_SILENCE_MINUTES):
        raise ApiError(422, "a silence lasts at most 30 days", ["body", "until"], kind="value_error")
    got = engine.store.alerts.silence(alert_id, actor=actor, reason=req.reason, until=until, at=now)
    if got is None:
        raise _not_found(alert_id)
    return _one(engine, alert_id, now)


def unsilence(engine: Context, alert_id: str, *, actor: str) -> s.AlertOut:
    """End the active silences of the incident's scope now (audited)."""
    now = engine.clock()
    if engine.store.alerts.end_silences(alert_id, actor=actor, at=now) is None:
        raise _not_found(alert_id)
    return _one(engine, alert_id, now)


def _one(engine: Context, alert_id: str, at: datetime) -> s.AlertOut:
    row = engine.store.alerts.get(alert_id, at)
    if row is None:
        raise _not_found(alert_id)
    return s.AlertOut(**row)
