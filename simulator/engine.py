"""The discrete-event engine: replays arrivals under a dispatch policy.

Scheduled events (``simulator.schedule``, one named record per kind, one handler each): shift start and
end, disruption on/off, task completion, policy tick, status snapshot and day marks. Arrivals are merged
from the pre-sorted arrival list. A policy that ``observes_transitions`` hears each task's transition
(``TRANSITIONS``: arrival, assignment, start, completion, hand-back at a shift end), e.g. to keep the
service's lifecycle of every task. The engine changes a ``SimState``; the policy reads a ``SimView`` of
it and commits assignments through ``SimView.assign``, which calls the engine's ``dispatch``. Per-task
noise is pre-drawn from the seed (common random numbers), so replays of the same arrivals differ only
through the policy.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.arrivals import Arrivals
from simulator.clock import MINUTES_PER_DAY
from simulator.facts import build_facts
from simulator.handling import base_minutes, learning_and_fatigue, task_noise
from simulator.policies import Policy
from simulator.scenario import ScenarioConfig
from simulator.schedule import (
    Completion,
    DayMark,
    Disruption,
    Event,
    EventKind,
    PolicyTick,
    ShiftCalendar,
    ShiftEnd,
    ShiftStart,
    StatusSnapshot,
    opening_events,
)
from simulator.state import DONE, IN_SERVICE, SimState, SimView
from simulator.workforce import Workforce, build_workforce

POLICY_STREAM = 41
# the kinds the hot path schedules or compares, as module globals (cheaper than the enum's attributes)
SHIFT_END, COMPLETION, SHIFT_START = EventKind.SHIFT_END, EventKind.COMPLETION, EventKind.SHIFT_START
ARRIVAL, POLICY_TICK, STATUS_SNAPSHOT = EventKind.ARRIVAL, EventKind.POLICY_TICK, EventKind.STATUS_SNAPSHOT
Progress = Callable[[float, float], None]
TRANSITIONS = ("create", "assign", "start", "complete", "hand_back")  # what ``Policy.on_transition`` hears


@dataclass
class SimResult:
    """Everything the replay produced (simulation minutes; NaN where it did not happen)."""

    config: ScenarioConfig
    arrivals: Arrivals
    workforce: Workforce
    policy: str
    seed: int
    end: float
    noise: np.ndarray
    worker: np.ndarray  # final worker or -1
    started: np.ndarray
    completed: np.ndarray  # NaN when not completed by ``end``
    minutes: np.ndarray  # realised handling minutes (also for tasks still in service at the end)
    shift_done: np.ndarray
    experience: np.ndarray
    # columns: lists from the replay (arrays once ``simulator.run`` has released the replay)
    assignments: dict[str, Any] = field(default_factory=dict)  # task, worker, at, policy
    status: dict[str, Any] = field(default_factory=dict)  # worker, at, on_shift, open_tasks


class _Replay:
    """One replay: the state, the event queue, one handler per event kind and the records it writes."""

    def __init__(
        self,
        config: ScenarioConfig,
        arrivals: Arrivals,
        workforce: Workforce,
        policy: Policy,
        noise: np.ndarray,
        *,
        stop: float,
        record_status: bool,
        progress: Progress | None,
    ) -> None:
        self.facts = facts = build_facts(config, arrivals, workforce)
        self.state = SimState(facts, workforce.truth.experience0.astype(int).tolist())
        self.state.now = arrivals.start_day * MINUTES_PER_DAY
        self.view = SimView(facts, self.state, self.dispatch, policy.name)
        self.policy, self.stop, self.progress = policy, stop, progress
        self.tick_minutes = policy.tick_minutes
        self.observe: Callable[[str, int, int], None] | None = None
        if policy.observes_transitions:
            self.observe = lambda kind, task, worker: policy.on_transition(self.view, kind, task, worker)
        self.record_status = record_status
        self.shifts = ShiftCalendar(config, workforce)
        self.province_disrupted = [False] * facts.n_provinces
        self.status_period = config.status_every_hours * 60.0
        self.total_days = (arrivals.horizon - arrivals.start_day * MINUTES_PER_DAY) / MINUTES_PER_DAY
        # handling time = base minutes x speed[worker, type] x fatigue x learning
        self.base_minutes = base_minutes(config, arrivals, noise)
        self.speed = workforce.truth.speed.ravel().tolist()  # [W * K]
        self.task_type, self.n_types = facts.task_type, facts.n_types
        b = config.behaviour
        self.fatigue_threshold, self.fatigue_minutes = b.fatigue_threshold, b.fatigue_minutes
        self.learning_amplitude, self.learning_tau = b.learning_amplitude, b.learning_tau
        self.queue: list[Event] = []
        self.seq = itertools.count(1)
        self.tasks_done = 0
        n = facts.n_tasks
        self.started, self.completed, self.minutes = [math.nan] * n, [math.nan] * n, [math.nan] * n
        self.shift_done_at_start, self.experience_at_start = [0] * n, [0] * n
        self.assignments: dict[str, list[Any]] = {"task": [], "worker": [], "at": [], "policy": []}
        self.status: dict[str, list[Any]] = {"worker": [], "at": [], "on_shift": [], "open_tasks": []}
        self.assignment_columns = tuple(self.assignments.values())  # appended to on the hot path
        self.status_columns = tuple(self.status.values())
        handlers: dict[EventKind, Callable[[Any], None]] = {
            EventKind.SHIFT_END: self.on_shift_end,
            EventKind.DISRUPTION: self.on_disruption,
            EventKind.COMPLETION: self.on_completion,
            EventKind.SHIFT_START: self.on_shift_start,
            EventKind.ARRIVAL: self.arrive,  # merged from the arrival list, never scheduled
            EventKind.POLICY_TICK: self.on_policy_tick,
            EventKind.STATUS_SNAPSHOT: self.on_status_snapshot,
            EventKind.DAY_MARK: self.on_day_mark,
        }
        self.handlers = [handlers[kind] for kind in EventKind]  # indexed by kind: the hot-path lookup

    # ------------------------------------------------------------------ scheduling and the loop
    def schedule(self, event: Event) -> None:
        heapq.heappush(self.queue, event)

    def schedule_opening(self) -> None:
        """Every worker's first shift, the disruptions, the periodic events and the day marks."""
        for event in opening_events(
            self.facts,
            self.shifts,
            self.seq,
            start=self.state.now,
            stop=self.stop,
            status_period=self.status_period if self.record_status else None,
            tick_minutes=self.tick_minutes,
            day_marks=self.progress is not None,
        ):
            self.schedule(event)

    def run(self, drain: bool) -> None:
        """Handle arrivals and scheduled events in order until ``stop`` (or, draining, all tasks done)."""
        state, queue, handlers, stop = self.state, self.queue, self.handlers, self.stop
        arrival_times, n_tasks = self.facts.task_created, self.facts.n_tasks
        next_arrival = 0
        while True:
            if next_arrival < n_tasks and (
                not queue
                or arrival_times[next_arrival] < (head := queue[0]).at
                or (arrival_times[next_arrival] == head.at and head.kind > ARRIVAL)
            ):
                if arrival_times[next_arrival] >= stop:
                    break
                state.now = arrival_times[next_arrival]
                self.arrive(next_arrival)  # the arrival handler
                next_arrival += 1
                continue
            if not queue:
                break
            event = heapq.heappop(queue)
            if event.at >= stop:
                break
            state.now = event.at
            handlers[event.kind](event)
            if drain and self.tasks_done == n_tasks and next_arrival >= n_tasks:
                break

    # ------------------------------------------------------------------ one handler per event kind
    # (arrivals: ``offer_task``, below, also used for tasks handed back at a shift end)
    def arrive(self, task: int) -> None:
        if self.observe is not None:
            self.observe("create", task, -1)
        self.offer_task(task)

    def on_completion(self, event: Completion) -> None:
        state, worker = self.state, event.worker
        task = state.worker_busy[worker]
        self.completed[task] = state.now
        state.task_state[task] = DONE
        if self.observe is not None:
            self.observe("complete", task, worker)
        self.tasks_done += 1
        state.worker_busy[worker] = -1
        state.worker_shift_done[worker] += 1
        state.worker_experience[worker][self.task_type[task]] += 1
        waiting = state.worker_queue[worker]
        if waiting:
            self.start_service(waiting.popleft(), worker)
        else:
            self.offer_worker(worker)

    def on_shift_start(self, event: ShiftStart) -> None:
        worker = event.worker
        if not self.province_disrupted[self.facts.worker_province[worker]]:
            self.go_on_shift(worker)
        if event.ends_at < math.inf:
            self.schedule(ShiftEnd(event.ends_at, SHIFT_END, next(self.seq), worker))

    def on_shift_end(self, event: ShiftEnd) -> None:
        worker = event.worker
        if self.state.worker_on_shift[worker]:
            self.go_off_shift(worker)
        begins, ends = self.shifts.next_shift(worker, event.at)
        self.schedule(ShiftStart(begins, SHIFT_START, next(self.seq), worker, ends))

    def on_policy_tick(self, event: PolicyTick) -> None:
        self.policy.on_tick(self.view)
        assert self.tick_minutes  # only scheduled for policies with a tick
        self.schedule(PolicyTick(event.at + self.tick_minutes, POLICY_TICK, next(self.seq)))

    def on_status_snapshot(self, event: StatusSnapshot) -> None:
        on_shift, load = self.state.worker_on_shift, self.view.worker_load
        workers = [worker for worker in range(self.facts.n_workers) if on_shift[worker]]
        status_worker, status_at, status_on_shift, status_load = self.status_columns
        status_worker.extend(workers)
        status_at.extend([event.at] * len(workers))
        status_on_shift.extend([True] * len(workers))
        status_load.extend([load(worker) for worker in workers])
        next_at = event.at + self.status_period
        self.schedule(StatusSnapshot(next_at, STATUS_SNAPSHOT, next(self.seq)))

    def on_disruption(self, event: Disruption) -> None:
        self.province_disrupted[event.province] = event.active
        if event.active:
            for worker in self.facts.workers_of_province[event.province]:
                if self.state.worker_on_shift[worker]:
                    self.go_off_shift(worker)

    def on_day_mark(self, event: DayMark) -> None:
        if self.progress is not None and event.day < self.total_days:
            self.progress(float(event.day), self.total_days)

    # ------------------------------------------------------------------ transitions shared by handlers
    def offer_task(self, task: int) -> None:
        """The task arrives or is handed back: it becomes pending, the policy may assign it, else it is
        listed as pending."""
        self.state.make_pending(task)
        self.policy.on_task(self.view, task)
        self.state.list_pending(task)

    def offer_worker(self, worker: int) -> None:
        """A worker with no task in service that can take work becomes idle and is offered to the policy."""
        if self.state.worker_busy[worker] < 0 and self.view.accepting(worker):
            self.state.mark_idle(worker)
            self.policy.on_worker_free(self.view, worker)

    def go_on_shift(self, worker: int) -> None:
        state = self.state
        state.worker_on_shift[worker] = True
        state.worker_shift_done[worker] = 0
        if self.record_status and state.now % self.status_period:  # on the hour the snapshot has it
            self.record_worker_status(worker, True)
        self.offer_worker(worker)

    def go_off_shift(self, worker: int) -> None:
        """Off shift: the task in service finishes, queued tasks are handed back to the policy."""
        state = self.state
        state.worker_on_shift[worker] = False
        if state.worker_idle[worker]:
            state.mark_busy(worker)
        if self.record_status:
            self.record_worker_status(worker, False)
        for task in state.take_queue(worker):
            if self.observe is not None:
                self.observe("hand_back", task, worker)
            self.offer_task(task)

    def dispatch(self, task: int, worker: int, label: str) -> None:
        """Commit an assignment the view has validated: start it now if the worker is idle, else queue it."""
        state = self.state
        state.unlist_pending(task)
        state.task_worker[task] = worker
        assigned_task, assigned_worker, assigned_at, assigned_label = self.assignment_columns
        assigned_task.append(task)
        assigned_worker.append(worker)
        assigned_at.append(state.now)
        assigned_label.append(label)
        if self.observe is not None:
            self.observe("assign", task, worker)
        if state.worker_idle[worker]:
            state.mark_busy(worker)
            self.start_service(task, worker)
        else:
            state.enqueue(task, worker)

    def start_service(self, task: int, worker: int) -> None:
        """The worker starts the task now; its completion is scheduled."""
        state = self.state
        k = self.task_type[task]
        done, experience = state.worker_shift_done[worker], state.worker_experience[worker][k]
        multiplier = learning_and_fatigue(
            done,
            experience,
            self.fatigue_threshold,
            self.fatigue_minutes,
            self.learning_amplitude,
            self.learning_tau,
        )
        minutes = self.base_minutes[task] * self.speed[worker * self.n_types + k] * multiplier
        state.task_state[task] = IN_SERVICE
        state.worker_busy[worker] = task
        if self.observe is not None:
            self.observe("start", task, worker)
        self.started[task], self.minutes[task] = state.now, minutes
        self.shift_done_at_start[task], self.experience_at_start[task] = done, experience
        self.schedule(Completion(state.now + minutes, COMPLETION, next(self.seq), worker))

    def record_worker_status(self, worker: int, on_shift: bool) -> None:
        status_worker, status_at, status_on_shift, status_load = self.status_columns
        status_worker.append(worker)
        status_at.append(self.state.now)
        status_on_shift.append(on_shift)
        status_load.append(self.view.worker_load(worker))


