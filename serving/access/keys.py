"""Per-client API keys with roles, kept in the service state store (``api_keys``).

A key reads ``om_<key id>_<secret>``: the key id (public, 12 hex digits) finds the row, the secret
(256 random bits) is checked against a salted SHA-256 digest in constant time. Only the salt and the
digest are stored, so the store never holds a usable key. A slow password hash is not needed: the
secret is random and long, not a guessable password. Every replica reads the same table, so a key
made or revoked by ``opsmatch keys`` counts everywhere; :class:`KeyRing` caches rows for a few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from serving.access.routes import ADMIN, ROLES
from serving.state.store import StateStore, api_keys, audit_log

ENV_TOKEN_NAME = "env-token"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY = re.compile(r"^om_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")


@dataclass(frozen=True)
class Principal:
    """The caller a key stands for: the key's name (the audit's actor) and its role."""

    name: str
    role: str


class KeyCommandError(ValueError):
    """A key command that cannot be done (bad name or role, name taken, unknown key)."""


def digest(salt: str, secret: str) -> str:
    """Salted SHA-256 of a key's secret (hex)."""
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh (key id, secret, full key)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return key_id, secret, f"om_{key_id}_{secret}"


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class KeyStore:
    """Create, list, revoke and look up keys in the state store."""

    def __init__(self, store: StateStore) -> None:
        self.engine = store.engine

    def create(self, name: str, role: str, *, by: str, at: datetime | None = None) -> str:
        """Store a new key for ``name`` with ``role``; returns the key (shown once, never stored)."""
        if not NAME.match(name) or name == ENV_TOKEN_NAME:
            raise KeyCommandError(f"invalid key name {name!r}: 1-64 of letters, digits, '.', '_', '-'")
        if role not in ROLES:
            raise KeyCommandError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        key_id, secret, key = new_key()
        salt = secrets.token_hex(16)
        now = _utc(at or datetime.now(UTC))
        row = {"name": name, "key_id": key_id, "role": role, "salt": salt, "digest": digest(salt, secret)}
        try:
            with self.engine.begin() as conn:
                conn.execute(api_keys.insert().values(**row, created_at=now, created_by=by))
                conn.execute(_audit("key_create", by, name, {"role": role}, now))
        except IntegrityError as exc:
            raise KeyCommandError(f"a key named {name!r} exists (revoked names stay taken)") from exc
        return key

    def revoke(self, name: str, *, by: str, at: datetime | None = None) -> None:
        """Revoke the key ``name`` (kept, marked revoked, for the audit)."""
        now = _utc(at or datetime.now(UTC))
        with self.engine.begin() as conn:
            done = conn.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
            if not done:
                raise KeyCommandError(f"no active key named {name!r}")
            conn.execute(_audit("key_revoke", by, name, {}, now))

    def list(self) -> list[dict[str, Any]]:
        """Every key: name, role, created, created by, last used, revoked (no secrets)."""
        cols = [api_keys.c[c] for c in ("name", "role", "created_at", "created_by", "last_used_at")]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*cols, api_keys.c.revoked_at).order_by(api_keys.c.name)).mappings()
            return [{k: _utc(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]

    def by_id(self, key_id: str) -> dict[str, Any] | None:
        """The row of ``key_id`` (name, role, salt, digest, revoked_at), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
        return dict(row) if row is not None else None

    def touch(self, key_id: str, at: datetime) -> None:
        """Record that the key was used."""
        with self.engine.begin() as conn:
            conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_at=_utc(at)))


def _audit(action: str, actor: str, target: str, detail: dict[str, Any], at: datetime | None) -> Any:
    import json

    return audit_log.insert().values(
        at=at, actor=actor, action=action, target=target, detail=json.dumps(detail)
    )


class KeyRing:
    """Key -> :class:`Principal` with the rows cached for ``ttl`` seconds (a revocation counts after
    at most ``ttl``), ``OPSMATCH_API_TOKEN`` as the admin key ``env-token``, and ``last_used_at``
    written at most every ``touch_every`` seconds per key."""

    def __init__(
        self,
        keys: KeyStore,
        env_token: str | None,
        ttl: float = 2.0,
        touch_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys, self.ttl, self.touch_every, self.clock = keys, ttl, touch_every, clock
        self._env = env_token or None
        self._rows: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def _row(self, key_id: str) -> dict[str, Any] | None:
        now = self.clock()
        with self._lock:
            hit = self._rows.get(key_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        row = self.keys.by_id(key_id)
        with self._lock:
            if len(self._rows) > 10_000:  # unknown ids from a scanner: do not grow without bound
                self._rows.clear()
            self._rows[key_id] = (now, row)
        return row

    def verify(self, token: str) -> tuple[Principal | None, str]:
        """(principal, "") for a valid key, else (None, why): ``invalid`` or ``revoked``."""
        if self._env is not None and hmac.compare_digest(token.encode(), self._env.encode()):
            return Principal(ENV_TOKEN_NAME, ADMIN), ""
        found = KEY.match(token)
        if found is None:
            return None, "invalid"
        key_id, secret = found.groups()
        row = self._row(key_id)
        if row is None or not hmac.compare_digest(digest(row["salt"], secret), row["digest"]):
            return None, "invalid"
        if row["revoked_at"] is not None:
            return None, "revoked"
        now = self.clock()
        if now - self._touched.get(key_id, -1e18) >= self.touch_every:
            self._touched[key_id] = now
            self.keys.touch(key_id, datetime.now(UTC))
        return Principal(row["name"], row["role"]), ""


def demo_keys(keys: KeyStore, folder: Path, *, by: str) -> dict[str, Path]:
    """One key per role named ``demo-<role>``, each written once to ``folder/<role>.key`` (mode 0600);
    roles whose file exists are left alone. Returns role -> file for the keys in the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    active = {k["name"] for k in keys.list() if k["revoked_at"] is None}
    for role in ROLES:
        path = folder / f"{role}.key"
        if not path.exists():
            name = f"demo-{role}"
            if name in active:  # the file was deleted: replace the key it held
                keys.revoke(name, by=by)
            if name in {k["name"] for k in keys.list()}:
                name = f"demo-{role}-{secrets.token_hex(2)}"
            path.write_text(keys.create(name, role, by=by) + "\n")
            path.chmod(0o600)
        out[role] = path
    return out
