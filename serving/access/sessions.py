"""Console sign-in sessions: a server-side row per session in the state store (``console_sessions``).

Signing in with a key makes a random session token, sent to the browser as an HttpOnly,
SameSite=Strict cookie; the store keeps only the token's SHA-256, the key's name and role, and the
expiry. A session counts only while its key is not revoked (the lookup joins ``api_keys``), so
``opsmatch keys revoke`` ends every session of the key after at most the cache TTL. Signing out ends
the row. Requests authenticated by the cookie that change state must carry :data:`CSRF_HEADER` (a
cross-site form cannot set a header; SameSite=Strict already keeps the cookie off cross-site requests).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import sqlalchemy as sa

from serving.access.keys import ENV_TOKEN_NAME, Principal
from serving.state.store import StateStore, api_keys, console_sessions

COOKIE = "om_console"
CSRF_HEADER = "x-opsmatch-console"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_id(token: str) -> str:
    """The stored id of a session token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_token(cookie_header: str | None) -> str | None:
    """The session token of a ``Cookie`` header, or None."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is no session
        return None
    morsel = jar.get(COOKIE)
    value = morsel.value if morsel is not None else ""
    return value if 20 <= len(value) <= 200 else None


def set_cookie_header(token: str, max_age: int, secure: bool) -> str:
    """The ``Set-Cookie`` value of a new session (path / so the console's API calls carry it)."""
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{flags}"


def clear_cookie_header() -> str:
    return f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"


class SessionStore:
    """Create, look up and end sessions; lookups are cached for ``ttl`` seconds per token."""

    def __init__(
        self,
        store: StateStore,
        *,
        env_admin: bool = False,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = store.engine
        self.env_admin, self.ttl, self.clock = env_admin, ttl, clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def create(self, principal: Principal, hours: float, at: datetime | None = None) -> str:
        """A new session for ``principal`` lasting ``hours``; returns its token (kept by the browser only)."""
        token = secrets.token_urlsafe(32)
        now = at or datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                console_sessions.insert().values(
                    id=token_id(token),
                    key_name=principal.name,
                    role=principal.role,
                    created_at=now,
                    expires_at=now + timedelta(hours=hours),
                )
            )
        return token

    def principal(self, token: str, at: datetime | None = None) -> Principal | None:
        """Who the session stands for, or None (unknown, ended, expired, or its key revoked)."""
        now_mono = self.clock()
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None and now_mono - hit[0] < self.ttl:
            return hit[1]
        found = self._lookup(token, at or datetime.now(UTC))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (now_mono, found)
        return found

    def _lookup(self, token: str, now: datetime) -> Principal | None:
        s, k = console_sessions, api_keys
        query = (
            sa.select(s.c.key_name, s.c.role, s.c.expires_at, k.c.name, k.c.revoked_at)
            .select_from(s.outerjoin(k, k.c.name == s.c.key_name))
            .where(s.c.id == token_id(token), s.c.ended_at.is_(None))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or _utc(row.expires_at) <= now:
            return None
        if row.name is None:  # no key row: only the environment's admin token signs in without one
            ok = self.env_admin and row.key_name == ENV_TOKEN_NAME
            return Principal(row.key_name, row.role) if ok else None
        return Principal(row.key_name, row.role) if row.revoked_at is None else None

    def end(self, token: str, at: datetime | None = None) -> bool:
        """End a session (sign out); whether it was open."""
        with self.engine.begin() as conn:
            done = conn.execute(
                console_sessions.update()
                .where(console_sessions.c.id == token_id(token), console_sessions.c.ended_at.is_(None))
                .values(ended_at=at or datetime.now(UTC))
            ).rowcount
        with self._lock:
            self._cache.pop(token, None)
        return bool(done)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
