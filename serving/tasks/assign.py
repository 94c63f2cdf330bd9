"""``/assign`` (advice, or committed with ``commit``; every waiting task with ``all_waiting``) and the
monitor's pass, on one path: the experiment's arm decides each task (``serving.matching.switchback``), the
plan (``serving.tasks.plan``) never gives a task back to a worker who let it go, worker load counts
the assignments in force, and committed items are ``assign`` events (source ``assign`` or
``monitor``) with the arm recorded.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from features.request_time import hours_to_sla
from serving.alerts import rules
from serving.alerts.rules import Alert
from serving.api import schemas as s
from serving.matching.eligibility import pool_availability
from serving.matching.roster import Availability
from serving.matching.urgency import NEAR_SLA
from serving.predictions.decisions import assign_decision
from serving.protocols import Scorer, TaskRecord, WorkerPool
from serving.tasks.answers import Planned, plan, write_planned
from serving.tasks.dispatch import AssignOrder, Lifecycle
from serving.tasks.idle import available, idle_answer, paged
from serving.tasks.lifecycle import HELD, WAITING, IllegalTransition, TaskEvent, TaskState
from serving.tasks.monitor import UNPLACED, Redispatch, grace_instant, sweep, told_clock
from serving.tasks.plan import Batch, items, plan_by_arm, rounded

if TYPE_CHECKING:
    from serving.alerts.watch import AlertWatch
    from serving.runtime.context import Context

log = logging.getLogger("opsmatch.serving")


@dataclass
class MonitorStats:
    """What the monitor wrote since the process started (for /metrics): ``moves`` by reason are its
    take-backs (``reassign`` events) and the long-waiting tasks it dispatched; ``dispatched`` its
    ``assign`` events."""

    sweeps: int = 0
    moves: Counter[str] = field(default_factory=Counter)
    dispatched: int = 0
    failures: int = 0
    unplaced: int = 0  # waiting tasks the monitor found no worker for (each reported once)
    seconds: float = 0.0  # wall time of the last sweep


class Dispatcher:
    """The dispatch path of ``/assign`` and the monitor (see the module docstring)."""

    def __init__(self, engine: Context, lifecycle: Lifecycle, alert_watch: AlertWatch) -> None:
        self.engine = engine
        self.life = lifecycle
        self.book = lifecycle.book
        self.alert_watch = alert_watch  # the monitor's grouped incidents
        self.stats = MonitorStats()
        self._told_waiting: set[str] = set()  # unplaced tasks already reported (bounded by the queue)
        self._tried: dict[str, tuple[int, str]] = {}  # waiting task -> (chances it was tried with, why)

    # -- /assign ----------------------------------------------------------------------------------
    def assign(self, req: s.AssignRequest, *, actor: str) -> s.AssignResponse:
        eng = self.engine
        ids = list(req.task_ids)
        light: dict[str, TaskRecord] = {}  # the waiting tasks' stored rows, read once
        if req.all_waiting:
            waiting = [st.task_id for st in self.book.states(WAITING)]
            room = max(eng.config.max_batch_tasks - len(ids) - len(req.tasks), 0)
            known = set(ids)
            light = {t: self.book.light_record(t) for t in waiting if t not in known}
            ids += sorted(light, key=lambda t: (light[t].sla_due_at, t))[:room]
        n_req = len(ids) + len(req.tasks)
        eng.limit(n_req, eng.config.max_batch_tasks, "task_ids", "tasks", max(len(ids), len(req.tasks)))
        if req.worker_ids is not None:
            eng.limit(len(req.worker_ids), eng.config.max_batch_workers, "worker_ids", "workers")
        eng.require_ready()
        pool = eng.runtime.profiles.snapshot()
        requested = None
        if req.worker_ids is not None:
            unknown = [(i, w) for i, w in enumerate(req.worker_ids) if w not in pool.index]
            if unknown:
                from serving.errors import ApiError

                shown = ", ".join(w for _, w in unknown[:10])
                raise ApiError(
                    422, f"unknown worker id(s): {shown}", ["worker_ids", unknown[0][0]], "unknown_worker"
                )
            requested = np.zeros(len(pool), dtype=bool)
            requested[[pool.index[w] for w in req.worker_ids]] = True
        now = req.as_of or eng.clock()
        avail = pool_availability(pool, now, eng.config.status_ttl_seconds)
        if not req.tasks and not available(pool, avail, requested).any() and self._all_waiting(req.task_ids):
            records = [light.get(t) or self.book.light_record(t) for t in ids]  # nobody available: no scoring
            versions = eng.runtime.scorer.versions()
            return idle_answer(records, pool, avail, requested, now, eng.policy(), versions, req.limit)
        tasks, scorer = eng.guarded_tasks(ids, req.tasks) if ids or req.tasks else ([], eng.runtime.scorer)
        out = self.run(tasks, now, requested, commit=req.commit, source="assign", actor=actor, scorer=scorer)
        return paged(out, req.limit)

    def _all_waiting(self, ids: Sequence[str]) -> bool:
        """Whether every id is a waiting task (one look at the store, then the held states)."""
        self.book.refresh()
        states = [self.book.peek(t) for t in ids]
        return all(st is not None and st.status in WAITING for st in states)

    def run(
        self,
        tasks: Sequence[TaskRecord],
        now: datetime,
        requested: np.ndarray | None,
        *,
        commit: bool,
        source: str,
        actor: str,
        reasons: Mapping[str, str] | None = None,
        exclude: Mapping[str, Sequence[str]] | None = None,
        scorer: Scorer | None = None,
    ) -> s.AssignResponse:
        """Plan ``tasks`` arm by arm, commit if asked, raise the SLA/backlog alerts; the answer."""
        eng = self.engine
        version, policy = eng.policy()
        pool = eng.loaded_pool()
        avail = pool_availability(pool, now, eng.config.status_ttl_seconds)
        gone = []
        self.book.refresh()  # once for the batch: a state per task asked the store each time
        for t in tasks:
            st = self.book.peek(t.task_id) or self.book.state(t.task_id)
            gone.append(tuple(st.previous_workers if st else ()) + tuple((exclude or {}).get(t.task_id, ())))
        batch = Batch(pool, scorer or eng.runtime.scorer, policy, now, avail, eng.config, requested)
        versions = eng.runtime.scorer.versions()
        fallback: str | None = None
        assignments: list[s.Assignment] = []
        unassigned: list[s.Unassigned] = []
        objective, scored, iterations, overdue, overdue_done, near, near_done = 0.0, 0, 0, 0, 0, 0, 0
        arms: Counter[str] = Counter()
        for part in plan_by_arm(tasks, batch, policy.experiment, gone):
            group = [tasks[i] for i in part.index]
            got = part.plan
            fallback = fallback or got.fallback
            eng.log(assign_decision(group, got, batch.pool, now, versions))
            done, left = items(group, batch, got)
            for a in done:
                a.arm = part.arm
            arms[part.arm] += len(group)
            assignments += done
            unassigned += left
            res = got.result
            assigned = res.worker >= 0
            objective += float(res.objective)
            scored += got.scored_pairs
            iterations += res.iterations
            overdue += int(got.overdue.sum())
            overdue_done += int((got.overdue & assigned).sum())
            near += int((got.priority == NEAR_SLA).sum())
            near_done += int(((got.priority == NEAR_SLA) & assigned).sum())
        if tasks:
            eng.degradation.record(fallback)
        committed = self._commit(assignments, source, actor, reasons or {}) if commit else 0
        self._alerts(tasks, assignments, avail, pool, now)
        closed = set(policy.closed_provinces())
        return s.AssignResponse(
            as_of=now,
            assignments=assignments,
            unassigned=unassigned,
            objective=rounded(objective),
            n_tasks=len(tasks),
            n_assigned=len(assignments),
            n_overdue=overdue,
            n_overdue_assigned=overdue_done,
            n_near_sla=near,
            n_near_sla_assigned=near_done,
            availability=avail.counts(requested),
            closed_provinces=sorted(closed),
            moved_from_closed=sum(1 for a in assignments if a.task_province_id in closed),
            scored_pairs=scored,
            solver_iterations=iterations,
            policy_version=version,
            model_versions=versions,
            committed=committed,
            arms=dict(arms),
            fallback=fallback,
        )

    def _commit(
        self, assignments: Sequence[s.Assignment], source: str, actor: str, reasons: Mapping[str, str]
    ) -> int:
        """Commit the proposed assignments of waiting tasks in one transaction; a task another writer
        moved meanwhile is skipped (``Lifecycle.write_assigns``)."""
        self.book.refresh()
        now = self.engine.clock()
        orders, proposed = [], {}
        for a in assignments:
            state = self.book.peek(a.task_id)
            if state is None or state.status not in WAITING:
                continue
            aid = self.life.new_assignment_id(a.task_id)
            orders.append(
                AssignOrder(state, a.worker_id, aid, max(now, state.since), a.arm, reasons.get(a.task_id))
            )
            proposed[a.task_id] = (a, aid)
        done = self.life.write_assigns(orders, source=source, actor=actor)
        for st in done:
            a, aid = proposed[st.task_id]
            a.assignment_id = aid
        return len(done)

    def _alerts(
        self,
        tasks: Sequence[TaskRecord],
        assignments: Sequence[s.Assignment],
        avail: object,
        pool: WorkerPool,
        now: datetime,
    ) -> None:
        _, policy = self.engine.policy()
        suggestions = {a.task_id: a.worker_id for a in assignments}
        to_sla = np.array([hours_to_sla(t.sla_due_at, now) for t in tasks], dtype=float)
        found = rules.sla_alerts(
            [t.task_id for t in tasks], [t.province_id for t in tasks], to_sla, suggestions, policy.alerts
        )
        on = getattr(avail, "on_shift")  # noqa: B009 - an Availability
        staff = Counter(pool.province_ids[on & pool.active].astype(str).tolist())
        found += rules.backlog_alerts(Counter(t.province_id for t in tasks), staff, policy.alerts)
        self.engine.store.upsert_alerts(found, self.engine.clock())

    # -- the monitor ------------------------------------------------------------------------------
    def monitor(self) -> int:
        """One pass: alerts, then (policy switch) take back and re-dispatch timed-out work; moves made."""
        if not self.engine.ready():
            return 0
        started = time.perf_counter()
        try:
            return self._pass()
        finally:
            self.stats.seconds = time.perf_counter() - started

    def _pass(self) -> int:
        eng = self.engine
        self.stats.sweeps += 1
        now = eng.clock()
        _, policy = eng.policy()
        pool = eng.runtime.profiles.snapshot()
        ttl = eng.config.status_ttl_seconds
        avail = pool_availability(pool, now, ttl)
        earlier = pool_availability(pool, grace_instant(now, policy.monitor), ttl)
        ids = [str(w) for w in pool.worker_ids]
        states = self.book.states(WAITING | HELD)
        tasks = {st.task_id: self.book.light_record(st.task_id) for st in states}
        decisions = sweep(
            states,
            tasks,
            now,
            policy.monitor,
            policy.alerts,
            on_shift=dict(zip(ids, avail.on_shift.tolist(), strict=True)),
            on_shift_earlier=dict(zip(ids, earlier.on_shift.tolist(), strict=True)),
            staff_on_shift=Counter(pool.province_ids[avail.on_shift & pool.active].astype(str).tolist()),
            told=told_clock(pool.status_at, now, ttl),  # timeouts: only once the workers' system caught up
        )
        moved = self._take_back(decisions.redispatch[: eng.config.max_batch_tasks], now)
        self.alert_watch.sweep(decisions.alerts, states, tasks, now, policy)  # grouped, self-resolving
        self.book.refresh()
        placed: dict[str, str] = {}
        unplaced = self._hopeless(moved, states, pool, avail)
        tried = [r for r in moved if r.task_id not in unplaced]
        if tried:
            records = eng.task_records([r.task_id for r in tried], [])
            out = self.run(
                records,
                now,
                None,
                commit=True,
                source="monitor",
                actor="monitor",
                reasons={r.task_id: r.reason for r in tried},
                exclude={r.task_id: r.exclude_workers for r in tried},
            )
            self.stats.dispatched += out.committed
            placed = {a.task_id: a.worker_id for a in out.assignments if a.assignment_id}
            unplaced.update({u.task_id: UNPLACED.get(u.reason, u.reason) for u in out.unassigned})
            chances = self._chances()
            self._tried.update({t: (chances, why) for t, why in unplaced.items()})
        said = self._said(moved, placed, states)
        found = [
            Alert(
                kind="redispatch",
                severity="info",
                subject_id=r.task_id,
                province_id=r.province_id,
                message=r.message(placed.get(r.task_id), unplaced.get(r.task_id)),
                details={
                    "reason": r.reason,
                    "from_worker": r.worker_id,
                    "to_worker": placed.get(r.task_id),
                    "waits": r.task_id not in placed,
                    "waited_minutes": round(r.waited_minutes, 1),
                },
                value=float(r.waited_minutes),
            )
            for r in said
        ]
        eng.store.upsert_alerts(found, now)
        return sum(1 for r in moved if r.action == "reassign" or r.task_id in placed)

    def _take_back(self, moves: Sequence[Redispatch], now: datetime) -> list[Redispatch]:
        """The moves that stand: every take-back's ``reassign`` event in one append (a morning's
        thousands of timed-out tasks one by one took minutes), less those another writer moved first."""
        planned: list[tuple[Redispatch, Planned]] = []
        for r in moves:
            if r.action != "reassign":
                continue
            state = self.book.peek(r.task_id)  # as of the sweep's refresh
            event = TaskEvent(
                self.book.next_event_id(r.task_id),
                r.task_id,
                "reassign",
                max(now, state.since) if state else now,
                "monitor",
                "monitor",
                assignment_id=r.assignment_id,
                reason_code=r.reason,
            )
            got = plan(state, event)
            if not isinstance(got, IllegalTransition):
                planned.append((r, got))
        written = write_planned(self.life, [p for _, p in planned], ["monitor"])
        taken = {r.task_id for (r, _), w in zip(planned, written, strict=True) if isinstance(w, TaskState)}
        return [r for r in moves if r.action == "dispatch" or r.task_id in taken]

    def _chances(self) -> int:
        """What a waiting task's chance of a worker depends on: the policy, who is on shift, each
        worker's load (a hash; any change and the monitor tries again)."""
        eng = self.engine
        pool = eng.loaded_pool()
        on = pool_availability(pool, eng.clock(), eng.config.status_ttl_seconds).on_shift
        return hash((eng.policy()[0], np.asarray(on & pool.active).tobytes(), pool.open_tasks.tobytes()))

    def _hopeless(
        self, moved: Sequence[Redispatch], states: Sequence[TaskState], pool: WorkerPool, avail: Availability
    ) -> dict[str, str]:
        """The waiting tasks not worth a plan this sweep, with why: nobody is available, or the task
        was tried and nothing it depends on moved since (the monitor does not retry what nobody can take)."""
        waiting = {st.task_id for st in states if st.status in WAITING}
        self._tried = {t: v for t, v in self._tried.items() if t in waiting}
        dispatch = [r.task_id for r in moved if r.action == "dispatch"]
        if not dispatch:
            return {}
        if not available(pool, avail, None).any():
            return dict.fromkeys(dispatch, UNPLACED["no_eligible_worker"])
        chances = self._chances()
        return {t: self._tried[t][1] for t in dispatch if t in self._tried and self._tried[t][0] == chances}

    def _said(
        self, moved: Sequence[Redispatch], placed: Mapping[str, str], states: Sequence[TaskState]
    ) -> list[Redispatch]:
        """The moves to report, counted in ``stats``: only what the store holds -- a take-back (its
        reassign event), a dispatch (its assign event) -- and a task that still waits, once while it waits
        (not every sweep)."""
        done = [r for r in moved if r.action == "reassign" or r.task_id in placed]
        self._told_waiting &= {st.task_id for st in states if st.status in WAITING}
        news = [r for r in moved if r.action == "dispatch" and r.task_id not in placed]
        news = [r for r in news if r.task_id not in self._told_waiting]
        self._told_waiting.update(r.task_id for r in news)
        self.stats.unplaced += len(news)
        self.stats.moves.update(r.reason for r in done)
        return [*done, *news]
