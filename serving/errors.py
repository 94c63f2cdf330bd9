"""Client-facing errors: an HTTP status, the field at fault and the reason.

The body has the shape BentoML uses for its own validation errors, so clients parse one format:
``{"error": "...", "detail": [{"loc": ["field", ...], "msg": "...", "type": "..."}]}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError


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
        return {"error": self.message, "detail": [{"loc": self.loc, "msg": self.message, "type": self.kind}]}


def validation_body(exc: ValidationError, drop_prefix: int = 0) -> dict[str, Any]:
    """Body for a pydantic ValidationError (``drop_prefix`` strips leading loc parts, e.g. "body")."""
    detail = [
        {"loc": list(e["loc"])[drop_prefix:], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return {"error": f"{len(detail)} validation error(s); first: {where}: {first['msg']}", "detail": detail}
