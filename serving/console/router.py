"""The console's HTTP routes (a FastAPI router on the service's mounted app), kept out of the API document.

- ``GET /console``: the app page when the session cookie is valid, else the sign-in form (input ``key``);
- ``POST /console/login`` (form): checks the key, opens a server-side session, sets the HttpOnly,
  SameSite=Strict cookie and audits ``console_sign_in`` under the key's name;
- ``POST /console/logout``: ends the session (audited);
- ``GET /console/static/<file>``: the page's own CSS and JS (no CDN, nothing vendored);
- ``GET /console/api/me|board|audit|models``: the signed-in caller and its views, the national board
  (one server-side aggregate per refresh), the audit list, models and proof.

Everything else the page does goes through the service's own endpoints (``/tasks``, ``/rank``,
``/assignments``, ``/alerts``, ``/policy``, ``/watchlist``, ``/interventions``) with the same cookie,
so the access rules, limits and audit are the API's.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from serving.access.auth import caller, installed_gate
from serving.access.sessions import clear_cookie_header, cookie_token, set_cookie_header
from serving.console.context import Console, views_of
from serving.console.words import vocabulary
from serving.errors import ApiError
from serving.state.store import INTAKE_ACTIONS

STATIC = Path(__file__).parent / "static"
SCRIPTS = (
    "console.js",
    "board.js",
    "dispatch.js",
    "risk.js",
    "alerts.js",
    "models.js",
    "charts.js",
    "settlement.js",
    "planning.js",
)
FILES = {
    **dict.fromkeys(SCRIPTS, "text/javascript"),
    "console.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)
_consoles: dict[int, Console] = {}


def console() -> Console:
    """The console of this process's service instance (a FastAPI dependency; tests may override it)."""
    import bentoml  # the service instance of this worker

    engine = bentoml.get_current_service().engine
    found = _consoles.get(id(engine))
    if found is None:
        found = _consoles[id(engine)] = Console(engine)
    return found


@lru_cache(maxsize=8)
def _page(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _html(name: str, status: int = 200, message: str = "", headers: dict[str, str] | None = None) -> Response:
    body = _page(name).replace("{{message}}", message)
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _audit(c: Console, action: str, actor: str, detail: dict[str, Any]) -> None:
    c.engine.store.audit(action, actor, "console", detail, c.engine.clock())


@router.get("/console")
def page(request: Request, c: Console = Depends(console)) -> Response:
    """The app when signed in, else the sign-in form."""
    gate = installed_gate()
    token = cookie_token(request.headers.get("cookie"))
    sessions = gate.sessions if gate is not None else None
    if sessions is not None and token is not None and sessions.principal(token) is not None:
        c.warm()
        return _html("app.html")
    return _html("login.html")


@router.post("/console/login")
async def login(request: Request, c: Console = Depends(console)) -> Response:
    """Sign in with a key (form field ``key``)."""
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    key = (form.get("key") or [""])[0].strip()
    gate = installed_gate()
    if gate is None or gate.sessions is None:
        return _html("login.html", 503, "The service is starting; try again in a moment.")
    if not key:
        return _html("login.html", 400, "Enter your API key.")
    principal, why = gate.keyring.verify(key)
    if principal is None:
        text = "This key has been revoked." if why == "revoked" else "This key is not valid."
        return _html("login.html", 401, text)
    hours = c.engine.config.console_session_hours
    token = gate.sessions.create(principal, hours)
    _audit(c, "console_sign_in", principal.name, {"role": principal.role})
    c.warm()
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    cookie = set_cookie_header(token, int(hours * 3600), secure)
    return RedirectResponse("/console", status_code=303, headers={"Set-Cookie": cookie})


@router.post("/console/logout")
def logout(request: Request, c: Console = Depends(console)) -> Response:
    """Sign out: the session row ends, the cookie is cleared."""
    gate = installed_gate()
    token = cookie_token(request.headers.get("cookie"))
    who = caller(request.scope)
    if gate is not None and gate.sessions is not None and token is not None:
        gate.sessions.end(token)
    _audit(c, "console_sign_out", who.name, {"role": who.role})
    return JSONResponse({"signed_out": True}, headers={"Set-Cookie": clear_cookie_header()})


@router.get("/console/static/{name}")
def static(name: str) -> Response:
    """The page's own assets (a fixed list: nothing else under the folder is served)."""
    if name not in FILES:
        raise ApiError(404, f"no console file {name!r}", ["path", "name"], kind="not_found")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response((STATIC / name).read_bytes(), media_type=FILES[name], headers=headers)


@router.get("/console/api/me")
def me(request: Request, c: Console = Depends(console)) -> dict[str, Any]:
    """The signed-in caller, its views and the page's settings."""
    who = caller(request.scope)
    return {
        "name": who.name,
        "role": who.role,
        "views": views_of(who.role),
        "refresh_seconds": c.engine.config.console_refresh_seconds,
        "now": c.engine.clock().isoformat(),
        "words": vocabulary(),
    }


@router.get("/console/api/board")
def board(c: Console = Depends(console)) -> dict[str, Any]:
    """Every province and the national KPIs with their 24 h trend (one aggregate per refresh)."""
    return c.board()


@router.get("/console/api/audit")
def audit(
    c: Console = Depends(console),
    action: str | None = Query(default=None, min_length=1, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    by: Literal["people", "all"] = Query(default="people", description="people: without the systems' intake"),
) -> dict[str, Any]:
    """The latest audit records (who, when, what), newest first: people's actions (policy, closes,
    acks, ...) unless ``by=all`` (with one line per intake call of the core, QA and dispatch systems)."""
    rows = c.engine.store.audit_entries(action, limit, exclude=INTAKE_ACTIONS if by == "people" else ())
    return {"count": len(rows), "entries": rows}


@router.get("/console/api/models")
def models(c: Console = Depends(console)) -> dict[str, Any]:
    """Champions, gate decisions, retrains, the twin A/B headline, the field uplift, MLflow links."""
    return c.models()
