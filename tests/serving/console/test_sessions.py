"""Console sessions without a server: server-side rows in a real state store (only a hash of the token
stored), revocation of the key and sign-out end them, expiry, the cookie parser, and the middleware
taking the cookie instead of a bearer key (with the console header on state-changing methods)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from opsmatch.settings import Settings
from serving.access.auth import Gate
from serving.access.keys import ENV_TOKEN_NAME, KeyRing, KeyStore, Principal
from serving.access.sessions import COOKIE, SessionStore, cookie_token, set_cookie_header, token_id
from serving.http.middleware import install
from serving.state.store import StateStore, console_sessions
from tests.serving.test_access import _call


@pytest.fixture
def store(tmp_path) -> StateStore:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def test_session_rows_hash_revocation_signout_expiry(store: StateStore) -> None:
    keys = KeyStore(store)
    keys.create("ops-1", "ops_head", by="t")
    sessions = SessionStore(store, ttl=0)
    token = sessions.create(Principal("ops-1", "ops_head"), hours=1)
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(console_sessions.c.id)).scalars().all()
    assert stored == [token_id(token)] and token not in stored  # only the hash is kept
    assert sessions.principal(token) == Principal("ops-1", "ops_head")
    assert sessions.principal(token + "x") is None
    keys.revoke("ops-1", by="t")
    assert sessions.principal(token) is None  # revoking the key ends its sessions

    keys.create("risk-1", "risk", by="t")
    other = sessions.create(Principal("risk-1", "risk"), hours=1)
    assert sessions.end(other) and not sessions.end(other)
    assert sessions.principal(other) is None
    old = sessions.create(Principal("risk-1", "risk"), hours=1, at=datetime.now(UTC) - timedelta(hours=2))
    assert sessions.principal(old) is None  # expired
    env = sessions.create(Principal(ENV_TOKEN_NAME, "admin"), hours=1)
    assert sessions.principal(env) is None  # no key row and no env token configured
    assert SessionStore(store, env_admin=True, ttl=0).principal(env) == Principal(ENV_TOKEN_NAME, "admin")


def test_cookie_header_round_trip() -> None:
    header = set_cookie_header("a" * 43, 3600, secure=False)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Secure" not in header
    assert "Secure" in set_cookie_header("a" * 43, 3600, secure=True)
    assert cookie_token(f"theme=dark; {COOKIE}={'b' * 43}; x=1") == "b" * 43
    assert cookie_token(f"{COOKIE}=short") is None and cookie_token(None) is None
    assert cookie_token('bad"cookie') is None


def test_middleware_takes_the_cookie_and_needs_the_console_header(store: StateStore, tmp_path) -> None:
    keys = KeyStore(store)
    keys.create("disp-1", "dispatcher", by="t")
    sessions = SessionStore(store, ttl=0)
    install(Gate(Settings(data_dir=tmp_path), KeyRing(keys, None, ttl=0), sessions), dict)
    token = sessions.create(Principal("disp-1", "dispatcher"), hours=1)
    cookie = {"Cookie": f"{COOKIE}={token}"}
    status, _, reached = _call("GET", "/alerts", cookie)
    assert status == 200 and reached["principal"] == Principal("disp-1", "dispatcher")
    status, body, reached = _call("POST", "/rank", cookie, b"{}")
    assert (status, body["kind"], reached) == (403, "csrf", None)
    status, _, reached = _call("POST", "/rank", {**cookie, "X-OpsMatch-Console": "1"}, b"{}")
    assert status == 200 and reached["principal"].name == "disp-1"
    status, body, _ = _call("PUT", "/policy", {**cookie, "X-OpsMatch-Console": "1"}, b"{}")
    assert (status, body["kind"]) == (403, "forbidden")  # the role's routes, as with a key
    status, _, _ = _call("GET", "/console/api/board", cookie)
    assert status == 403
    sessions.end(token)
    status, body, _ = _call("GET", "/alerts", cookie)
    assert (status, body["kind"]) == (401, "auth_session")
    for path in ("/console", "/console/static/console.js"):
        assert _call("GET", path, {})[0] == 200  # the sign-in page and its assets need no key
    assert _call("POST", "/console/login", {}, b"key=x")[0] == 200
