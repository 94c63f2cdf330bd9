"""The BentoML service ``OpsMatch``: a thin HTTP layer over :class:`serving.runtime.engine.Engine`.

POST endpoints with a JSON body are ``@bentoml.api`` methods (the body is the request model itself);
GET endpoints with query parameters, the path parameter of ``/alerts/{id}/ack`` and ``PUT /policy`` live
in a FastAPI app mounted on the service (BentoML routes ``@bentoml.api`` as POST only). ``/livez``,
``/readyz`` and ``/metrics`` are BentoML's own, extended through ``__is_ready__`` and ``__metrics__``.
Access (keys, roles, limits), the OpenAPI document and the one error shape are the middleware's
(:mod:`serving.http.middleware`); the endpoints take the caller it authenticated as the audit's actor.

Run: ``bentoml serve serving.http.service:OpsMatch`` (settings from ``OPSMATCH_*`` env vars).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal, TypeVar

import bentoml
from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import JSONResponse

from opsmatch.clock import clock_from
from opsmatch.settings import Settings
from serving.access.auth import Gate, caller
from serving.access.routes import ROLES
from serving.alerts import desk as ad
from serving.alerts import rules
from serving.alerts.desk import AlertState
from serving.api import risk_schemas as rs
from serving.api import schemas as s
from serving.api import settlement_schemas as ss
from serving.api import task_schemas as ls
from serving.config import load_service_config
from serving.console.router import router as console_router
from serving.errors import ApiError, validation_body, validation_from, validation_status
from serving.http import middleware
from serving.http.openapi import build_openapi
from serving.planning.routes import router as planning_router
from serving.risk import contacts as cs
from serving.risk import desk as risk_desk
from serving.runtime.engine import Engine
from serving.runtime.replica import Lease, WorkerHeader, lease_lines
from serving.runtime.safety_metrics import count_fallback, metric_lines
from serving.settlement.statements import settlement_of
from serving.state.store import StateStore
from serving.tasks.answers import answer_many

log = logging.getLogger("opsmatch.serving")
T = TypeVar("T")

ops_app = FastAPI(
    title="opsmatch operations API", docs_url=None, redoc_url=None, openapi_url="/ops/openapi.json"
)
ops_app.include_router(console_router)  # the operations console at /console (serving/console)
ops_app.include_router(planning_router)  # GET /forecast, GET /staffing (serving/planning_routes)


AlertKind = Literal[rules.KINDS]  # type: ignore[valid-type]
AlertRole = Literal[ROLES]  # type: ignore[valid-type]


@ops_app.exception_handler(RequestValidationError)
async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    return JSONResponse(validation_from(errors, drop=("body",)), status_code=validation_status(errors))


@ops_app.exception_handler(ApiError)
async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


@lru_cache(maxsize=1)
def _request_metrics() -> tuple[Any, Any]:
    """Per-process Prometheus metrics, created after BentoML set up its multiprocess directory."""
    from prometheus_client import Counter, Histogram

    requests = Counter("opsmatch_requests", "Requests by endpoint and HTTP status.", ["endpoint", "status"])
    latency = Histogram(
        "opsmatch_request_seconds",
        "Time spent in the endpoint's own work.",
        ["endpoint"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    )
    return requests, latency


def build_engine(settings: Settings) -> Engine:
    """The engine on the real components (profile cache, Feast, champion models)."""
    from serving.runtime.components import build_runtime, row_validator
    from serving.state.event_index import EventIndex

    config = load_service_config(settings=settings)
    index = EventIndex(settings)
    runtime = build_runtime(settings, config, index)
    store = StateStore(settings.resolved_state_db_url)
    clock = clock_from(settings)  # every "now" of the service, the row validator's included
    validate = row_validator(settings, index, clock)
    predictions = prediction_log(settings, config)
    runtime.closers.append(lambda: predictions and predictions.stop())
    return Engine(
        settings,
        runtime,
        store,
        config,
        validate_rows=validate,
        clock=clock,
        predictions=predictions,
    )


def prediction_log(settings: Settings, config: Any) -> Any:
    """This worker's prediction log writer (started), or None when ``service.prediction_log`` is off."""
    from opsmatch import events
    from serving.predictions.log import TABLE, PredictionLog

    if not config.prediction_log:
        return None
    return PredictionLog(
        lambda rows: events.append(settings, TABLE, rows), max_queue=config.prediction_log_queue
    ).start()


