"""Bearer-token check of the mutating endpoints; there is no default secret.

No token configured: mutating endpoints refuse (503) and say how to enable them. Missing, malformed
or wrong token: 401 with ``WWW-Authenticate: Bearer``. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac

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
