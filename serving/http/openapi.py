"""The service's OpenAPI 3.1 document, built from the code so that it tells the truth.

Request and response schemas come from the pydantic models themselves (with their bounds, enums,
``additionalProperties: false`` and the cross-field rules a JSON Schema can state); the per-request
ceilings of the service config replace the models' hard ones. Every operation carries the bearer
scheme (except the open ones), its user-group tag from :mod:`serving.access.routes`, and every status it
can answer with the one error body (:class:`serving.errors.ErrorBody`). The mounted FastAPI routes
are taken from FastAPI's own generator, their 422 replaced by what the service answers.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any, get_type_hints

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from opsmatch.settings import PROJECT_ROOT
from serving.access import routes as access
from serving.config import ServiceConfig
from serving.errors import ErrorBody

REF = "#/components/schemas/{model}"
ERROR = {"$ref": REF.format(model="ErrorBody")}
STATUS_TEXT = {
    400: "The request does not match its schema (type, bound, enum, unknown field, malformed JSON).",
    401: "No API key, a malformed Authorization header, or an unknown or revoked key.",
    403: "The key's role may not call this endpoint.",
    404: "A task, worker, assignment, alert or province the request names does not exist.",
    409: "A conflict: the policy changed since the version the client read (expected_version), a "
    "lifecycle transition the task's current state does not allow (the state is named), or an id "
    "already stored with other content.",
    413: "The request body is over the configured size; it was not read.",
    415: "The Content-Type is not JSON (application/json, UTF-8); the body was not read.",
    422: "The request matches its schema but breaks a rule a schema cannot state "
    "(time order, duplicate ids, unknown province or worker, totals over the configured ceilings).",
    429: "The key is over its role's rate; retry after Retry-After seconds.",
    503: "Models or worker profiles are not loaded yet; retry shortly.",
}
# What each operation can answer besides 200 and the access statuses (401, 403, 429).
STATUSES: dict[str, tuple[int, ...]] = {
    "POST /rank": (400, 404, 413, 422, 503),
    "POST /assign": (400, 404, 413, 422, 503),
    "POST /risk": (400, 404, 413, 422, 503),
    "POST /outcomes": (400, 413, 422),
    "GET /watchlist": (400, 404, 422, 503),
    "POST /interventions": (400, 409, 413, 422),
    "POST /contacts": (400, 409, 413, 422),
    "POST /workers/status": (400, 413, 422, 503),
    "GET /alerts": (400,),
    "POST /alerts/{alert_id}/ack": (400, 404, 413, 422),
    "POST /alerts/{alert_id}/silence": (400, 404, 409, 413, 422),
    "POST /alerts/{alert_id}/unsilence": (400, 404, 409, 413, 422),
    "GET /policy": (400,),
    "PUT /policy": (400, 409, 413, 422),
    "GET /info": (),
    "POST /tasks": (400, 409, 413, 422),
    "GET /tasks": (400, 422),
    "GET /tasks/{task_id}": (400, 404),
    "POST /assignments": (400, 404, 409, 413, 422, 503),
    "POST /assignments/{assignment_id}/accept": (400, 404, 409, 413, 422),
    "POST /assignments/{assignment_id}/reject": (400, 404, 409, 413, 422),
    "POST /assignments/{assignment_id}/start": (400, 404, 409, 413, 422),
    "POST /assignments/answers": (400, 413, 422),
    "GET /settlement": (400, 422),
    "GET /forecast": (400, 404, 422),
    "GET /staffing": (400, 404, 422),
    "POST /settlement/close": (400, 409, 413, 422),
}
EXAMPLES_START, EXAMPLES_END = "<!-- api-examples -->", "<!-- /api-examples -->"


def _examples(readme: Path = PROJECT_ROOT / "README.md") -> str:
    """The README's curl examples (between the api-examples markers), shown on the Swagger page."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    start, end = text.find(EXAMPLES_START), text.find(EXAMPLES_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(EXAMPLES_START) : end].strip()


