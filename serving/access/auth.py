"""Who is calling and may they: bearer key -> :class:`~serving.access.keys.Principal`, role check, rate limit.

No key, a malformed header, an unknown or revoked key: 401 with ``WWW-Authenticate: Bearer``. A
role outside the route's line in :mod:`serving.access.routes`: 403. Over the role's token bucket: 429 with
``Retry-After``. The HTTP plumbing (before the body is read) is :mod:`serving.http.middleware`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsmatch.settings import Settings
from serving.access import routes as access
from serving.access.keys import KeyRing, KeyStore, Principal
from serving.access.limits import buckets_for, retry_after_header
from serving.access.sessions import SessionStore
from serving.errors import ApiError
from serving.state.store import StateStore

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="opsmatch"'}
HEADER = ["header", "authorization"]
PRINCIPAL = "opsmatch.principal"  # the ASGI scope key the middleware sets for the endpoints


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 when missing or malformed."""
    if not authorization:
        raise ApiError(
            401, "missing API key (Authorization: Bearer <key>)", HEADER, "auth_missing", CHALLENGE
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "malformed Authorization header: expected 'Bearer <key>'",
            HEADER,
            "auth_malformed",
            CHALLENGE,
        )
    return token.strip()


class Gate:
    """The access decisions of one service process: its key ring, rate buckets and settings."""

    def __init__(self, settings: Settings, keyring: KeyRing, sessions: SessionStore | None = None) -> None:
        self.settings = settings
        self.keyring = keyring
        self.sessions = sessions
        self.buckets = buckets_for(settings.rate_limit_url)

    @classmethod
    def for_store(cls, settings: Settings, store: StateStore) -> Gate:
        token = settings.api_token.get_secret_value() if settings.api_token is not None else None
        ttl = settings.key_cache_seconds
        sessions = SessionStore(store, env_admin=token is not None, ttl=ttl)
        return cls(settings, KeyRing(KeyStore(store), token, ttl=ttl), sessions)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of a request; 401 unless the key is valid and not revoked."""
        principal, why = self.keyring.verify(bearer(authorization))
        if principal is None:
            message = "this API key has been revoked" if why == "revoked" else "invalid API key"
            raise ApiError(401, message, HEADER, f"auth_{why}", CHALLENGE)
        return principal

    def authenticate_session(self, token: str) -> Principal:
        """The caller of a console request signed in with the session cookie; 401 when the session
        is unknown, ended, expired or its key was revoked."""
        principal = self.sessions.principal(token) if self.sessions is not None else None
        if principal is None:
            raise ApiError(
                401,
                "console session ended or expired: sign in again",
                ["cookie", "om_console"],
                "auth_session",
            )
        return principal

    def authorize(self, principal: Principal, method: str, path: str) -> None:
        """429 when the caller is over its rate, 403 when its role may not call ``method path``."""
        limit = self.settings.rate_limit(principal.role)
        wait = self.buckets.take(principal.name, limit.per_second, limit.burst)
        if wait > 0:
            raise ApiError(
                429,
                f"rate limit of role {principal.role} exceeded ({limit.per_second:g}/s, burst {limit.burst})",
                [],
                "rate_limited",
                {"Retry-After": retry_after_header(wait)},
            )
        route = access.match(method, path)
        if not access.allowed(route, principal.role):
            who = ", ".join(sorted(route.roles)) if route is not None else access.ADMIN
            raise ApiError(
                403,
                f"role {principal.role} (key {principal.name}) may not call {method} {path}; allowed: {who}",
                HEADER,
                "forbidden",
            )


class _Installed:
    gate: Gate | None = None


def install_gate(gate: Gate) -> None:
    """The gate of this worker process, set by the service once its stores are open."""
    _Installed.gate = gate


def installed_gate() -> Gate | None:
    """The gate of this worker process (the middleware and the console's sign-in check keys with it)."""
    return _Installed.gate


def caller(scope: Mapping[str, Any]) -> Principal:
    """The caller the middleware authenticated (401 if it did not run, e.g. a misconfigured app)."""
    principal = scope.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise ApiError(
            401, "missing API key (Authorization: Bearer <key>)", HEADER, "auth_missing", CHALLENGE
        )
    return principal
