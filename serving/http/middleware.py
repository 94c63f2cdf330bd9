"""The ASGI middleware in front of every route: access, limits, the OpenAPI document, one error shape.

Order, all before the body is read: a method the path does not have (405) -> the key (401) -> the
role's rate (429) and its right to the route (403) -> a body that is not JSON (415, by its
Content-Type) -> the body size (413, from ``Content-Length`` or while reading). Open routes
(:data:`serving.access.routes.OPEN`) skip the key. The authenticated caller goes to the endpoints in the
ASGI scope (:data:`serving.access.auth.PRINCIPAL`). A request without an ``Authorization`` header may
carry the console's session cookie instead (:mod:`serving.access.sessions`).
Error answers written by BentoML or Starlette (except HTML pages) are rewritten into the service's
error shape (:func:`serving.errors.normalize`).
``GET /docs.json`` answers the service's own document (:mod:`serving.http.openapi`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

import anyio.to_thread

from serving.access import routes as access
from serving.access.auth import PRINCIPAL, Gate, install_gate, installed_gate
from serving.access.keys import Principal
from serving.access.sessions import CSRF_HEADER, SAFE_METHODS, cookie_token
from serving.errors import ApiError, normalize

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Installed:
    openapi: Callable[[], dict[str, Any]] | None = None


def install(gate: Gate, openapi: Callable[[], dict[str, Any]]) -> None:
    """Called by the service instance of this worker process once its stores are open."""
    install_gate(gate)
    _Installed.openapi = openapi


async def _principal(gate: Gate, method: str, headers: dict[str, str]) -> Principal:
    """The caller: the bearer key, else the console's session cookie (which needs the console's
    header on state-changing methods, so a cross-site form cannot use it)."""
    token = None if "authorization" in headers else cookie_token(headers.get("cookie"))
    if token is None:
        return await anyio.to_thread.run_sync(gate.authenticate, headers.get("authorization"))
    principal = await anyio.to_thread.run_sync(gate.authenticate_session, token)
    if method not in SAFE_METHODS and headers.get(CSRF_HEADER) != "1":
        raise ApiError(
            403,
            f"a console request that changes state needs the header {CSRF_HEADER}: 1",
            ["header", CSRF_HEADER],
            "csrf",
        )
    return principal


@lru_cache(maxsize=1)
def _refusals() -> Any:
    """Per-process counter, created after BentoML set up its multiprocess metrics directory."""
    from prometheus_client import Counter

    return Counter(
        "opsmatch_refused_requests",
        "Requests refused before the endpoint: auth (401), role (403), rate (429), body size (413).",
        ["status", "kind", "role"],
    )


def _allowed_methods(path: str) -> list[str]:
    methods = ("GET", "POST", "PUT", "DELETE", "PATCH")
    return sorted({m for m in methods if access.match(m, path) or access.is_open(m, path)})


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + extra})
    await send({"type": "http.response.body", "body": raw})


async def _refuse(send: Send, exc: ApiError, role: str = "") -> None:
    if exc.status in (401, 403, 413, 429):
        _refusals().labels(str(exc.status), exc.kind, role or "none").inc()
    await _send_json(send, exc.status, exc.body(), exc.headers)


def _normalizing(send: Send) -> Send:
    """``send`` that rewrites error bodies (status >= 400) into the one error shape."""
    held: list[Message] = []
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and message.get("status", 200) >= 400:
            if (b"content-type", b"text/html; charset=utf-8") in message.get("headers", []):
                await send(message)  # a page (the console's sign-in form), not an API error
                return
            held.append(message)
            return
        if not held or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        start = held.pop()
        fixed = normalize(start["status"], b"".join(chunks))
        if fixed is None:
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(chunks)})
            return
        keep = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.lower() not in (b"content-type", b"content-length")
        ]
        status, body = fixed
        raw = json.dumps(body).encode()
        headers = [*keep, (b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    return wrapped


BODY_METHODS = ("POST", "PUT", "PATCH")
CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


def check_media_type(method: str, headers: dict[str, str]) -> None:
    """A body the API can read: JSON (``application/json`` or ``+json``, UTF-8), or no Content-Type;
    anything else (a form, ``multipart/form-data`` with or without its boundary, text) is a 415."""
    raw = headers.get("content-type")
    if method not in BODY_METHODS or raw is None:
        return
    media, _, params = raw.partition(";")
    media = media.strip().lower()
    charset = next(
        (
            p.split("=", 1)[1].strip().strip('"').lower()
            for p in params.split(";")
            if "=" in p and p.split("=", 1)[0].strip().lower() == "charset"
        ),
        "utf-8",
    )
    if (media == "application/json" or (media.startswith("application/") and media.endswith("+json"))) and (
        charset in CHARSETS
    ):
        return
    raise ApiError(
        415,
        f"Content-Type {raw[:100]!r} is not supported: send JSON (application/json, UTF-8) or no body",
        ["header", "content-type"],
        "unsupported_media_type",
    )


async def _read_body(receive: Receive, limit: int) -> Message | None:
    """The whole request body as one message; None if the client left; 413 past ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body over {limit} bytes", ["body"], "body_too_large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


class AccessMiddleware:
    """See the module docstring; added with ``OpsMatch.add_asgi_middleware``."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope.get("method", "GET"), scope.get("path", "/")
        gate, openapi = installed_gate(), _Installed.openapi
        if path == "/docs.json" and method in ("GET", "HEAD") and openapi is not None:
            await _send_json(send, 200, openapi(), {})
            return
        if access.is_open(method, path):
            await self.app(scope, receive, _normalizing(send))
            return
        role = ""
        try:
            if access.match(method, path) is None and (allow := _allowed_methods(path)):
                raise ApiError(
                    405,
                    f"{method} is not allowed on {path}",
                    [],
                    "method_not_allowed",
                    {"Allow": ", ".join(allow)},
                )
            if gate is None:
                raise ApiError(503, "the service is starting; retry shortly", [], "not_ready")
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            principal = await _principal(gate, method, headers)
            role = principal.role
            gate.authorize(principal, method, path)
            check_media_type(method, headers)
            limit = gate.settings.max_body_bytes
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise ApiError(413, f"request body over {limit} bytes", ["body"], "body_too_large")
            body = await _read_body(receive, limit)
        except ApiError as exc:
            await _refuse(send, exc, role)
            return
        if body is None:
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return body
            return await receive()

        scope[PRINCIPAL] = principal
        await self.app(scope, replay, _normalizing(send))
