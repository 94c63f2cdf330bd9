"""Access without a server: the route table against the roles the issue names, keys in a real state
store (hash only, constant-time check, revocation after the cache TTL), token buckets, the error
shape, and the middleware's order (405, 401, 429, 403, 413) before the body reaches the app."""

from __future__ import annotations

import asyncio
import json

import pytest

from opsmatch.settings import RateLimit, Settings
from serving.access import routes as access
from serving.access.auth import PRINCIPAL, Gate
from serving.access.keys import ENV_TOKEN_NAME, KeyCommandError, KeyRing, KeyStore, Principal, demo_keys
from serving.access.limits import TokenBuckets, retry_after_header
from serving.errors import normalize
from serving.http.middleware import AccessMiddleware, install
from serving.state.store import StateStore

# The issue's list, written out by hand (not derived from the table): role -> routes it may call.
DISPATCHER = {"POST /rank", "POST /assign", "GET /tasks", "POST /tasks", "POST /assignments", "GET /alerts"}
RISK = {"POST /risk", "GET /alerts", "POST /alerts/{alert_id}/ack", "GET /watchlist", "POST /interventions"}
QA = {"POST /tasks", "POST /outcomes", "POST /workers/status"}
POLICY = {"GET /policy", "PUT /policy"}


@pytest.fixture
def store(tmp_path) -> StateStore:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def _may(role: str) -> set[str]:
    return set(access.routes_of(role))


def test_roles_match_the_issue() -> None:
    assert _may("dispatcher") >= DISPATCHER and not (
        _may("dispatcher") & (RISK - {"GET /alerts"} | QA - {"POST /tasks"} | POLICY)
    )
    assert _may("risk") >= RISK and not (_may("risk") & (QA | POLICY | {"POST /rank", "POST /assign"}))
    assert _may("qa_system") >= QA and not (
        _may("qa_system") & (RISK | POLICY | {"POST /rank", "GET /tasks"})
    )
    assert _may("ops_head") >= DISPATCHER | RISK | QA | POLICY
    assert {r.key for r in access.ROUTES} == _may("admin")
    for role in access.ROLES:
        assert "GET /info" in _may(role)
    assert not access.allowed(access.match("POST", "/keys"), "ops_head")  # unknown route: admin only
    assert access.allowed(None, "admin")


def test_matching_templates_and_open_routes() -> None:
    assert access.match("POST", "/alerts/abc-1/ack").key == "POST /alerts/{alert_id}/ack"
    assert access.match("POST", "/alerts/a/b/ack") is None and access.match("GET", "/rank") is None
    assert access.match("POST", "/rank/").key == "POST /rank"
    for path in ("/livez", "/readyz", "/metrics", "/docs.json", "/", "/static_content/swagger-ui.css"):
        assert access.is_open("GET", path), path
    assert not access.is_open("POST", "/livez") and not access.is_open("GET", "/info")


def test_keys_are_stored_hashed_and_checked(store) -> None:
    keys = KeyStore(store)
    key = keys.create("desk-1", "dispatcher", by="test")
    assert key.startswith("om_") and len(key) > 40
    with store.engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("select * from api_keys"))
    assert key.split("_", 2)[2] not in dump  # the secret is not stored
    ring = KeyRing(keys, "env-secret", ttl=0)
    assert ring.verify(key) == (Principal("desk-1", "dispatcher"), "")
    assert ring.verify("env-secret") == (Principal(ENV_TOKEN_NAME, "admin"), "")
    assert ring.verify(key[:-1] + ("A" if key[-1] != "A" else "B"))[0] is None
    assert ring.verify("om_000000000000_" + "x" * 43) == (None, "invalid")
    assert ring.verify("garbage") == (None, "invalid")
    assert keys.list()[0]["last_used_at"] is not None
    with pytest.raises(KeyCommandError):
        keys.create("desk-1", "risk", by="test")
    with pytest.raises(KeyCommandError):
        keys.create("x", "boss", by="test")
    with pytest.raises(KeyCommandError):
        keys.create(ENV_TOKEN_NAME, "admin", by="test")
    actions = [a["action"] for a in store.audit_entries()]
    assert actions == ["key_create"]


def test_revocation_counts_after_the_cache_ttl(store) -> None:
    now = [0.0]
    keys = KeyStore(store)
    key = keys.create("qa-1", "qa_system", by="test")
    ring = KeyRing(keys, None, ttl=2.0, clock=lambda: now[0])
    assert ring.verify(key)[0] is not None
    keys.revoke("qa-1", by="ops")
    now[0] = 1.0
    assert ring.verify(key)[0] is not None  # cached row, within the TTL
    now[0] = 2.5
    assert ring.verify(key) == (None, "revoked")
    with pytest.raises(KeyCommandError):
        keys.revoke("qa-1", by="ops")
    assert store.audit_entries(action="key_revoke")[0]["actor"] == "ops"