def description(served: set[str]) -> str:
    """The product description of the Swagger page: what the service is, who may call which of the
    ``served`` routes (``METHOD /path``), and the README's curl examples."""
    roles = "\n".join(
        f"| `{role}` | {', '.join(f'`{r}`' for r in access.routes_of(role) if r in served)} |"
        for role in access.ROLES
        if role != access.ADMIN
    )
    return (
        "ML matching and complaint risk for a national insurance shared-operations centre: ranked "
        "workers, optimal assignments, complaint risk before assignment, early-warning alerts, outcomes "
        "that retrain the models, and the dispatch policy.\n\n"
        "**Access.** Every endpoint but `/livez`, `/readyz` and `/metrics` needs an API key "
        "(`Authorization: Bearer <key>`; press *Authorize*). Make one with "
        "`opsmatch keys create --name NAME --role ROLE`; `make run` prints demo keys. 401 without a "
        "valid key, 403 outside the key's role, 429 over the role's rate, 413 over the body limit. "
        "The audit records the key's name.\n\n"
        f"| role | may call |\n| --- | --- |\n{roles}\n| `admin` | everything |\n\n"
        "**Errors** all have one shape: `{error, kind, loc, detail}`. 400 = the request does not match "
        "its schema; 422 = it matches but breaks a rule a schema cannot state.\n\n"
        f"{_examples()}"
    )


def _models(service: Any) -> list[tuple[str, type[BaseModel], type[BaseModel]]]:
    """(route, request model, response model) of each BentoML API of ``service``."""
    out = []
    for api in service.apis.values():
        hints = get_type_hints(api.func)
        params = [p for p in inspect.signature(api.func).parameters if p not in ("self", "ctx")]
        out.append((api.route, hints[params[0]], hints["return"]))
    return out


def _bentoml_paths(service: Any, components: dict[str, Any]) -> dict[str, Any]:
    apis = _models(service)
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for _, m, _ in apis]
    inputs += [(m, "serialization") for _, _, m in apis] + [(ErrorBody, "serialization")]
    refs, defs = models_json_schema(inputs, ref_template=REF)
    components.update(defs.get("$defs", {}))
    paths: dict[str, Any] = {}
    for route, request, response in apis:
        api = next(a for a in service.apis.values() if a.route == route)
        paths[route] = {
            "post": {
                "operationId": api.name,
                "summary": (api.doc or "").strip().splitlines()[0] if api.doc else api.name,
                "description": (api.doc or "").strip(),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(request, "validation")]}},
                },
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": refs[(response, "serialization")]}},
                    }
                },
            }
        }
    return paths


def _fastapi_paths(app: Any, components: dict[str, Any]) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version="1", routes=app.routes, separate_input_output_schemas=False)
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        if name not in ("HTTPValidationError", "ValidationError"):
            components.setdefault(name, schema)
    names = {(r.path, m.lower()): r.name for r in app.routes for m in getattr(r, "methods", ())}
    paths = doc.get("paths", {})
    for path, item in paths.items():
        for method, op in item.items():
            op.get("responses", {}).pop("422", None)
            op["operationId"] = names.get((path, method), op.get("operationId", ""))
            if op.get("description"):
                op["summary"] = op["description"].strip().splitlines()[0]
            for param in op.get("parameters", []):
                param["schema"] = _not_null(param["schema"])  # a query string cannot carry a null
    return paths


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**branches[0], **rest}


def _infra_paths() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/livez": {
            "get": {
                "operationId": "livez",
                "summary": "Alive (the process answers).",
                "responses": {"200": {"description": "alive", "content": text}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Ready: models and worker profiles are loaded.",
                "responses": {
                    "200": {"description": "ready", "content": text},
                    "503": {"description": "not ready yet", "content": {"application/json": {"schema": {}}}},
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics.",
                "responses": {"200": {"description": "metrics", "content": text}},
            }
        },
    }


