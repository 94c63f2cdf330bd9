"""The monitor's decisions as pure functions: what to re-dispatch, what to escalate, which alerts to raise.

Given the open tasks' lifecycle states, their SLA and province, who is on shift now (and ``grace``
minutes ago) and ``now``, :func:`sweep` returns, when ``rules.redispatch`` is on:

- ``reassign`` (take the task back from its worker, then dispatch it again without that worker), in
  this order of reasons: ``worker_off_shift`` (the worker has been off shift for the grace period
  with the work not done: assigned, accepted or started), ``accept_timeout`` (assigned, not accepted
  within ``accept_timeout_minutes``), ``start_timeout`` (accepted, not started within
  ``start_timeout_minutes``);
- ``dispatch`` (``pending_too_long``): waiting (pending, rejected or taken back) longer than
  ``pending_max_minutes``;
- a task already assigned ``max_assignments`` times is escalated instead of moved again.

Alerts (always, whatever the switch): SLA overdue / near for the tasks not yet started, province
backlog (waiting tasks per on-shift worker), and ``redispatch_limit`` for each escalated task. The
endpoint applies each move as a ``reassign`` event with its reason (source ``monitor``), runs the
dispatch, and stores the alerts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np

from serving.alerts import rules as rules_
from serving.alerts.rules import Alert
from serving.config import AlertRules, MonitorRules
from serving.protocols import TaskRecord
from serving.tasks.lifecycle import HELD, WAITING, Status, TaskState

REDISPATCH_WORDS: dict[str, str] = {
    "accept_timeout": "not accepted in time",
    "start_timeout": "accepted but not started in time",
    "worker_off_shift": "the worker went off shift",
    "pending_too_long": "waited too long for a worker",
    "dispatcher": "moved by a dispatcher",
}

UNPLACED: dict[str, str] = {  # why a task the monitor tried to dispatch still waits (the plan's reasons)
    "no_eligible_worker": "no eligible worker on shift: waits",
    "capacity_exhausted": "every eligible worker is at capacity: waits",
}


@dataclass(frozen=True)
class Redispatch:
    """One move the monitor decided, with its reason; ``exclude_workers`` must not get the task again."""

    task_id: str
    action: Literal["reassign", "dispatch"]
    reason: str
    province_id: str
    sla_due_at: datetime
    assignment_id: str | None = None
    worker_id: str | None = None
    exclude_workers: tuple[str, ...] = ()
    waited_minutes: float = 0.0

    def message(self, to_worker: str | None = None, unplaced: str | None = None) -> str:
        """The move in words, for the alert list (the reason's code stays in the details): what the
        store holds, i.e. the worker the task went to, or why it still waits (``unplaced``)."""
        why = REDISPATCH_WORDS.get(self.reason, self.reason.replace("_", " "))
        m = self.waited_minutes
        waited = f"{m:.0f} min" if m < 120 else f"{m / 60:.1f} h"
        then = (
            f"re-dispatched to {to_worker}" if to_worker else f"{unplaced or UNPLACED['no_eligible_worker']}"
        )
        if self.action == "reassign" and self.worker_id:
            joint = " and " if to_worker else ": "
            return f"task {self.task_id} taken back from {self.worker_id} ({why}, {waited}){joint}{then}"
        if to_worker:
            return f"task {self.task_id} {why} ({waited}): dispatched by the monitor to {to_worker}"
        return f"task {self.task_id} {why} ({waited}): {then}"


@dataclass
class MonitorDecisions:
    """Everything one sweep decided (moves in SLA order, escalations, alerts)."""

    redispatch: list[Redispatch] = field(default_factory=list)
    escalated: list[Redispatch] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def reasons(self) -> dict[str, int]:
        """Moves by reason."""
        return dict(Counter(r.reason for r in self.redispatch))


def _minutes(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds() / 60.0


def held_reason(
    state: TaskState,
    now: datetime,
    rules: MonitorRules,
    on_shift: bool,
    on_shift_earlier: bool,
    told: datetime | None = None,
) -> tuple[str, float] | None:
    """Why a task with a worker must be taken back (reason, minutes waited), or None. The accept and
    start timeouts count up to ``told`` (:func:`told_clock`; default ``now``): a worker whose system has
    not yet caught up with the assignment has not been told, so it cannot have been slow to answer."""
    if not on_shift and not on_shift_earlier:
        return "worker_off_shift", _minutes(now, state.since)
    heard = now if told is None else min(now, told)
    if state.status is Status.ASSIGNED and state.assigned_at is not None:
        waited = _minutes(heard, state.assigned_at)
        if waited > rules.accept_timeout_minutes:
            return "accept_timeout", waited
    if state.status is Status.ACCEPTED and state.accepted_at is not None:
        waited = _minutes(heard, state.accepted_at)
        if waited > rules.start_timeout_minutes:
            return "start_timeout", waited
    return None


def told_clock(status_at: np.ndarray | None, now: datetime, ttl_seconds: float) -> datetime:
    """How far the systems that tell the workers (the dispatch system's status feed) have got: the
    newest live status they reported, never after ``now``; a feed silent for ``ttl_seconds`` no longer
    holds the timeouts back (``now - ttl``). Without a feed: ``now``."""
    at = np.asarray(status_at if status_at is not None else [], dtype=float)
    at = at[np.isfinite(at)]
    if not len(at):
        return now
    newest = datetime.fromtimestamp(float(at.max()), tz=UTC)
    return min(now, max(newest, now - timedelta(seconds=ttl_seconds)))


def redispatch_decisions(
    states: Sequence[TaskState],
    tasks: Mapping[str, TaskRecord],
    now: datetime,
    rules: MonitorRules,
    on_shift: Mapping[str, bool],
    on_shift_earlier: Mapping[str, bool] | None = None,
    told: datetime | None = None,
) -> tuple[list[Redispatch], list[Redispatch]]:
    """(moves, escalations), each in SLA order; see the module docstring. A worker missing from
    ``on_shift`` counts as on shift (unknown: not a reason to move work)."""
    earlier = on_shift if on_shift_earlier is None else on_shift_earlier
    moves: list[Redispatch] = []
    escalated: list[Redispatch] = []
    for st in states:
        task = tasks[st.task_id]
        if st.status in HELD:
            worker = st.worker_id or ""
            why = held_reason(st, now, rules, on_shift.get(worker, True), earlier.get(worker, True), told)
            if why is None:
                continue
            move = Redispatch(
                st.task_id,
                "reassign",
                why[0],
                task.province_id,
                task.sla_due_at,
                st.assignment_id,
                st.worker_id,
                (*st.previous_workers, worker) if worker else st.previous_workers,
                why[1],
            )
        elif st.status in WAITING and _minutes(now, st.since) > rules.pending_max_minutes:
            move = Redispatch(
                st.task_id,
                "dispatch",
                "pending_too_long",
                task.province_id,
                task.sla_due_at,
                exclude_workers=st.previous_workers,
                waited_minutes=_minutes(now, st.since),
            )
        else:
            continue
        (escalated if st.assignments >= rules.max_assignments else moves).append(move)
    order = lambda r: (r.sla_due_at, r.task_id)  # noqa: E731 - the one sort key of both lists
    return sorted(moves, key=order), sorted(escalated, key=order)


def monitor_alerts(
    states: Sequence[TaskState],
    tasks: Mapping[str, TaskRecord],
    now: datetime,
    alert_rules: AlertRules,
    staff_on_shift: Mapping[str, int],
    escalated: Sequence[Redispatch] = (),
) -> list[Alert]:
    """SLA alerts for the tasks not yet started, backlog per province, one alert per escalated task."""
    waiting = [st for st in states if st.status in WAITING | {Status.ASSIGNED, Status.ACCEPTED}]
    ids = [st.task_id for st in waiting]
    hours = np.array([(tasks[i].sla_due_at - now).total_seconds() / 3600.0 for i in ids], dtype=float)
    holder = {st.task_id: st.worker_id for st in waiting}
    found = rules_.sla_alerts(
        ids, [tasks[i].province_id for i in ids], hours, {}, alert_rules, holders=holder
    )
    backlog = Counter(tasks[st.task_id].province_id for st in states if st.status in WAITING)
    found += rules_.backlog_alerts(backlog, staff_on_shift, alert_rules)
    found += [
        Alert(
            kind="redispatch_limit",
            severity="critical",
            subject_id=r.task_id,
            province_id=r.province_id,
            message=f"task {r.task_id}: {r.reason} again after {len(r.exclude_workers)} workers; "
            "dispatch it by hand",
            details={"reason": r.reason, "workers": list(r.exclude_workers)},
        )
        for r in escalated
    ]
    return found


def sweep(
    states: Sequence[TaskState],
    tasks: Mapping[str, TaskRecord],
    now: datetime,
    rules: MonitorRules,
    alert_rules: AlertRules,
    *,
    on_shift: Mapping[str, bool],
    on_shift_earlier: Mapping[str, bool] | None = None,
    staff_on_shift: Mapping[str, int] | None = None,
    told: datetime | None = None,
) -> MonitorDecisions:
    """One monitor pass over the open tasks (final ones are ignored); see the module docstring."""
    open_ = [st for st in states if st.status in WAITING | HELD]
    missing = [st.task_id for st in open_ if st.task_id not in tasks]
    if missing:
        raise KeyError(f"no task record for {', '.join(missing[:5])}")
    moves: list[Redispatch] = []
    escalated: list[Redispatch] = []
    if rules.redispatch:
        moves, escalated = redispatch_decisions(open_, tasks, now, rules, on_shift, on_shift_earlier, told)
    staff = staff_on_shift if staff_on_shift is not None else {}
    alerts = monitor_alerts(open_, tasks, now, alert_rules, staff, escalated)
    return MonitorDecisions(moves, escalated, alerts)


def grace_instant(now: datetime, rules: MonitorRules) -> datetime:
    """When the worker must already have been off shift for ``worker_off_shift`` (``now - grace``)."""
    return now - timedelta(minutes=rules.off_shift_grace_minutes)
