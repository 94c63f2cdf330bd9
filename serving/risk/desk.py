"""The risk team's endpoints: ``GET /watchlist`` (today's capacity-sized contact list) and
``POST /interventions`` (contacts written back). The ranking, sizing and holdout are pure
(``serving/risk/watchlist.py``); here the event store is read and written and the models are called.

The candidates are the open tasks (``open_tasks``: created, not completed, not cancelled, as of the
list's time), read through one function over ``opsmatch.events`` so that the task book of the lifecycle
can take its place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from time import monotonic
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.request_time import hours_to_sla
from opsmatch import events
from serving.api import risk_schemas as rs
from serving.api.schemas import ReasonOut
from serving.errors import ApiError, rules_beyond_schema
from serving.protocols import TaskRecord
from serving.risk import history
from serving.risk import watchlist as wl
from serving.risk.open_tasks import book_open_tasks, book_records, current_risk
from serving.risk.reasons import Reason, tiers, top_reasons, waits
from serving.state.ingestion import ingest_rows

if TYPE_CHECKING:
    from opsmatch.settings import Settings
    from serving.runtime.context import Context

log = logging.getLogger("opsmatch.serving")
TASK_COLUMNS = ["task_id", "task_type", "province_id", "customer_id", "created_at", "sla_due_at",
                "complexity", "channel", "amount"]  # fmt: skip


def open_tasks(where: Settings | str | Path, as_of: datetime) -> pd.DataFrame:
    """Tasks created by ``as_of`` without a completion (or a cancel event) by then, with their number of
    assignments and the time of the latest one (the seam the lifecycle's task book replaces)."""
    tasks = events.read_table(where, "tasks", columns=TASK_COLUMNS)
    done = events.read_table(where, "completions", columns=["task_id", "completed_at"])
    moves = events.read_table(where, "task_events", columns=["task_id", "kind", "at"])
    assigned = events.read_table(where, "assignments", columns=["task_id", "assigned_at"])
    at = pd.Timestamp(as_of)
    closed = set(done.loc[done["completed_at"] <= at, "task_id"])
    closed |= set(moves.loc[(moves["kind"] == "cancel") & (moves["at"] <= at), "task_id"])
    live = tasks[(tasks["created_at"] <= at) & ~tasks["task_id"].isin(closed)].copy()
    a = assigned[assigned["assigned_at"] <= at].groupby("task_id")["assigned_at"].agg(["size", "max"])
    live["assignments"] = live["task_id"].map(a["size"]).fillna(0).astype(int)
    live["last_assigned_at"] = live["task_id"].map(a["max"])
    return live.reset_index(drop=True)


def _records(engine: Context, tasks: pd.DataFrame) -> list[TaskRecord]:
    """Records of the tasks: the task book's (enriched once, held while the task is unchanged), else
    the feature store's, else built from the event row."""
    ids = tasks["task_id"].astype(str).tolist()
    found = book_records(engine.book, ids)
    rest = [i for i in ids if i not in found]
    found = {**found, **(engine.runtime.tasks.get_tasks(rest) if rest else {})}
    missing = [
        TaskRecord(
            task_id=str(r.task_id),
            task_type=str(r.task_type),
            province_id=str(r.province_id),
            created_at=r.created_at.to_pydatetime(),
            sla_due_at=r.sla_due_at.to_pydatetime(),
            complexity=int(r.complexity),
            customer_id=str(r.customer_id),
            channel=None if pd.isna(r.channel) else str(r.channel),
            amount=None if pd.isna(r.amount) else float(r.amount),
        )
        for r in tasks[~tasks["task_id"].astype(str).isin(found)].itertuples()
    ]
    extra = {t.task_id: t for t in engine.runtime.tasks.enrich(missing)} if missing else {}
    return [found.get(i) or extra[i] for i in ids]


_ARRIVALS: dict[tuple[str, str, float], pd.Series] = {}  # the last count only (a rebuildable cache)
_ARRIVALS_LOCK = threading.Lock()


def _arrivals(where: Settings, as_of: datetime, days: float) -> pd.Series:
    """Tasks created per province (every province of the contract, 0 when none) in the ``days`` before
    ``as_of``; counted (one SQL aggregate over the time index) once per hour of ``as_of``: a 28-day
    average moves little within an hour."""
    key = (events.store_url(where), pd.Timestamp(as_of).floor("h").isoformat(), float(days))
    with _ARRIVALS_LOCK:
        held = _ARRIVALS.get(key)
    if held is not None:
        return held
    provinces = events.read_table(where, "provinces", columns=["province_id"])["province_id"].astype(str)
    at = pd.Timestamp(as_of)
    got = history.arrivals_by_province(where, at - pd.Timedelta(days=days), at)  # the time index's range
    counts = pd.Series(got, dtype="int64").reindex(sorted({*provinces, *got}), fill_value=0)
    with _ARRIVALS_LOCK:
        _ARRIVALS.clear()
        _ARRIVALS[key] = counts
    return counts


def _as_of(engine: Context, day: date | None) -> tuple[date, datetime]:
    now = engine.clock()
    today = now.astimezone(UTC).date()
    day = day or today
    if day > today:
        raise ApiError(422, f"date {day.isoformat()} is after today ({today.isoformat()})", ["query", "date"])
    end = datetime.combine(day, time.max, tzinfo=UTC)
    return day, min(now, end)


CONTACT_DAYS = 30  # a row's ``contacts_30d``
WARM_WAIT_SECONDS = 120.0  # the longest a watchlist waits for the start-up warm-up
EXPLAIN_AHEAD = 500  # open tasks the warm-up explains ahead (the riskiest; a national list shows ~140)


READY_WAIT_SECONDS = 60.0  # the longest /readyz waits for the warm-up (30 s at load 17, default world)


def warm(
    engine: Context, stop: threading.Event, poll_seconds: float = 2.0, ready_wait: float = READY_WAIT_SECONDS
) -> None:
    """Once the complaint_pre champion is served: load the task book, enrich and score every open task
    once into the shared risk cache and explain the riskiest ``EXPLAIN_AHEAD``, so the first watchlist
    (and the risk view) answers from held scores and reasons (a background thread at service start;
    best effort). When the champion's first load serves it, ``/readyz`` waits for this (``warmed``), at
    most ``ready_wait`` seconds; when it does not (the first champions still training), it does not."""
    cache = engine.risk_cache
    cache.settled.clear()
    cache.hold_until = float("inf")  # undecided until the champions' first load was tried
    try:
        tried = getattr(engine.runtime.scorer, "attempted", None)
        while tried is not None and not stop.is_set() and not tried.wait(poll_seconds):
            pass
        served = "complaint_pre" in engine.runtime.scorer.versions()
        cache.hold_until = monotonic() + ready_wait if served else None
        while not stop.is_set() and "complaint_pre" not in engine.runtime.scorer.versions():
            stop.wait(poll_seconds)
        if not stop.is_set():
            _warm(engine)
    finally:
        cache.settled.set()
        cache.hold_until = None


def warmed(engine: Context) -> bool:
    """Whether ``/readyz`` may say ready as far as the risk warm-up goes: it finished, it does not hold
    readiness (no champion at start), or it has held it ``READY_WAIT_SECONDS`` (then logged once)."""
    cache = engine.risk_cache
    until = cache.hold_until
    if cache.settled.is_set() or until is None:
        return True
    if monotonic() < until:
        return False
    cache.hold_until = None
    log.warning(
        "ready before the risk warm-up finished (over %.0f s): the risk view fills later", READY_WAIT_SECONDS
    )
    return True


def _warm(engine: Context) -> None:
    try:
        live = book_open_tasks(engine.book)
        records = _records(engine, live[live["customer_id"].notna()])
        _, policy = engine.policy()
        step, now, scorer = policy.alerts.risk_step_hours, engine.clock(), engine.runtime.scorer
        prob = engine.risk_cache.scores(scorer, records, now, step)
        top = np.argsort(-prob, kind="stable")[:EXPLAIN_AHEAD]  # the riskiest: the rows a list shows
        engine.risk_cache.reasons(scorer, [records[int(i)] for i in top], now, step)
    except Exception:  # noqa: BLE001 - the first watchlist does the same work and reports
        log.exception("warming the risk desk failed")


HOLDOUT_ACTION = "watchlist_holdout"  # audit records of the held-out rows (the field measurement's control)


def watchlist(
    engine: Context, day: date | None, province_id: str | None, *, actor: str = "service"
) -> rs.WatchlistResponse:
    """Today's (or ``day``'s) watchlist of the country or one province. The held-out rows of today's list
    are recorded (audit ``watchlist_holdout``: customers and the time) for ``opsmatch uplift --watchlist``."""
    engine.require_ready()
    if "complaint_pre" not in engine.runtime.scorer.versions():  # e.g. the first champions still training
        raise ApiError(
            503,
            "the watchlist needs the complaint_pre champion, unavailable now; retry shortly",
            kind="model_unavailable",
        )
    engine.risk_cache.settled.wait(WARM_WAIT_SECONDS)  # a start-up warm-up running: answer from it
    version, policy = engine.policy()
    team = policy.risk_team
    day, as_of = _as_of(engine, day)
    where = engine.settings
    arrived = _arrivals(where, as_of, team.arrival_days)
    if province_id is not None and province_id not in arrived.index:
        raise ApiError(404, f"unknown province {province_id!r}", ["query", "province_id"], kind="not_found")
    national = float(arrived.sum()) / team.arrival_days
    local = national
    if province_id is not None:
        local = float(arrived.get(province_id, 0)) / team.arrival_days
    capacity = wl.daily_capacity(team, province_id, national, local)

    today = day == engine.clock().astimezone(UTC).date()
    # Today's list reads the open tasks the task book holds now; a past day's reads the history.
    live = book_open_tasks(engine.book) if today else open_tasks(where, as_of)
    if province_id is not None:
        live = live[live["province_id"] == province_id]
    live = live[live["customer_id"].notna()].reset_index(drop=True)
    # The contacts of the last 30 days (or of the quiet period, if longer) only: an index range.
    window = pd.Timedelta(days=max(team.recontact_days, CONTACT_DAYS))
    contacts = history.contacts_between(where, pd.Timestamp(as_of) - window, as_of)
    quiet_since = pd.Timestamp(as_of) - pd.Timedelta(days=team.recontact_days)
    recent_contact = set(contacts.loc[contacts["at"] > quiet_since, "customer_id"])
    n_open = len(live)
    live = live[~live["customer_id"].isin(recent_contact)].reset_index(drop=True)

    records = _records(engine, live)
    # Today's list reads the risk the monitor holds (serving/risk/cache.py: scored again when stale).
    cache, step = engine.risk_cache, policy.alerts.risk_step_hours
    scorer = engine.runtime.scorer
    live["p_complaint"] = (
        cache.scores(scorer, records, as_of, step) if today else current_risk(scorer, records, as_of)
    )
    ranked = wl.rank_customers(live, team.contact_effect)
    listed = wl.walk_drawn(ranked, capacity, lambda ids: wl.held_out(ids, day, team.holdout_share))

    pos = {t: i for i, t in enumerate(live["task_id"])}
    page = [records[pos[str(t)]] for t in listed["task_id"]] if len(listed) else []
    said = cache.reasons(scorer, page, as_of, step) if today else _explain(engine, page, as_of)
    reasons = {t.task_id: r for t, r in zip(page, said, strict=True)}
    rows = _rows(engine, listed, live, contacts, as_of, reasons, pos)
    held = [r.customer_id for r in rows if r.held_out]
    if held and today and _newly_held(engine, day, province_id, held):
        detail = {"date": day.isoformat(), "at": as_of.isoformat(), "customers": held}
        target = f"province:{province_id}" if province_id else None
        engine.store.audit(HOLDOUT_ACTION, actor, target, detail, engine.clock())
    return rs.WatchlistResponse(
        date=day,
        as_of=as_of,
        province_id=province_id,
        capacity=capacity,
        contacts=int((~listed["held_out"]).sum()) if len(listed) else 0,
        held_out=int(listed["held_out"].sum()) if len(listed) else 0,
        holdout_share=team.holdout_share,
        contact_effect=team.contact_effect,
        expected_daily_arrivals=round(local, 3),
        open_tasks=n_open,
        eligible_customers=len(ranked),
        recently_contacted=int(len(set(recent_contact))),
        rows=rows,
        policy_version=version,
        model_version=engine.runtime.scorer.versions().get("complaint_pre", "unknown"),
    )


_HELD: dict[tuple[str, str, str | None], tuple[str, ...]] = {}  # the last holdout recorded per list


def _newly_held(engine: Context, day: date, province_id: str | None, held: list[str]) -> bool:
    """Whether this list's held-out customers differ from the ones this process last recorded for the
    same day and scope (an unchanged holdout is recorded once, not at every refresh of the list)."""
    key = (events.store_url(engine.settings), day.isoformat(), province_id)
    with _ARRIVALS_LOCK:
        if _HELD.get(key) == tuple(held):
            return False
        if len(_HELD) > 1000:
            _HELD.clear()
        _HELD[key] = tuple(held)
    return True


def _explain(engine: Context, page: list[TaskRecord], as_of: datetime) -> list[list[Reason]]:
    """The reasons of the listed rows' tasks only (contributions cost far more than a prediction)."""
    if not page:
        return []
    risk = engine.runtime.scorer.complaint_risk(page, now=as_of)
    return top_reasons(risk.contributions, risk.feature_names, waits=waits(page, as_of)) or [[] for _ in page]


def _rows(
    engine: Context,
    listed: pd.DataFrame,
    live: pd.DataFrame,
    contacts: pd.DataFrame,
    as_of: datetime,
    reasons: dict[str, list[Reason]],
    pos: dict[str, int],
) -> list[rs.WatchlistRow]:
    """The response rows of the listed customers, with their context."""
    if listed.empty:
        return []
    _, policy = engine.policy()
    who = set(listed["customer_id"])
    keys = pd.DataFrame({"customer_id": sorted(who)})
    customers = events.lookup(engine.settings, "customers", keys)  # the listed customers only
    # Plain dicts: a pandas lookup per row costs more than the whole list's scoring.
    prior = customers.set_index("customer_id")["prior_complaints"].to_dict()
    n_filed = history.complaints_filed(engine.settings, who, as_of)  # the listed customers' only
    month = contacts[contacts["at"] > pd.Timestamp(as_of) - pd.Timedelta(days=CONTACT_DAYS)]
    n_contacts = month.groupby("customer_id").size().to_dict()
    last_contact = history.last_contacts(engine.settings, who, as_of)
    mine = live[live["customer_id"].isin(who)]
    oldest = mine.groupby("customer_id")["created_at"].min().to_dict()
    tier = tiers(listed["p_any"].to_numpy(dtype=float), policy.risk_tiers)
    picked = live.iloc[[pos[str(t)] for t in listed["task_id"]]].to_dict("records")
    out = []
    for i, (r, task) in enumerate(zip(listed.to_dict("records"), picked, strict=True)):
        r = SimpleNamespace(**r)
        c = str(r.customer_id)
        last = last_contact.get(c)
        out.append(
            rs.WatchlistRow(
                rank=int(r.rank),
                customer_id=c,
                province_id=str(task["province_id"]),
                held_out=bool(r.held_out),
                expected_complaints_prevented=round(float(r.prevented), 6),
                expected_complaints=round(float(r.expected), 6),
                p_complaint=round(float(r.p_any), 6),
                tier=tier[i],
                context=rs.CustomerContext(
                    prior_complaints=int(prior.get(c, 0)) + int(n_filed.get(c, 0)),
                    tasks_waiting=int(r.n_tasks),
                    hours_waiting=round((pd.Timestamp(as_of) - oldest[c]) / pd.Timedelta(hours=1), 3),
                    contacts_30d=int(n_contacts.get(c, 0)),
                    last_contact_at=None if last is None else last.to_pydatetime(),
                ),
                task=_summary(task, float(r.p_complaint), as_of),
                reasons=[_reason(x) for x in reasons.get(str(r.task_id), [])],
            )
        )
    return out


def _reason(x: Reason) -> ReasonOut:
    contribution = round(x.contribution, 6)
    return ReasonOut(code=x.code, text=x.text, contribution=contribution, features=list(x.features))


def _summary(task: Mapping[str, Any], p: float, as_of: datetime) -> rs.TaskSummary:
    """The task's status (assigned when an assignment exists, else pending) and a one-line history."""
    n = int(task["assignments"])
    status = "assigned" if n else "pending"
    left = float(hours_to_sla(task["sla_due_at"], pd.Timestamp(as_of)))
    age = (pd.Timestamp(as_of) - task["created_at"]) / pd.Timedelta(hours=1)
    sla = f"{-left:.1f} h past its SLA" if left < 0 else f"SLA in {left:.1f} h"
    moves = f", assigned {n} time{'s' if n != 1 else ''}" if n else ", never assigned"
    return rs.TaskSummary(
        task_id=str(task["task_id"]),
        task_type=str(task["task_type"]),
        status=status,
        created_at=task["created_at"].to_pydatetime(),
        sla_due_at=task["sla_due_at"].to_pydatetime(),
        hours_to_sla=round(left, 3),
        assignments=n,
        p_complaint=round(p, 6),
        summary=f"{task['task_type']} {status}, open {age:.1f} h{moves}; {sla}",
    )


def record_interventions(
    engine: Context, req: rs.InterventionsRequest, *, actor: str
) -> rs.InterventionsResponse:
    """Validate and store the contacts once each (idempotent by id), under the caller's key name."""
    n = len(req.interventions)
    engine.limit(n, engine.config.max_outcome_rows, "interventions", "interventions")
    now = engine.clock()
    rows = [{**r.model_dump(), "actor": actor} for r in req.interventions]
    with rules_beyond_schema():
        got = ingest_rows(
            "interventions", rows, field="interventions", events=engine.settings, now=now,
            validate=engine.validate_rows,
        )  # fmt: skip
    engine.store.audit("interventions", actor, None, {"received": got.received, "new": got.new}, now)
    return rs.InterventionsResponse(
        received=got.received, new=got.new, duplicates=got.duplicates, actor=actor
    )