@bentoml.service(name="opsmatch", traffic={"timeout": 120})
@bentoml.asgi_app(ops_app, path="/")
class OpsMatch:
    """Ranking, assignment, complaint risk, alerts, outcomes and policy of the national centre."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.engine = build_engine(self.settings)
        self._openapi: dict[str, Any] | None = None
        middleware.install(Gate.for_store(self.settings, self.engine.store), self.openapi)
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep, name="alert-sweep", daemon=True)
        self._sweeper.start()
        self._lease = Lease(self.engine.store, "monitor", self.engine.config.monitor_lease_seconds)
        threading.Thread(target=self._lease.keep, args=(self._stop,), name="lease", daemon=True).start()
        self._monitor = threading.Thread(target=self._watch, name="monitor", daemon=True)
        self._monitor.start()
        # the first watchlist answers from held records: score the open tasks once the champion is served
        warm = threading.Thread(target=risk_desk.warm, args=(self.engine, self._stop), name="risk-warm")
        warm.daemon = True
        warm.start()

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        """Stop background threads and release the stores."""
        self._stop.set()
        self._lease.release()  # another worker's monitor takes over now, not after the lease expires
        self.engine.runtime.close()
        self.engine.store.close()

    def _sweep(self) -> None:
        while not self._stop.wait(self.engine.config.alert_sweep_seconds):
            try:
                self.engine.sweep_alerts()
            except Exception:  # noqa: BLE001 - a failed sweep must not stop the next one
                log.exception("alert sweep failed")

    def _watch(self) -> None:
        """The monitor (``serving.tasks.assign``): every ``monitor_seconds`` of wall time, in the one
        worker holding the monitor lease (``serving.runtime.replica``)."""
        while not self._stop.wait(self.engine.config.monitor_seconds):
            if not self._lease.holding:
                continue
            try:
                self.engine.dispatcher.monitor()
            except Exception:  # noqa: BLE001 - a failed pass must not stop the next one
                self.engine.dispatcher.stats.failures += 1
                log.exception("monitor pass failed")
            try:  # the day's proactive return visits (serving/risk/proactive.py)
                self.engine.proactive.sweep()
            except Exception:  # noqa: BLE001 - a failed pass must not stop the next one
                log.exception("proactive pass failed")

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document (built once per worker, with this service's configured ceilings)."""
        if self._openapi is None:
            self._openapi = build_openapi(OpsMatch, ops_app, self.engine.config)
        return self._openapi

    def _call(self, ctx: bentoml.Context, endpoint: str, work: Callable[[str], T]) -> Any:
        """Run ``work(actor)``; ApiError and in-engine validation errors become 4xx JSON bodies."""
        requests, latency = _request_metrics()
        start = time.perf_counter()
        status = 200
        try:
            result = work(caller(ctx.request.scope).name)
            count_fallback(endpoint, result)
            return result
        except ApiError as exc:
            status = exc.status
            ctx.response.status_code = exc.status
            for key, value in exc.headers.items():
                ctx.response.headers[key] = value
            return JSONResponse(exc.body(), status_code=exc.status)
        except ValidationError as exc:
            status = validation_status(exc.errors(include_url=False))
            ctx.response.status_code = status
            return JSONResponse(validation_body(exc), status_code=status)
        except Exception:
            status = 500
            raise
        finally:
            latency.labels(endpoint).observe(time.perf_counter() - start)
            requests.labels(endpoint, str(status)).inc()

    # -- JSON-body endpoints (BentoML APIs) -------------------------------------------------------
    @bentoml.api(route="/rank")
    def rank(self, request: s.RankRequest, /, ctx: bentoml.Context) -> s.RankResponse:
        """Top-k eligible workers for one task, with costs, reasons and exclusion counts."""
        return self._call(ctx, "rank", lambda _: self.engine.rank(request))

    @bentoml.api(route="/assign")
    def assign(self, request: s.AssignRequest, /, ctx: bentoml.Context) -> s.AssignResponse:
        """Optimal assignment of pending tasks (overdue first) under capacity, skills and sharing."""
        return self._call(ctx, "assign", lambda who: self.engine.assign(request, actor=who))

    @bentoml.api(route="/tasks")
    def post_tasks(self, request: ls.TasksIn, /, ctx: bentoml.Context) -> ls.TasksReceipt:
        """Task intake from the core systems: validated, durable, idempotent, risk scored on arrival."""
        return self._call(ctx, "tasks", lambda who: self.engine.queue.intake(request, actor=who))

    @bentoml.api(route="/assignments")
    def assignments(self, request: ls.AssignmentIn, /, ctx: bentoml.Context) -> ls.AssignmentOut:
        """Commit an assignment (source assign, rank or person; an override carries its reason)."""
        return self._call(ctx, "assignments", lambda who: self.engine.lifecycle.commit(request, actor=who))

    @bentoml.api(route="/assignments/answers")
    def answers(self, request: ls.AnswersIn, /, ctx: bentoml.Context) -> ls.AnswersOut:
        """Many workers' answers (accept, reject, start) at once: each validated and answered as its
        single route would, the legal ones stored in one transaction (a duplicate changes nothing)."""
        return self._call(ctx, "answers", lambda who: answer_many(self.engine.lifecycle, request, actor=who))

    @bentoml.api(route="/risk")
    def risk(self, request: s.RiskRequest, /, ctx: bentoml.Context) -> s.RiskResponse:
        """Complaint risk before assignment: probability, tier and reasons per task and customer."""
        return self._call(ctx, "risk", lambda _: self.engine.risk(request))

    @bentoml.api(route="/interventions")
    def interventions(
        self, request: rs.InterventionsRequest, /, ctx: bentoml.Context
    ) -> rs.InterventionsResponse:
        """Risk-team contacts and their outcome: validated, idempotent by id, audited under the key."""
        return self._call(ctx, "interventions", lambda who: self.engine.interventions(request, actor=who))

    @bentoml.api(route="/contacts")
    def contacts(self, request: cs.ContactsRequest, /, ctx: bentoml.Context) -> cs.ContactsResponse:
        """What customers said (calls, chats, branch, 12378): validated, idempotent by id (audited)."""
        return self._call(ctx, "contacts", lambda who: cs.record_contacts(self.engine, request, actor=who))

    @bentoml.api(route="/outcomes")
    def outcomes(self, request: s.OutcomesRequest, /, ctx: bentoml.Context) -> s.OutcomesResponse:
        """Completions, QA results and complaints: validated, durable, idempotent (audited)."""
        return self._call(ctx, "outcomes", lambda who: self.engine.outcomes(request, actor=who))

    @bentoml.api(route="/workers/status")
    def workers_status(
        self, request: s.WorkerStatusRequest, /, ctx: bentoml.Context
    ) -> s.WorkerStatusResponse:
        """Live availability and load of workers (audited)."""
        return self._call(ctx, "workers_status", lambda who: self.engine.worker_status(request, actor=who))

    # -- query/path-parameter endpoints (mounted FastAPI app) -------------------------------------
    @ops_app.get("/alerts", response_model=s.AlertList)
    def get_alerts(
        self,
        kind: AlertKind | None = None,
        province_id: str | None = Query(default=None, min_length=1, max_length=64),
        acked: bool | None = None,
        limit: int = Query(default=100, ge=1, le=100_000),
        state: AlertState | None = Query(
            default=None,
            description="open (not silenced/inhibited), acked, resolved, silenced, inhibited, active",
        ),
        role: AlertRole | None = Query(default=None, description="incidents meant for this role"),
        offset: int = Query(default=0, ge=0, le=10_000_000),
    ) -> s.AlertList:
        """Incidents (one per condition and scope), worst first; filters by state, kind, province, role;
        pages with ``limit`` and ``offset`` (``next_offset``)."""
        return self.engine.alerts(kind, province_id, acked, limit, state=state, role=role, offset=offset)

    @ops_app.get("/watchlist", response_model=rs.WatchlistResponse)
    def get_watchlist(
        self,
        date: s.QueryDate | None = None,
        province_id: str | None = Query(default=None, min_length=1, max_length=64),
        *,
        request: Request,
    ) -> rs.WatchlistResponse:
        """The customers the risk team should contact today, by complaints a contact prevents."""
        return self.engine.watchlist(date, province_id, actor=caller(request.scope).name)

    @ops_app.get("/settlement", response_model=ss.SettlementOut)
    def get_settlement(
        self,
        start: s.QueryStamp | None = Query(default=None, alias="from", description="from (inclusive)"),
        end: s.QueryStamp | None = Query(default=None, alias="to", description="to (exclusive)"),
        month: str | None = Query(default=None, min_length=1, max_length=7, description="YYYY-MM"),
        province_id: str | None = Query(default=None, min_length=1, max_length=64),
        counterparty: str | None = Query(default=None, min_length=1, max_length=64),
        provisional: bool = False,
        offset: int = Query(default=0, ge=0, le=10_000_000),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> ss.SettlementOut:
        """Statement between provinces for a month or a range (by completed_at): credits to the
        province that did the work, debits to the owner, lines to the task (paged)."""
        settle = settlement_of(self.engine)
        period = settle.period(start, end, month)
        got = settle.statement(period, province_id, provisional=provisional, counterparty=counterparty,
                               offset=offset, limit=limit)  # fmt: skip
        return ss.SettlementOut.model_validate(got)

    @ops_app.post("/settlement/close", response_model=ss.SettlementOut)
    def close_settlement(self, body: ss.CloseRequest, request: Request) -> ss.SettlementOut:
        """Close (freeze) an ended month: its statement no longer changes; late events adjust the
        next open month (audited under the API key)."""
        got = settlement_of(self.engine).close(body.month, actor=caller(request.scope).name, note=body.note)
        return ss.SettlementOut.model_validate(got)

    @ops_app.post("/alerts/{alert_id}/ack", response_model=s.AlertOut)
    def ack_alert(
        self, alert_id: str, request: Request, body: s.AckRequest | None = Body(default=None)
    ) -> s.AlertOut:
        """Acknowledge an alert (the audit and ``acked_by`` name the API key; no body needed)."""
        return self.engine.ack(alert_id, body or s.AckRequest(), actor=caller(request.scope).name)

    @ops_app.post("/alerts/{alert_id}/silence", response_model=s.AlertOut)
    def silence_alert(self, alert_id: str, body: ad.SilenceRequest, request: Request) -> s.AlertOut:
        """Silence the incident's scope until ``until`` (or for ``minutes``), with a reason (audited)."""
        return ad.silence(self.engine, alert_id, body, actor=caller(request.scope).name)

    @ops_app.post("/alerts/{alert_id}/unsilence", response_model=s.AlertOut)
    def unsilence_alert(self, alert_id: str, request: Request) -> s.AlertOut:
        """End the incident scope's active silences now (audited)."""
        return ad.unsilence(self.engine, alert_id, actor=caller(request.scope).name)

    @ops_app.get("/tasks", response_model=ls.TaskList)
    def get_tasks(
        self,
        status: ls.StatusFilter | None = None,
        province_id: str | None = Query(default=None, min_length=1, max_length=64),
        task_type: str | None = Query(default=None, min_length=1, max_length=64),
        created_after: s.QueryStamp | None = None,
        sort: ls.TaskSort = "sla_due_at",
        limit: int = Query(default=100, ge=1, le=10_000),
    ) -> ls.TaskList:
        """The queue: tasks by status (waiting, open or one status), oldest SLA first by default."""
        return self.engine.queue.list_tasks(status, province_id, task_type, created_after, sort, limit)

    @ops_app.get("/tasks/{task_id}", response_model=ls.TaskDetail)
    def get_task(self, task_id: str) -> ls.TaskDetail:
        """One task with its history of transitions."""
        return self.engine.queue.get_task(task_id)

    @ops_app.post("/assignments/{assignment_id}/accept", response_model=ls.AssignmentStep)
    def accept(
        self, assignment_id: str, request: Request, body: ls.NoteIn | None = Body(default=None)
    ) -> ls.AssignmentStep:
        """The worker accepts the assignment (no body needed; an optional note)."""
        who = caller(request.scope).name
        return self.engine.lifecycle.step(
            assignment_id, "accept", actor=who, note=body.note if body else None
        )

    @ops_app.post("/assignments/{assignment_id}/reject", response_model=ls.AssignmentStep)
    def reject(self, assignment_id: str, body: ls.RejectIn, request: Request) -> ls.AssignmentStep:
        """The worker declines (with a reason code): the task waits again, never for that worker."""
        who = caller(request.scope).name
        return self.engine.lifecycle.step(
            assignment_id, "reject", actor=who, note=body.note, reason_code=body.reason_code
        )

    @ops_app.post("/assignments/{assignment_id}/start", response_model=ls.AssignmentStep)
    def start(
        self, assignment_id: str, request: Request, body: ls.NoteIn | None = Body(default=None)
    ) -> ls.AssignmentStep:
        """The worker starts the accepted task (no body needed; an optional note)."""
        who = caller(request.scope).name
        return self.engine.lifecycle.step(assignment_id, "start", actor=who, note=body.note if body else None)

    @ops_app.get("/policy", response_model=s.PolicyOut)
    def get_policy(self, history: int = Query(default=0, ge=0, le=1000)) -> s.PolicyOut:
        """The policy in force, its version and optionally the latest changes (who, when, what)."""
        return self.engine.get_policy(history)

    @ops_app.put("/policy", response_model=s.PolicyOut)
    def put_policy(self, body: s.PolicyUpdate, request: Request) -> s.PolicyOut:
        """Change weights, sharing or emergency close (versioned; the audit names the API key)."""
        return self.engine.put_policy(body, actor=caller(request.scope).name)

    @ops_app.get("/info", response_model=s.InfoResponse)
    def info(self) -> s.InfoResponse:
        """Model versions, policy version, profile freshness and limits."""
        return self.engine.info()

    # -- BentoML hooks ----------------------------------------------------------------------------
    def __is_ready__(self) -> bool:  # a ready service answers its risk view at once (serving/risk/desk.py)
        return self.engine.ready() and risk_desk.warmed(self.engine)

    def __metrics__(self, content: str) -> str:
        lines = [content.rstrip("\n")]
        versions = self.engine.runtime.scorer.versions()
        lines.append("# HELP opsmatch_model_info Champion model version served by this worker.")
        lines.append("# TYPE opsmatch_model_info gauge")
        lines += [f'opsmatch_model_info{{model="{m}",version="{v}"}} 1' for m, v in sorted(versions.items())]
        staleness = self.engine.runtime.profiles.staleness_seconds()
        lines.append(
            "# HELP opsmatch_profile_staleness_seconds Seconds since the worker profiles were refreshed."
        )
        lines.append("# TYPE opsmatch_profile_staleness_seconds gauge")
        lines.append(f"opsmatch_profile_staleness_seconds {staleness if staleness is not None else 'NaN'}")
        lines.append("# HELP opsmatch_ready 1 when models and profiles are loaded.")
        lines.append("# TYPE opsmatch_ready gauge")
        lines.append(f"opsmatch_ready {int(self.engine.ready())}")
        lines.append("# HELP opsmatch_policy_version Version of the dispatch policy in force.")
        lines.append("# TYPE opsmatch_policy_version gauge")
        lines.append(f"opsmatch_policy_version {self.engine.policy()[0]}")
        stats = self.engine.dispatcher.stats
        lines.append(
            "# HELP opsmatch_monitor_moves Tasks the monitor took back (reassign events) or dispatched "
            "after a long wait (assign events), by reason."
        )
        lines.append("# TYPE opsmatch_monitor_moves counter")
        lines += [f'opsmatch_monitor_moves{{reason="{r}"}} {n}' for r, n in sorted(stats.moves.items())]
        lines.append("# HELP opsmatch_monitor_sweeps Monitor passes run by this worker.")
        lines.append("# TYPE opsmatch_monitor_sweeps counter")
        lines.append(f"opsmatch_monitor_sweeps {stats.sweeps}")
        lines.append("# HELP opsmatch_monitor_dispatched Tasks the monitor committed to a new worker.")
        lines.append("# TYPE opsmatch_monitor_dispatched counter")
        lines.append(f"opsmatch_monitor_dispatched {stats.dispatched}")
        lines.append("# HELP opsmatch_monitor_unplaced Waiting tasks with no worker found (reported once).")
        lines.append("# TYPE opsmatch_monitor_unplaced counter")
        lines.append(f"opsmatch_monitor_unplaced {stats.unplaced}")
        lines.append("# HELP opsmatch_monitor_last_seconds Wall time of this worker's last monitor pass.")
        lines.append("# TYPE opsmatch_monitor_last_seconds gauge")
        lines.append(f"opsmatch_monitor_last_seconds {stats.seconds:.4f}")
        lines += lease_lines(self._lease)
        lines += metric_lines(self.engine)
        return "\n".join(lines) + "\n"


OpsMatch.add_asgi_middleware(WorkerHeader)  # type: ignore[attr-defined]  # outside access: on 401s too
OpsMatch.add_asgi_middleware(middleware.AccessMiddleware)  # type: ignore[attr-defined]  # set by @bentoml.service
