"""Client-facing errors: one body shape for every refusal of the service.

``{"error": "<sentence>", "kind": "<machine-readable reason>", "loc": ["field", ...],
"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` -- ``loc`` is where the (first) fault is
(``[]`` when it is the request as a whole), ``detail`` lists every fault found. Bodies written by
BentoML or Starlette themselves (their validation, 404, 405) are rewritten into this shape by
:func:`normalize` in the middleware, so clients parse one format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ErrorItem(BaseModel):
    """One fault: where, what, and its type."""

    model_config = ConfigDict(title="ErrorItem")
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer of the service."""

    model_config = ConfigDict(title="Error")
    error: str = Field(description="What went wrong, in one sentence.")
    kind: str = Field(description="Machine-readable reason, e.g. validation_error, auth_missing, forbidden.")
    loc: list[str | int] = Field(description="Where the (first) fault is: field path, header or query name.")
    detail: list[ErrorItem] = Field(description="Every fault found.")


class ApiError(Exception):
    """A request the service refuses; ``status`` is a 4xx (or 503 when not ready)."""

    def __init__(
        self,
        status: int,
        message: str,
        loc: Sequence[str | int] | str | None = None,
        kind: str = "value_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.loc = [loc] if isinstance(loc, str) else list(loc or [])
        self.kind = kind
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.kind, self.loc)


def error_body(
    message: str, kind: str, loc: Sequence[str | int] = (), detail: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The one error shape (``detail`` defaults to the single fault)."""
    items = detail if detail is not None else [{"loc": list(loc), "msg": message, "type": kind}]
    return {"error": message, "kind": kind, "loc": list(loc), "detail": items}


def _items(errors: Sequence[Any], drop: Sequence[str] = ()) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        loc = [p for p in (e.get("loc") or []) if p not in drop] if isinstance(e, dict) else []
        msg = str(e.get("msg", e)) if isinstance(e, dict) else str(e)
        kind = str(e.get("type", "value_error")) if isinstance(e, dict) else "value_error"
        out.append({"loc": [p if isinstance(p, int) else str(p) for p in loc], "msg": msg, "type": kind})
    return out


RULE_TYPES = frozenset(
    {"value_error", "assertion_error"}
)  # raised by our validators: rules beyond the schema


def validation_status(errors: Sequence[Any]) -> int:
    """400 when the request breaks its schema, 422 when only our cross-field rules refuse it."""
    rules = [e for e in errors if isinstance(e, dict) and e.get("type") in RULE_TYPES]
    return 422 if errors and len(rules) == len(errors) else 400


def validation_from(errors: Sequence[Any], drop: Sequence[str] = ()) -> dict[str, Any]:
    """Body for a list of pydantic-style errors (``drop``: loc parts to leave out, e.g. "body")."""
    detail = _items(errors, drop)
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"]) or "body"
    message = f"{len(detail)} validation error(s); first: {where}: {first['msg']}"
    kind = "rule_violation" if validation_status(errors) == 422 else "validation_error"
    return error_body(message, kind, first["loc"], detail)


def validation_body(exc: ValidationError, drop_prefix: int = 0) -> dict[str, Any]:
    """Body for a pydantic ValidationError (``drop_prefix`` strips leading loc parts, e.g. "body")."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    return validation_from([{**e, "loc": list(e["loc"])[drop_prefix:]} for e in errors])


KINDS = {
    400: "bad_request",
    401: "auth_missing",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "not_ready",
}


def normalize(status: int, raw: bytes) -> tuple[int, dict[str, Any]] | None:
    """A foreign error answer rewritten into the one shape (and 422 for a validation that only our
    cross-field rules refused, as the service's own routes answer); None when it has the shape."""
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace").strip() or None
    if isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict):
        body = body[0]  # BentoML wraps some of its errors in a one-element list
    if isinstance(body, dict) and {"error", "kind", "loc", "detail"} <= set(body):
        return None
    kind = KINDS.get(status, "error")
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        out = validation_from(body["detail"], drop=("body",))
        if status == 400:
            return validation_status(body["detail"]), out
        out["kind"] = kind
        return status, out
    if isinstance(body, dict):
        message = str(body.get("error") or body.get("detail") or body.get("message") or kind)
    else:
        message = str(body or kind)
    if status >= 500 and status != 503:
        message = "an unexpected error occurred; see the server log"
    return status, error_body(message, kind)


@contextmanager
def rules_beyond_schema() -> Iterator[None]:
    """Rows that passed the request schema but that the ingestion refuses (unknown ids, time order,
    contract rules) answer 422, the status for rules a schema cannot state."""
    try:
        yield
    except ApiError as exc:
        if exc.status != 400:
            raise
        raise ApiError(
            422, exc.message, exc.loc, "rule_violation" if exc.kind == "value_error" else exc.kind
        ) from None
