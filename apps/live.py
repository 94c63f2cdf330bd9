"""``opsmatch live``: the twin plays the national centre against the running service over HTTP.

Arrivals (the history's arrival process continued from now, ``simulator.continuation``) go in through
``POST /tasks``; dispatch goes through ``POST /assign`` (all waiting, committed) every few operation
minutes, or, in ``dispatcher`` mode, ``/rank`` of each waiting task and ``POST /assignments`` of its
top worker, or, in ``people`` mode, not at all (people dispatch in the console, the service's monitor
dispatches what waits too long); the twin's workers (``simulator.live_world``) answer each assignment
the service made to them -- the twin's own tasks and any other, e.g. the history's pending ones, read with
``GET /tasks`` -- through accept / reject / start (``POST /assignments/answers``, many at once), report
their availability and load through ``POST /workers/status`` and their work through ``POST /outcomes``;
its customers call and chat about their open tasks through ``POST /contacts`` (``simulator.live_voice``).
Every operation hour a plain progress line; on stop (Ctrl-C, ``--hours`` reached and drained) the
twin's log is written as JSON lines.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apps.live_client import LiveClient, LiveHTTPError
from opsmatch import events
from opsmatch.clock import OpsClock
from opsmatch.settings import Settings
from simulator.continuation import TASK_COLUMNS, ArrivalFeed, CustomerBase
from simulator.live_carryover import TRUTH_COLUMNS, carried_over, due_after
from simulator.live_truth import TaskFacts
from simulator.live_voice import LiveVoice
from simulator.live_world import Action, LiveWorld
from simulator.truth import TASK_TRUTH_FILE, load_truth
from simulator.workforce import build_workforce

INTAKE_BATCH = 500
ANSWERS = 2000  # the workers' answers per POST /assignments/answers
BEHIND_MINUTES = 5.0  # operation minutes behind the service's clock that the twin reports as falling behind
MODES = ("assign", "dispatcher", "people")
ASSIGN_TIMEOUT = 900.0  # seconds: a first /assign of a large backlog commits every assignment it makes
# (and its answers come back in one call); at load 18 it took 88 s, and the 30 s default made the client
# retry it: new work for the service, and the first call's assignments unknown to the twin till its poll


@dataclass(frozen=True)
class LiveOptions:
    """How the twin plays: dispatch mode and cadence, how long, where its log goes."""

    mode: str = "assign"  # or "dispatcher", or "people" (the twin does not dispatch)
    dispatch_minutes: float = 5.0
    hours: float | None = None  # operation hours of arrivals; None: until stopped
    drain_hours: float = 0.0  # after the arrivals stop, keep working until the twin's tasks are done
    tick_seconds: float = 0.2
    log_dir: Path | None = None
    rank_per_round: int = 50
    poll_minutes: float = 1.0  # operation minutes between reads of the held tasks (GET /tasks)
    poll_wall_seconds: float = 5.0  # ... and wall seconds at least (at 60x a read per wall second of
    # thousands of held tasks took more of the service than the answers themselves)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | pd.Timestamp) else value


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) for k, v in row.items()}


class LivePlayer:
    """One live run: the world, the feed, the client and the loop (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        client: LiveClient,
        clock: OpsClock,
        options: LiveOptions,
        say: Callable[[str], None],
    ) -> None:
        self.client, self.clock, self.options, self.say = client, clock, options, say
        self.settings = settings
        meta = json.loads((settings.truth_dir / "meta.json").read_text())
        self.truth = load_truth(settings.truth_dir)
        self.config, self.seed = self.truth.config, int(meta["seed"])
        self.world = LiveWorld(self.truth, build_workforce(self.config, self.seed), self.seed)
        self.voice = LiveVoice(self.config.voice, self.seed)  # what its customers say (issue 27)
        customers = events.read_table(settings, "customers")
        tasks = events.read_table(settings, "tasks", columns=["customer_id", "province_id"])
        self.base = CustomerBase.from_history(self.config, customers, tasks)
        self.traits = customers.set_index("customer_id")
        self.facts: dict[str, TaskFacts] = {}
        self.created: set[str] = set()
        self.done: set[str] = set()
        self.stopping = False
        self.unknown_workers: set[str] = set()
        self.lag = timedelta(0)  # how far the twin's last step ended behind the service's clock
        self.max_lag = timedelta(0)  # the worst since the last progress line
        self.counts: dict[str, int] = {
            "tasks": 0,
            "assigned": 0,
            "rejected": 0,
            "done": 0,
            "qa": 0,
            "complaints": 0,
            "contacts": 0,
            "refused": 0,
        }

    # ------------------------------------------------------------------ facts of a task
    def _facts(self, row: dict[str, Any]) -> TaskFacts:
        cust = self.traits.loc[row["customer_id"]] if row["customer_id"] in self.traits.index else None
        extra: dict[str, Any] = (
            {}
            if cust is None
            else {
                "age_band": str(cust["age_band"]),
                "policy_value_band": str(cust["policy_value_band"]),
                "vip": bool(cust["vip"]),
                "prior_complaints": int(cust["prior_complaints"]),
            }
        )
        return TaskFacts(
            task_id=str(row["task_id"]),
            task_type=str(row["task_type"]),
            province_id=str(row["province_id"]),
            customer_id=str(row["customer_id"]),
            created_at=pd.Timestamp(row["created_at"]).to_pydatetime(),
            sla_due_at=pd.Timestamp(row["sla_due_at"]).to_pydatetime(),
            complexity=int(row["complexity"]),
            channel=str(row["channel"]),
            amount=float(row["amount"]),
            **extra,
        )

    def facts_of(self, task_id: str) -> TaskFacts | None:
        if task_id not in self.facts:
            status, body = self.client.call("GET", f"/tasks/{task_id}", "dispatcher")
            if status != 200:
                return None
            self.facts[task_id] = self._facts(body)
        return self.facts[task_id]

    def carry_over(self, start: datetime) -> int:
        """Schedule the QA checks and complaints of the history's done work that fall after ``start``
        (``simulator.live_carryover``); returns how many."""
        path = self.settings.truth_dir / TASK_TRUTH_FILE
        if not path.exists():
            return 0
        due = due_after(pd.read_parquet(path, columns=list(TRUTH_COLUMNS)), start)
        done = events.read_table(self.settings, "completions", columns=["task_id"])["task_id"]
        due = due[due["task_id"].isin(set(done))].reset_index(drop=True)
        tasks = events.read_table(self.settings, "tasks", columns=["task_id", "customer_id", "amount"])
        tasks = tasks.drop_duplicates("task_id").set_index("task_id").reindex(due["task_id"])
        w = due["worker_id"].map(self.world.index).fillna(-1).astype(int).to_numpy()
        k = due["task_type"].map({t: i for i, t in enumerate(self.truth.task_types)}).fillna(0).astype(int)
        care = np.where(w >= 0, self.truth.care[np.maximum(w, 0), k.to_numpy()], 0.0)
        amount = tasks["amount"].fillna(0.0).to_numpy(dtype=float)
        qa, complaints = carried_over(due, start, self.seed, care, amount, tasks["customer_id"].to_numpy())
        for row in qa:
            self.world.later("qa", row, row["checked_at"])
        for row in complaints:
            self.world.later("complaint", row, row["filed_at"])
        return len(qa) + len(complaints)

    # ------------------------------------------------------------------ the steps of one tick
    def arrivals(self, now: datetime) -> None:
        new = self.feed.until(self.world.minute(now))
        records = [{str(c): v for c, v in r.items()} for r in new[list(TASK_COLUMNS)].to_dict("records")]
        rows = [_row(r) for r in records]
        for start in range(0, len(rows), INTAKE_BATCH):
            chunk = rows[start : start + INTAKE_BATCH]
            status, body = self.client.call("POST", "/tasks", "qa_system", {"tasks": chunk})
            if status != 200:
                raise RuntimeError(f"POST /tasks refused: {status} {body}")
        said = []
        for record in records:
            self.world.log.tasks.append(record)
            facts = self._facts(record)
            self.facts[facts.task_id] = facts
            self.created.add(facts.task_id)
            said += self.voice.intake(facts)
        self.counts["tasks"] += len(rows)
        self.post_contacts(said)

    def post_contacts(self, rows: list[dict[str, Any]]) -> None:
        """What the customers said, through ``POST /contacts`` (the contact centre's system)."""
        for start in range(0, len(rows), INTAKE_BATCH):
            chunk = [_row(r) for r in rows[start : start + INTAKE_BATCH]]
            status, body = self.client.call("POST", "/contacts", "qa_system", {"contacts": chunk})
            if status != 200:
                self.counts["refused"] += 1
                self.say(f"POST /contacts refused: {status} {str(body)[:300]}")
                continue
            self.counts["contacts"] += len(chunk)

    def dispatch(self, now: datetime) -> None:
        if self.options.mode == "people":  # the console's dispatchers and the monitor assign
            return
        if self.options.mode == "dispatcher":
            self._dispatch_by_rank(now)
            return
        status, body = self.client.call(  # not the default 30 s: a retry of a committed /assign is new work
            "POST", "/assign", "dispatcher", {"all_waiting": True, "commit": True}, timeout=ASSIGN_TIMEOUT
        )
        if status != 200:
            self.say(f"POST /assign: {status} {str(body)[:200]}")
            return
        made = [i for i in body.get("assignments", []) if i.get("assignment_id")]  # None: not committed
        if any(i["task_id"] not in self.facts for i in made):  # e.g. the history's backlog: one read
            self.learn(self.held_tasks())
        for item in made:
            self._offer(item["assignment_id"], item["task_id"], item["worker_id"], now)

    def held_tasks(self) -> list[dict[str, Any]] | None:
        """The tasks with a worker now (``GET /tasks``), or None when the service did not answer."""
        status, body = self.client.call(
            "GET", "/tasks", "dispatcher", params={"status": "held", "limit": 10000}
        )
        return body["tasks"] if status == 200 else None

    def learn(self, rows: list[dict[str, Any]] | None) -> None:
        """The facts of tasks the twin did not create, from the service's listing: one call for a
        backlog instead of a ``GET /tasks/{id}`` per task (1,145 of them took six minutes under load)."""
        for row in rows or []:
            if row["task_id"] not in self.facts and all(c in row for c in TASK_COLUMNS):
                self.facts[row["task_id"]] = self._facts(row)

    def _dispatch_by_rank(self, now: datetime) -> None:
        params = {"status": "waiting", "limit": self.options.rank_per_round}
        status, body = self.client.call("GET", "/tasks", "dispatcher", params=params)
        for task in body.get("tasks", []) if status == 200 else []:
            got, ranked = self.client.call(
                "POST", "/rank", "dispatcher", {"task_id": task["task_id"], "top_k": 1}
            )
            if got != 200 or not ranked["workers"]:
                continue
            top = ranked["workers"][0]["worker_id"]
            request = {
                "task_id": task["task_id"],
                "worker_id": top,
                "source": "rank",
                "ranked_worker_id": top,
            }
            got, made = self.client.call("POST", "/assignments", "dispatcher", request)
            if got == 200:
                self._offer(made["assignment_id"], task["task_id"], top, now)

    def _offer(self, assignment_id: str, task_id: str, worker_id: str, now: datetime) -> None:
        if self.world.knows(assignment_id):
            return
        facts = self.facts_of(task_id)
        if facts is not None:
            self.world.offer(assignment_id, facts, worker_id, now)
            self.counts["assigned"] += 1

    def poll(self, now: datetime) -> None:
        """Assignments the twin has not heard of (the monitor's, the history's) and those taken back."""
        tasks = self.held_tasks()
        if tasks is None:
            return
        self.learn(tasks)
        current = {t["task_id"]: t.get("assignment_id") for t in tasks}
        for aid, task_id in self.world.holding().items():
            if current.get(task_id) != aid:
                self.perform(self.world.withdraw(aid))
        for t in tasks:
            if (
                t.get("assignment_id")
                and t["status"] == "assigned"
                and t.get("worker_id") in self.world.index
            ):
                self._offer(t["assignment_id"], t["task_id"], t["worker_id"], now)

    def answer(self, wave: list[Action]) -> list[tuple[int, Any]]:
        """The workers' answers (accept, start, reject) of one step as (status, answer) each, through
        ``POST /assignments/answers``, ``ANSWERS`` per call: a morning's backlog is thousands of them
        (one call each, 8 at a time, a 10x twin fell 8 operation minutes behind, a 60x one 62)."""
        out: list[tuple[int, Any]] = []
        for start in range(0, len(wave), ANSWERS):
            chunk = wave[start : start + ANSWERS]
            items = [
                {"assignment_id": a.assignment_id, "action": a.kind}
                | ({"reason_code": a.reason_code} if a.kind == "reject" else {})
                for a in chunk
            ]
            status, body = self.client.call(
                "POST", "/assignments/answers", "dispatcher", {"answers": items}, timeout=ASSIGN_TIMEOUT
            )
            if status != 200:
                self.say(f"POST /assignments/answers refused: {status} {str(body)[:300]}")
                out += [(status, body)] * len(chunk)
                continue
            out += [(int(got["status"]), got) for got in body["answers"]]
        return out

    def perform(self, actions: list[Action]) -> None:
        """Report the actions; the workers' answers of a step in waves (an accept's start comes in the
        next wave), outcomes batched into one ``POST /outcomes``."""
        outcomes: dict[str, list[dict[str, Any]]] = {"completions": [], "qa_results": [], "complaints": []}
        queue = list(actions)
        while queue:
            wave = [a for a in queue if a.kind in ("accept", "start", "reject")]
            for a in queue:
                if a.kind not in ("accept", "start", "reject"):
                    table = {"complete": "completions", "qa": "qa_results", "complaint": "complaints"}[a.kind]
                    outcomes[table].append(_row(a.row or {}))
                    if a.kind == "complete":
                        self.done.add(a.task_id)
            queue = []
            for a, (status, got) in zip(wave, self.answer(wave), strict=True):
                if status != 200:
                    self.counts["refused"] += 1
                    queue += self.world.withdraw(a.assignment_id or "")
                    continue
                at = pd.Timestamp(got["at"]).to_pydatetime() if got.get("at") else self.clock()  # duplicate
                if a.kind == "accept":
                    queue += self.world.accepted(a.assignment_id or "", at)
                elif a.kind == "start":
                    self.world.started(a.assignment_id or "", at)
                else:
                    self.counts["rejected"] += 1
        if any(outcomes.values()):
            status, got = self.client.call("POST", "/outcomes", "qa_system", outcomes)
            if status != 200:
                self.counts["refused"] += 1
                self.say(f"POST /outcomes refused: {status} {str(got)[:300]}")
            self.counts["done"] += len(outcomes["completions"])
            self.counts["qa"] += len(outcomes["qa_results"])
            self.counts["complaints"] += len(outcomes["complaints"])

    def report_status(self, now: datetime) -> None:
        """Availability and load changes; a worker the service does not know is left out from then on."""
        rows = [r for r in self.world.status_rows(now) if r["worker_id"] not in self.unknown_workers]
        while rows:
            body_in = {"statuses": [_row(r) for r in rows]}
            status, body = self.client.call("POST", "/workers/status", "qa_system", body_in)
            if status == 200:
                self.world.log.worker_status += rows
                return
            loc = body.get("loc", []) if isinstance(body, dict) else []
            if status != 422 or len(loc) < 3 or loc[2] != "worker_id":
                self.say(f"POST /workers/status refused: {status} {str(body)[:300]}")
                return
            self.unknown_workers.add(rows[int(loc[1])]["worker_id"])
            self.say(f"worker {rows[int(loc[1])]['worker_id']} unknown to the service: no status reports")
            rows = [r for r in rows if r["worker_id"] not in self.unknown_workers]

    # ------------------------------------------------------------------ the loop
    def run(self) -> dict[str, int]:
        """Play until stopped, or until ``hours`` of arrivals are in and (drained) done."""
        start = self.clock()
        self.world.begin(start)
        carried = self.carry_over(start)
        self.feed = ArrivalFeed(self.config, self.seed, self.base, self.world.minute(start))
        arrivals_end = None if self.options.hours is None else start + timedelta(hours=self.options.hours)
        drain_end = None if arrivals_end is None else arrivals_end + timedelta(hours=self.options.drain_hours)
        next_dispatch, next_poll, next_hour = start, start, start + timedelta(hours=1)
        self.say(
            f"live twin: {self.config.name}, seed {self.seed}, "
            f"clock x{self.clock.speed:g} from {start.isoformat()}; {carried} QA checks and complaints "
            "of the history's work still to come"
        )
        while not self.stopping:
            now = self.clock()
            # arrivals up to now (the feed's cursor never passes the end of the arrival window)
            self.arrivals(now if arrivals_end is None else min(now, arrivals_end))
            drained = not self.created - self.done or (drain_end is not None and now >= drain_end)
            if arrivals_end is not None and now >= arrivals_end and drained:
                break
            try:
                if now >= next_dispatch:
                    next_dispatch = now + timedelta(minutes=self.options.dispatch_minutes)
                    self.dispatch(now)
                if now >= next_poll:  # the queue is read once per operation minute, not every tick
                    wall = timedelta(seconds=self.options.poll_wall_seconds * self.clock.speed)
                    next_poll = now + max(timedelta(minutes=self.options.poll_minutes), wall)
                    self.poll(now)
                self.perform(self.world.due(now))
                self.post_contacts(self.voice.due(now, lambda task_id: task_id not in self.done))
                self.report_status(now)
            except LiveHTTPError as exc:  # the service is away (restart, overload): carry on after a pause
                self.say(f"live: {exc}; retrying")
                time.sleep(5.0)
            self.lag = self.clock() - now  # the step's own time: everything it did is that late
            self.max_lag = max(self.max_lag, self.lag)
            if now >= next_hour:
                self.progress(now)
                next_hour += timedelta(hours=1)
            time.sleep(self.options.tick_seconds)
        self.progress(self.clock())
        return dict(self.counts)

    def progress(self, now: datetime) -> None:
        c = self.counts
        busy = sum(1 for w in range(len(self.world.worker_ids)) if self.world.open_tasks(w))
        self.say(
            f"live {now.isoformat(timespec='minutes')}: {c['tasks']} tasks in, {c['assigned']} assigned, "
            f"{c['rejected']} rejected, {c['done']} done, {c['qa']} QA, {c['complaints']} complaints, "
            f"{c.get('contacts', 0)} contacts, "
            f"{busy} workers busy, {c['refused']} refused, behind the clock by up to "
            f"{self.max_lag.total_seconds() / 60:.1f} operation min"
        )
        if self.max_lag > timedelta(minutes=BEHIND_MINUTES):
            self.say(
                f"live: the twin fell up to {self.max_lag.total_seconds() / 60:.0f} operation minutes behind "
                f"the service's clock (x{self.clock.speed:g} is more than this machine keeps up with): its "
                "workers answer that late; the service's timeouts wait for its status feed"
            )
        self.max_lag = timedelta(0)

    def write_log(self, folder: Path) -> None:
        """The twin's log: one JSON-lines file per table."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in vars(self.world.log).items():
            with open(folder / f"{name}.jsonl", "w") as out:
                for row in rows:
                    out.write(json.dumps(_row(row)) + "\n")


def run_live(
    settings: Settings, url: str, clock: OpsClock, options: LiveOptions, say: Callable[[str], None]
) -> dict[str, int]:
    """Play the twin against the service at ``url`` until stopped; SIGINT / SIGTERM stop it cleanly."""
    from apps.live_client import read_keys

    client = LiveClient(url, read_keys(settings.data_dir / "keys"))
    player = LivePlayer(settings, client, clock, options, say)

    def stop(_signum: int, _frame: object) -> None:
        player.stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return player.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        player.write_log(options.log_dir or settings.data_dir / "live")
        client.close()
