"""Bearer-token check of the mutating endpoints; there is no default secret.

No token configured: mutating endpoints refuse (503) and say how to enable them. Missing, malformed
or wrong token: 401 with ``WWW-Authenticate: Bearer``. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from serving.errors import ApiError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="opsmatch"'}


def require_token(configured: SecretStr | None, authorization: str | None) -> None:
    """Raise ApiError unless ``authorization`` is ``Bearer <the configured token>``."""
    secret = configured.get_secret_value() if configured is not None else ""
    if not secret:
        raise ApiError(
            503,
            "mutating endpoints are disabled: no API token is configured (set OPSMATCH_API_TOKEN)",
            loc=["header", "authorization"],
            kind="auth_not_configured",
        )
    if not authorization:
        raise ApiError(
            401,
            "missing bearer token (Authorization: Bearer <token>)",
            loc=["header", "authorization"],
            kind="auth_missing",
            headers=CHALLENGE,
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "malformed Authorization header: expected 'Bearer <token>'",
            loc=["header", "authorization"],
            kind="auth_malformed",
            headers=CHALLENGE,
        )
    if not hmac.compare_digest(token.strip().encode(), secret.encode()):
        raise ApiError(
            401, "invalid token", loc=["header", "authorization"], kind="auth_invalid", headers=CHALLENGE
        )


def is_mutating(method: str, path: str) -> bool:
    """Whether a request changes state (and so needs the token)."""
    path = path.rstrip("/") or "/"
    if method == "POST":
        return path in ("/outcomes", "/workers/status") or (
            path.startswith("/alerts/") and path.endswith("/ack")
        )
    return method == "PUT" and path == "/policy"


class TokenMiddleware:
    """ASGI middleware: the token check of mutating requests runs before the body is parsed, so an
    unauthenticated client gets 401, never a validation answer (the endpoints check again)."""

    def __init__(self, app: Any, token: Callable[[], SecretStr | None] | None = None) -> None:
        self.app = app
        self._token = token
        self._held: tuple[str | None, SecretStr | None] | None = None

    def token(self) -> SecretStr | None:
        """The configured token (the settings' value, re-read when its environment variable changes)."""
        if self._token is not None:
            return self._token()
        key = os.environ.get("OPSMATCH_API_TOKEN")
        if self._held is None or self._held[0] != key:
            from opsmatch.settings import Settings

            self._held = (key, Settings().api_token)
        return self._held[1]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") == "http" and is_mutating(scope.get("method", ""), scope.get("path", "")):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            try:
                require_token(self.token(), headers.get("authorization"))
            except ApiError as exc:
                body = json.dumps(exc.body()).encode()
                extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
                await send(
                    {
                        "type": "http.response.start",
                        "status": exc.status,
                        "headers": [(b"content-type", b"application/json"), *extra],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
