"""The service core, independent of HTTP: one method per endpoint, client mistakes as ApiError.

It runs on a :class:`~serving.protocols.Runtime` (profiles, task features, models), the durable
:class:`~serving.state.store.StateStore` and the event store; ``service.py`` is a thin BentoML layer on top.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from opsmatch.settings import Settings
from serving.alerts import desk as alert_desk
from serving.alerts import rules
from serving.alerts.store import Family
from serving.alerts.watch import AlertWatch
from serving.api import risk_schemas as rs
from serving.api import schemas as s
from serving.config import ServiceConfig, merge_policy, policy_diff
from serving.errors import ApiError, rules_beyond_schema
from serving.matching.cost import PARTS
from serving.matching.eligibility import effective_capacity, pool_availability
from serving.matching.fallback import FEATURE_STORE
from serving.matching.ranking import rank_task
from serving.predictions.decisions import rank_decision, risk_decision
from serving.predictions.log import PredictionLog
from serving.protocols import Runtime
from serving.risk import desk as risk_desk
from serving.risk.proactive import ProactiveDesk
from serving.risk.reasons import tiers, top_reasons, waits
from serving.risk.voice import TextChampion, customer_words, with_voice
from serving.runtime.context import Context, utcnow
from serving.state.ingestion import RowValidator, ingest_rows
from serving.state.store import ConflictError, StateStore
from serving.tasks.assign import Dispatcher
from serving.tasks.dispatch import Lifecycle
from serving.tasks.plan import optional as _opt
from serving.tasks.plan import rounded as _r
from serving.tasks.queue import TaskQueue


class Engine(Context):
    """Everything the endpoints do: the shared :class:`~serving.runtime.context.Context` and its rooms."""

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        store: StateStore,
        config: ServiceConfig,
        *,
        validate_rows: RowValidator | None = None,
        clock: Callable[[], datetime] = utcnow,
        predictions: PredictionLog | None = None,
    ) -> None:
        super().__init__(
            settings,
            runtime,
            store,
            config,
            validate_rows=validate_rows,
            clock=clock,
            predictions=predictions,
        )
        self.lifecycle = Lifecycle(self, self.book)
        self.queue = TaskQueue(self, self.book)
        self.alert_watch = AlertWatch(self)  # the monitor's alerts (serving/alerts/watch.py)
        self.dispatcher = Dispatcher(self, self.lifecycle, self.alert_watch)
        self.text_model = TextChampion(settings)  # what customers said, quoted in risk reasons
        self.proactive = ProactiveDesk(self, self.queue)  # journeys' break points -> return visits

    # -- /rank ----------------------------------------------------------------------------------
    def rank(self, req: s.RankRequest) -> s.RankResponse:
        self.limit(req.top_k, self.config.max_rank_top_k, "top_k", "workers")
        self.require_ready()
        version, policy = self.policy()
        pool = self.loaded_pool()
        if req.task is not None:
            tasks, scorer = self.guarded_tasks([], [req.task])
        else:
            try:
                tasks, scorer = self.guarded_tasks([req.task_id or ""], [])
            except ApiError as exc:
                raise ApiError(404, exc.message, ["task_id"], kind="not_found") from None
        task = tasks[0]
        requested = None
        if req.provinces:
            unknown = [p for p in req.provinces if p not in self.known_provinces(pool, policy)]
            if unknown:
                raise ApiError(
                    422, f"unknown province(s): {', '.join(unknown)}", ["provinces"], "unknown_province"
                )
            requested = np.isin(pool.province_ids.astype(str), req.provinces)
        now = req.as_of or self.clock()
        avail = pool_availability(pool, now, self.config.status_ttl_seconds)
        res = rank_task(
            task,
            pool,
            scorer,
            policy,
            now,
            req.top_k,
            requested=requested,
            prescreen=self.config.rank_prescreen,
            prescreen_share=self.config.rank_prescreen_share,
            availability=avail,
            min_eligible=self.config.min_eligible,
        )
        versions = self.runtime.scorer.versions()
        self.degradation.record(res.fallback)
        self.log(rank_decision(task, res, pool, now, versions))
        cap = effective_capacity(pool, policy)
        workers = [
            s.RankedWorker(
                rank=i + 1,
                worker_id=str(pool.worker_ids[w]),
                province_id=str(pool.province_ids[w]),
                predicted_minutes=_r(res.scores.minutes[i]),
                p_qa_pass=_r(res.scores.p_qa_pass[i]),
                p_complaint=_r(res.scores.p_complaint[i]),
                cost=_r(res.costs.total[i]),
                cost_parts=s.CostParts(**{p: _r(res.costs.parts[p][i]) for p in PARTS}),
                open_tasks=int(pool.open_tasks[w]),
                capacity=int(cap[w]),
                reason_codes=res.reasons[i],
                availability=avail.source_of(w),  # type: ignore[arg-type]
                shift_minutes_left=_opt(avail.minutes_left[w]),
            )
            for i, w in enumerate(res.workers)
        ]
        return s.RankResponse(
            task_id=task.task_id,
            task_type=task.task_type,
            province_id=task.province_id,
            as_of=now,
            eligible=int(res.eligibility.mask.sum()),
            excluded=res.eligibility.counts(),
            availability=avail.counts(requested),
            workers=workers,
            policy_version=version,
            model_versions=versions,
            fallback=res.fallback,
        )

    # -- /assign --------------------------------------------------------------------------------
    def assign(self, req: s.AssignRequest, *, actor: str = "assign") -> s.AssignResponse:
        """Delegated to :mod:`serving.tasks.assign` (arms, exclusions, commit)."""
        return self.dispatcher.assign(req, actor=actor)

    # -- /risk ----------------------------------------------------------------------------------
    def risk(self, req: s.RiskRequest) -> s.RiskResponse:
        n_req = len(req.task_ids) + len(req.tasks)
        self.limit(
            n_req, self.config.max_batch_tasks, "task_ids", "tasks", max(len(req.task_ids), len(req.tasks))
        )
        self.require_ready()
        _, policy = self.policy()
        tasks, scorer = self.guarded_tasks(req.task_ids, req.tasks)
        if scorer is not self.runtime.scorer or "complaint_pre" not in self.runtime.scorer.versions():
            what = "the feature store" if scorer is not self.runtime.scorer else "the complaint_pre champion"
            kind = FEATURE_STORE if scorer is not self.runtime.scorer else "model_unavailable"
            raise ApiError(503, f"complaint risk needs {what}, unavailable now; retry shortly", kind=kind)
        now = req.as_of or self.clock()
        scores = self.runtime.scorer.complaint_risk(tasks, now=now)
        words = customer_words(self.settings, self.text_model, tasks, now)  # contacts before now only
        prob, shift = words.risk(np.asarray(scores.prob, dtype=float))  # complaint_pre moved by the words
        self.log(risk_decision(tasks, prob, now, self.runtime.scorer.versions()))
        tier = tiers(prob, policy.risk_tiers)
        said = waits(tasks, now)
        reasons = top_reasons(scores.contributions, scores.feature_names, waits=said) or [[] for _ in tasks]
        reasons = with_voice(reasons, words.reasons(shift))
        items = [
            s.RiskItem(
                task_id=t.task_id,
                customer_id=t.customer_id,
                province_id=t.province_id,
                probability=_r(prob[i]),
                tier=tier[i],  # type: ignore[arg-type]
                reasons=[
                    s.ReasonOut(
                        code=r.code, text=r.text, contribution=_r(r.contribution), features=list(r.features)
                    )
                    for r in reasons[i]
                ],
            )
            for i, t in enumerate(tasks)
        ]
        items.sort(key=lambda it: -it.probability)
        customers: dict[str, s.CustomerRisk] = {}
        for it in items:
            if it.customer_id and it.customer_id not in customers:
                customers[it.customer_id] = s.CustomerRisk(
                    customer_id=it.customer_id, probability=it.probability, tier=it.tier, task_ids=[]
                )
            if it.customer_id:
                customers[it.customer_id].task_ids.append(it.task_id)
        found = rules.high_risk_alerts(
            [it.task_id for it in items],
            [it.province_id for it in items],
            np.array([it.probability for it in items]),
            [it.tier for it in items],
            [[r.code for r in it.reasons] for it in items],
            policy.alerts,
        )
        raised = self.store.upsert_alerts(found, self.clock())
        return s.RiskResponse(
            items=items,
            customers=list(customers.values()),
            thresholds=policy.risk_tiers,
            alerts_raised=raised,
            model_version=self.runtime.scorer.versions().get("complaint_pre", "unknown"),
        )

    # -- /watchlist and /interventions (the risk desk: serving/risk/desk.py) --------------------------
    def watchlist(self, day: date | None, province_id: str | None, *, actor: str) -> rs.WatchlistResponse:
        return risk_desk.watchlist(self, day, province_id, actor=actor)

    def interventions(self, req: rs.InterventionsRequest, *, actor: str) -> rs.InterventionsResponse:
        return risk_desk.record_interventions(self, req, actor=actor)

    # -- /outcomes and /workers/status ----------------------------------------------------------
    def outcomes(self, req: s.OutcomesRequest, *, actor: str) -> s.OutcomesResponse:
        sizes = [len(req.completions), len(req.qa_results), len(req.complaints)]
        self.limit(sum(sizes), self.config.max_outcome_rows, "completions", "outcome rows", max(sizes))
        now = self.clock()
        receipts, new_frames = {}, {}
        for table, rows in (
            ("completions", req.completions),
            ("qa_results", req.qa_results),
            ("complaints", req.complaints),
        ):
            with rules_beyond_schema():
                got = ingest_rows(
                    table,
                    [r.model_dump() for r in rows],
                    field=table,
                    events=self.settings,
                    now=now,
                    validate=self.validate_rows,
                )
            receipts[table] = s.TableReceipt(received=got.received, new=got.new, duplicates=got.duplicates)
            if len(got.new_rows):
                new_frames[table] = got.new_rows
            if table == "completions" and len(got.new_rows):
                self.lifecycle.close(got.new_rows, actor=actor)
        if new_frames:
            self.runtime.profiles.push_outcomes(new_frames)
        counts = {t: {"received": r.received, "new": r.new} for t, r in receipts.items()}
        self.store.audit("outcomes", actor, None, counts, now)
        return s.OutcomesResponse(tables=receipts, profiles_refreshed=bool(new_frames))

    def worker_status(self, req: s.WorkerStatusRequest, *, actor: str) -> s.WorkerStatusResponse:
        self.limit(len(req.statuses), self.config.max_status_rows, "statuses", "status rows")
        self.require_ready()
        pool = self.runtime.profiles.snapshot()
        rows = [r.model_dump() for r in req.statuses]
        for i, row in enumerate(rows):
            if row["worker_id"] not in pool.index:
                raise ApiError(
                    422,
                    f"unknown worker id {row['worker_id']!r}",
                    ["statuses", i, "worker_id"],
                    "unknown_worker",
                )
        with rules_beyond_schema():
            got = ingest_rows(
                "worker_status",
                rows,
                field="statuses",
                events=self.settings,
                now=self.clock(),
                validate=self.validate_rows,
            )
        self.store.audit("worker_status", actor, None, {"received": len(rows), "new": got.new}, self.clock())
        latest = pd.DataFrame(rows).sort_values("at").drop_duplicates("worker_id", keep="last")
        self.runtime.profiles.push_status(latest.reset_index(drop=True))
        _, policy = self.policy()
        pool = self.loaded_pool()
        idx = np.array([pool.index[w] for w in latest["worker_id"]], dtype=np.int64)
        cap = effective_capacity(pool, policy)
        found = rules.overload_alerts(
            pool.worker_ids[idx], pool.province_ids[idx], pool.open_tasks[idx], cap[idx], policy.alerts
        )
        raised = self.store.upsert_alerts(found, self.clock())
        return s.WorkerStatusResponse(
            received=len(rows), stored=got.new, new=got.new, duplicates=got.duplicates, alerts_raised=raised
        )

    # -- /policy --------------------------------------------------------------------------------
    def get_policy(self, history: int = 0) -> s.PolicyOut:
        version, policy = self.store.current_policy()
        return s.PolicyOut(
            version=version,
            policy=policy,
            closed_provinces=policy.closed_provinces(),
            history=self.store.policy_history(history) if history else [],
        )

    def put_policy(self, upd: s.PolicyUpdate, *, actor: str) -> s.PolicyOut:
        """Apply ``upd``; ``actor`` (the API key's name) is what the audit records, the body's ``actor``
        only a note."""
        changes = upd.changes()
        if not changes:
            raise ApiError(400, "no policy field to change", ["body"])
        version, current = self.store.current_policy()
        if upd.expected_version is not None and upd.expected_version != version:
            raise ApiError(
                409,
                f"policy is at version {version}, not {upd.expected_version}",
                ["expected_version"],
                kind="conflict",
            )
        if upd.provinces:
            snapshot = self.runtime.profiles.snapshot() if self.runtime.profiles.ready() else None
            known = set(current.provinces) | (set(snapshot.provinces) if snapshot is not None else set())
            unknown = [p for p in upd.provinces if known and p not in known]
            if unknown:
                raise ApiError(
                    422, f"unknown province {unknown[0]!r}", ["provinces", unknown[0]], "unknown_province"
                )
        try:
            new = merge_policy(current, changes)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            raise ApiError(422, err["msg"], [str(p) for p in err["loc"]], "rule_violation") from None
        diff = policy_diff(current, new)
        if diff:
            now = self.clock()
            try:
                version = self.store.save_policy(
                    new,
                    actor=actor,
                    note=_note(upd.note, upd.actor),
                    diff=diff,
                    expected_version=version,
                    at=now,
                )
            except ConflictError as exc:
                raise ApiError(409, str(exc), ["expected_version"], kind="conflict") from None
            for pid in sorted(set(current.closed_provinces()) ^ set(new.closed_provinces())):
                action = "emergency_close" if new.sharing(pid).closed else "emergency_reopen"
                self.store.audit(
                    action, actor, f"province:{pid}", {"note": upd.note, "version": version}, now
                )
            self.forget_policy()
        return self.get_policy(history=1)

    # -- /alerts --------------------------------------------------------------------------------
    def alerts(
        self,
        kind: str | None,
        province_id: str | None,
        acked: bool | None,
        limit: int,
        *,
        state: str | None = None,
        role: str | None = None,
        offset: int = 0,
    ) -> s.AlertList:
        """One page of incidents (:mod:`serving.alerts.desk`)."""
        return alert_desk.list_alerts(
            self, state=state, kind=kind, province_id=province_id, role=role, acked=acked, limit=limit,
            offset=offset,
        )  # fmt: skip

    def ack(self, alert_id: str, req: s.AckRequest, *, actor: str) -> s.AlertOut:
        """Acknowledge as ``actor`` (the API key's name); the body's ``actor`` joins the note."""
        row = self.store.ack_alert(alert_id, actor=actor, note=_note(req.note, req.actor), at=self.clock())
        if row is None:
            raise ApiError(404, f"no alert with id {alert_id!r}", ["path", "alert_id"], kind="not_found")
        return s.AlertOut(**row)

    def sweep_alerts(self) -> int:
        """Background rule: overloaded workers over the whole pool; returns new alerts."""
        if not self.runtime.profiles.ready():
            return 0
        _, policy = self.policy()
        pool = self.loaded_pool()
        cap = effective_capacity(pool, policy)
        active = pool.active
        found = rules.overload_alerts(
            pool.worker_ids[active],
            pool.province_ids[active],
            pool.open_tasks[active],
            cap[active],
            policy.alerts,
        )
        family = Family(frozenset({"overloaded_worker"}))  # the whole pool: what clears resolves
        return self.store.upsert_alerts(found, self.clock(), family=family, writer="alert-sweep")

    # -- /info ----------------------------------------------------------------------------------
    def info(self) -> s.InfoResponse:
        ready = self.ready()
        pool = self.runtime.profiles.snapshot() if self.runtime.profiles.ready() else None
        version, _ = self.policy()
        return s.InfoResponse(
            service="opsmatch",
            ready=ready,
            model_versions=self.runtime.scorer.versions(),
            policy_version=version,
            workers=len(pool) if pool is not None else 0,
            profiles_refreshed_at=pool.refreshed_at if pool is not None else None,
            profiles_staleness_seconds=self.runtime.profiles.staleness_seconds(),
            state_store=self.store.engine.url.render_as_string(hide_password=True),
            limits=self.config.model_dump(),
            degraded=self.degradation.reasons(self.runtime.scorer),
            prediction_log=self.predictions.stats() if self.predictions is not None else None,
            clock=_clock_info(self.clock),
        )


def _clock_info(clock: Any) -> s.ClockInfo:
    """The clock for ``/info`` (a plain callable in tests reads as the wall clock's now)."""
    describe = getattr(clock, "describe", None)
    if describe is None:
        return s.ClockInfo(mode="wall", now=clock(), speed=1.0)
    return s.ClockInfo(**describe())


def _note(note: str | None, claimed: str | None) -> str | None:
    """The free-text note, with the name the body gave (never trusted as the actor)."""
    if claimed and claimed.strip():
        return f"{note or ''} [body actor: {claimed.strip()}]".strip()
    return note