def test_demo_keys_one_per_role_written_once(store, tmp_path) -> None:
    keys = KeyStore(store)
    files = demo_keys(keys, tmp_path / "keys", by="test")
    assert set(files) == set(access.ROLES)
    ring = KeyRing(keys, None, ttl=0)
    for role, path in files.items():
        assert ring.verify(path.read_text().strip())[0].role == role
        assert path.stat().st_mode & 0o777 == 0o600
    first = files["risk"].read_text()
    assert demo_keys(keys, tmp_path / "keys", by="test")["risk"].read_text() == first
    files["risk"].unlink()
    demo_keys(keys, tmp_path / "keys", by="test")
    assert ring.verify(first.strip()) == (None, "revoked")  # the lost file's key no longer works


def test_token_bucket_rate_and_burst() -> None:
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    assert [buckets.take("k", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("k", 2.0, 3)
    assert wait == pytest.approx(0.5) and retry_after_header(wait) == "1"
    assert buckets.take("other", 2.0, 3) == 0.0  # per key
    now[0] = 0.5
    assert buckets.take("k", 2.0, 3) == 0.0


def test_foreign_error_bodies_become_the_one_shape() -> None:
    bento = {
        "error": "1 validation error",
        "detail": [{"type": "missing", "loc": ["task_id"], "msg": "Field required"}],
    }
    status, body = normalize(400, json.dumps(bento).encode())
    assert status == 400 and body["kind"] == "validation_error" and body["loc"] == ["task_id"]
    rule = {"error": "x", "detail": [{"type": "value_error", "loc": [], "msg": "Value error, give one"}]}
    assert normalize(400, json.dumps(rule).encode())[0] == 422
    status, body = normalize(404, b'{"detail":"Not Found"}')
    assert status == 404 and set(body) == {"error", "kind", "loc", "detail"} and body["kind"] == "not_found"
    assert normalize(400, b'[{"error": "bad json"}]')[1]["error"] == "bad json"
    assert normalize(500, b"Internal Server Error")[1]["error"].startswith("an unexpected error")
    assert normalize(401, json.dumps({"error": "e", "kind": "k", "loc": [], "detail": []}).encode()) is None


def _call(
    method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict, dict | None]:
    """Run the middleware on one request; (status, body, what the app got: caller and body, or None)."""
    sent: list[dict] = []
    reached: list[dict] = []

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        reached.append({"principal": scope.get(PRINCIPAL), "body": (await receive())["body"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)] or [b""]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]

    async def receive():  # noqa: ANN202
        return messages.pop(0)

    async def send(message):  # noqa: ANN001, ANN202
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(AccessMiddleware(app)(scope, receive, send))
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(raw or b"{}"), reached[0] if reached else None


def test_middleware_order_and_limits(store, tmp_path) -> None:
    keys = KeyStore(store)
    qa, risk = keys.create("qa-1", "qa_system", by="t"), keys.create("risk-1", "risk", by="t")
    settings = Settings(
        data_dir=tmp_path, max_body_bytes=5000, rate_limits={"risk": RateLimit(per_second=0.01, burst=2)}
    )
    install(Gate(settings, KeyRing(keys, None, ttl=0)), lambda: {"openapi": "3.1.0"})
    auth = {"Authorization": f"Bearer {qa}"}
    assert _call("GET", "/rank", {})[0] == 405  # before the key: the method does not exist
    status, body, reached = _call("POST", "/outcomes", {}, b"{}")
    assert (status, body["kind"], reached) == (401, "auth_missing", None)
    assert _call("POST", "/outcomes", {"Authorization": "Basic abc"})[1]["kind"] == "auth_malformed"
    status, body, reached = _call("POST", "/rank", auth, b"{}")
    assert (status, body["kind"], reached) == (403, "forbidden", None) and "qa_system" in body["error"]
    status, body, reached = _call("POST", "/outcomes", auth, b'{"qa_results": []}' + b" " * 3000)
    assert status == 200 and reached["principal"] == Principal("qa-1", "qa_system")
    assert reached["body"] == b'{"qa_results": []}' + b" " * 3000  # read in chunks, replayed whole
    status, body, reached = _call("POST", "/outcomes", {**auth, "Content-Length": "6000"}, b"x" * 6000)
    assert (status, body["kind"], reached) == (413, "body_too_large", None)
    status, _, reached = _call("POST", "/outcomes", auth, b"x" * 5500)  # no Content-Length: counted
    assert (status, reached) == (413, None)
    r = {"Authorization": f"Bearer {risk}"}
    assert [_call("GET", "/alerts", r)[0] for _ in range(3)] == [200, 200, 429]
    assert _call("GET", "/livez", {})[0] == 200 and _call("GET", "/docs.json", {})[1] == {"openapi": "3.1.0"}