def simulate(
    config: ScenarioConfig,
    arrivals: Arrivals,
    policy: Policy,
    seed: int,
    *,
    workforce: Workforce | None = None,
    drain: bool = False,
    max_drain_days: float = 30.0,
    record_status: bool = True,
    progress: Progress | None = None,
) -> SimResult:
    """Replay ``arrivals`` under ``policy``. Stops at the end of the arrival window, or with
    ``drain=True`` once every task is done (at most ``max_drain_days`` later)."""
    workforce = workforce or build_workforce(config, seed)
    noise = task_noise(seed, len(arrivals.tasks))
    horizon = arrivals.horizon
    stop = horizon + max_drain_days * MINUTES_PER_DAY if drain else horizon
    replay = _Replay(
        config, arrivals, workforce, policy, noise, stop=stop, record_status=record_status, progress=progress
    )
    replay.schedule_opening()
    policy.start(replay.view, random.Random(seed * 1_000_003 + POLICY_STREAM))
    replay.run(drain)
    if progress is not None:
        progress(replay.total_days, replay.total_days)
    return SimResult(
        config,
        arrivals,
        workforce,
        policy.name,
        seed,
        min(replay.state.now, stop) if drain else horizon,
        noise,
        worker=np.asarray(replay.state.task_worker),
        started=np.asarray(replay.started),
        completed=np.asarray(replay.completed),
        minutes=np.asarray(replay.minutes),
        shift_done=np.asarray(replay.shift_done_at_start),
        experience=np.asarray(replay.experience_at_start),
        assignments=replay.assignments,
        status=replay.status,
    )