def _error_response(status: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": STATUS_TEXT.get(status, "error"),
        "content": {"application/json": {"schema": ERROR}},
    }
    if status == 401:
        out["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}
    if status == 429:
        out["headers"] = {
            "Retry-After": {
                "schema": {"type": "string"},
                "description": "Seconds until a request is allowed.",
            }
        }
    return out


def _decorate(method: str, path: str, op: dict[str, Any]) -> None:
    key = f"{method.upper()} {path}"
    if access.is_open(method.upper(), path):
        op["tags"] = ["operators"]
        op["security"] = []
        return
    route = access.match(method.upper(), path)
    op["tags"] = [route.tag if route is not None else "operators"]
    op["security"] = [{"bearer": []}]
    roles = sorted(route.roles) if route is not None else [access.ADMIN]
    op["description"] = (op.get("description") or "").strip() + f"\n\nRoles: {', '.join(roles)}."
    media = (415,) if method.upper() in ("POST", "PUT", "PATCH") else ()
    for status in sorted({401, 403, 429, *media, *STATUSES.get(key, (400, 413, 422))}):
        op.setdefault("responses", {})[str(status)] = _error_response(status)


def _some(*fields: str) -> dict[str, Any]:
    """At least one of these lists is present and non-empty."""
    return {"anyOf": [{"required": [f], "properties": {f: {"minItems": 1}}} for f in fields]}


def _rules(components: dict[str, Any]) -> None:
    """The cross-field rules of the request validators that a JSON Schema can state. (They live here,
    not in the models' own schema: BentoML's client reads that one and cannot take top-level anyOf.)"""
    from serving.api.schemas import PolicyUpdate

    not_null = {"required": ["task_id"], "properties": {"task_id": {"type": "string"}}}
    rules = {
        "RankRequest": {
            "oneOf": [not_null, {"required": ["task"], "properties": {"task": {"type": "object"}}}]
        },
        "AssignRequest": _some("task_ids", "tasks"),
        "RiskRequest": _some("task_ids", "tasks"),
        "OutcomesRequest": _some("completions", "qa_results", "complaints"),
        "PolicyUpdate": {
            "anyOf": [
                {"required": [f]}
                for f in PolicyUpdate.model_fields
                if f not in ("actor", "note", "expected_version")
            ]
        },
    }
    for model, rule in rules.items():
        if model in components:
            components[model].update(rule)


def _ceilings(components: dict[str, Any], paths: dict[str, Any], config: ServiceConfig) -> None:
    """The configured per-request ceilings, stricter than the models' hard ones."""

    def cap(model: str, field: str, key: str, value: int) -> None:
        prop = components.get(model, {}).get("properties", {}).get(field)
        if prop is None:
            return
        for branch in [prop, *prop.get("anyOf", [])]:
            if key in branch:
                branch[key] = min(branch[key], value)

    cap("RankRequest", "top_k", "maximum", config.max_rank_top_k)
    for model in ("AssignRequest", "RiskRequest"):
        cap(model, "task_ids", "maxItems", config.max_batch_tasks)
        cap(model, "tasks", "maxItems", config.max_batch_tasks)
    cap("AssignRequest", "worker_ids", "maxItems", config.max_batch_workers)
    for field in ("completions", "qa_results", "complaints"):
        cap("OutcomesRequest", field, "maxItems", config.max_outcome_rows)
    cap("WorkerStatusRequest", "statuses", "maxItems", config.max_status_rows)
    cap("InterventionsRequest", "interventions", "maxItems", config.max_outcome_rows)
    cap("ContactsRequest", "contacts", "maxItems", config.max_outcome_rows)
    cap("AnswersIn", "answers", "maxItems", config.max_outcome_rows)
    for param in paths.get("/alerts", {}).get("get", {}).get("parameters", []):
        if param["name"] == "limit":
            param["schema"]["maximum"] = min(param["schema"].get("maximum", 10**9), config.max_alerts_limit)


def build_openapi(service: Any, app: Any, config: ServiceConfig, version: str = "1") -> dict[str, Any]:
    """The whole document of ``service`` (a ``bentoml.service`` class) with ``app`` mounted on it."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for part in (_infra_paths(), _bentoml_paths(service, components), _fastapi_paths(app, components)):
        for path, item in part.items():  # one path may have a BentoML POST and a FastAPI GET (/tasks)
            paths.setdefault(path, {}).update(item)
    for path, item in paths.items():
        for method, op in item.items():
            _decorate(method, path, op)
    _rules(components)
    _ceilings(components, paths, config)
    served = {f"{m.upper()} {p}" for p, item in paths.items() for m in item}
    return {
        "openapi": "3.1.0",
        "info": {"title": "opsmatch", "version": version, "description": description(served)},
        "servers": [{"url": "/"}],
        "tags": [{"name": name, "description": text} for name, text in access.TAGS.items()],
        "paths": copy.deepcopy(paths),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `opsmatch keys create` (or OPSMATCH_API_TOKEN, admin).",
                }
            },
        },
    }
