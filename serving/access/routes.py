"""Who may call what: the one table of routes -> user group -> roles allowed.

Every route of the service is in :data:`ROUTES` (roles that may call it) or in :data:`OPEN` (probes,
scrapers and the API documentation). A route in neither is refused to every role but ``admin``
(default deny), so a new endpoint is closed until it is given a line here. ``ops_head`` may call
every route a working role may (it oversees them all) and ``admin`` every route.
Pure data and matching; the HTTP check is :mod:`serving.access.auth`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DISPATCHER, RISK, QA_SYSTEM, OPS_HEAD, ADMIN = "dispatcher", "risk", "qa_system", "ops_head", "admin"
ROLES: tuple[str, ...] = (DISPATCHER, RISK, QA_SYSTEM, OPS_HEAD, ADMIN)
ANY_ROLE = frozenset(ROLES)

# The user groups of the OpenAPI tags, in the order the Swagger page shows them.
TAGS: dict[str, str] = {
    "dispatcher": "Dispatchers: rank workers for a task, assign a backlog, commit assignments.",
    "risk team": "Risk team: complaint risk before assignment, early-warning alerts, the watchlist.",
    "QA / integration": "Core, QA and dispatch systems: task intake, outcomes, live worker status.",
    "operations head": "Operations head: cost weights, province sharing, emergency close (audited).",
    "operators": "Operators: health probes, Prometheus metrics, model versions and freshness.",
}


@dataclass(frozen=True)
class Route:
    """One endpoint: its method, path template (``{name}`` = one path segment), tag and roles."""

    method: str
    path: str
    tag: str
    roles: frozenset[str]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def _route(line: str, tag: str, *roles: str) -> Route:
    method, path = line.split(" ", 1)
    everyone = set(roles) | ({OPS_HEAD, ADMIN} if roles != (ADMIN,) else {ADMIN})
    return Route(method, path, tag, frozenset(everyone))


# route, user group, roles allowed besides ops_head and admin
ROUTES: tuple[Route, ...] = (
    _route("POST /rank", "dispatcher", DISPATCHER),
    _route("POST /assign", "dispatcher", DISPATCHER),
    _route("POST /assignments", "dispatcher", DISPATCHER),
    _route("POST /assignments/{assignment_id}/accept", "dispatcher", DISPATCHER),
    _route("POST /assignments/{assignment_id}/reject", "dispatcher", DISPATCHER),
    _route("POST /assignments/{assignment_id}/start", "dispatcher", DISPATCHER),
    _route("POST /assignments/answers", "dispatcher", DISPATCHER),
    _route("GET /tasks", "dispatcher", DISPATCHER),
    _route("GET /tasks/{task_id}", "dispatcher", DISPATCHER),
    _route("POST /tasks", "QA / integration", DISPATCHER, QA_SYSTEM),
    _route("POST /outcomes", "QA / integration", QA_SYSTEM),
    _route("POST /workers/status", "QA / integration", QA_SYSTEM),
    _route("POST /contacts", "QA / integration", QA_SYSTEM),
    _route("POST /risk", "risk team", RISK),
    _route("GET /alerts", "risk team", RISK, DISPATCHER),
    _route("POST /alerts/{alert_id}/ack", "risk team", RISK),
    _route("POST /alerts/{alert_id}/silence", "risk team", RISK),
    _route("POST /alerts/{alert_id}/unsilence", "risk team", RISK),
    _route("GET /watchlist", "risk team", RISK),
    _route("POST /interventions", "risk team", RISK),
    _route("GET /policy", "operations head"),
    _route("PUT /policy", "operations head"),
    _route("GET /forecast", "operations head", DISPATCHER),
    _route("GET /staffing", "operations head", DISPATCHER),
    _route("GET /settlement", "operations head"),
    _route("POST /settlement/close", "operations head"),
    _route("GET /info", "operators", *ROLES),
    # The console (serving/console): its page and sign-in are open (below); its data, by view.
    _route("GET /console/api/me", "operators", *ROLES),
    _route("POST /console/logout", "operators", *ROLES),
    _route("GET /console/api/models", "operators", *ROLES),
    _route("GET /console/api/board", "operations head"),
    _route("GET /console/api/audit", "operations head"),
)

# Open to anyone: probes, the scrape endpoint and the API documentation (no data).
OPEN: tuple[str, ...] = (
    "GET /livez",
    "GET /readyz",
    "GET /metrics",
    "GET /",
    "GET /docs.json",
    "GET /static_content/{path}",
    "GET /console",
    "POST /console/login",
    "GET /console/static/{path}",
)


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p)
    for prefix in ("/static_content/", "/console/static/"):
        if path.startswith(prefix):
            body = re.escape(prefix) + ".+"
    return re.compile(f"^{body}$")


@lru_cache(maxsize=1)
def _compiled() -> tuple[list[tuple[str, re.Pattern[str], Route]], list[tuple[str, re.Pattern[str]]]]:
    routes = [(r.method, _pattern(r.path), r) for r in ROUTES]
    open_ = [(line.split(" ", 1)[0], _pattern(line.split(" ", 1)[1])) for line in OPEN]
    return routes, open_


def is_open(method: str, path: str) -> bool:
    """Whether the request needs no key (HEAD counts as GET)."""
    method = "GET" if method == "HEAD" else method
    return any(m == method and p.match(path) for m, p in _compiled()[1])


def match(method: str, path: str) -> Route | None:
    """The route a request is for, or None when the table does not know it."""
    path = path.rstrip("/") or "/"
    for m, pattern, route in _compiled()[0]:
        if m == method and pattern.match(path):
            return route
    return None


def allowed(route: Route | None, role: str) -> bool:
    """Whether ``role`` may call ``route`` (unknown routes: ``admin`` only)."""
    if route is None:
        return role == ADMIN
    return role in route.roles


def routes_of(role: str) -> list[str]:
    """The routes a role may call, as ``METHOD /path`` lines (for docs and the CLI)."""
    return [r.key for r in ROUTES if role in r.roles]
