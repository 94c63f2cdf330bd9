"""The discrete-event engine: replays arrivals under a dispatch policy.

Events (heapq): shift start/end, disruption on/off, task completion, policy tick, status snapshot and
day marks; arrivals are merged from the pre-sorted arrival list. Per-task noise is pre-drawn from the
seed (common random numbers), so replays of the same arrivals differ only through the policy.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from simulator.arrivals import Arrivals
from simulator.clock import MINUTES_PER_DAY
from simulator.policies import Policy
from simulator.scenario import ScenarioConfig
from simulator.state import DONE, IN_SERVICE, SimView, learning_and_fatigue
from simulator.workforce import Workforce, build_workforce

NOISE_STREAM = 31
POLICY_STREAM = 41
N_NOISE = 12  # uniforms per task: 0 handling time, 1.. outcomes (see outcomes.py)
# event kinds, also their priority at equal times
SHIFT_END, DISRUPT, COMPLETE, SHIFT_START, ARRIVAL, TICK, SNAPSHOT, DAY = range(8)


def task_noise(seed: int, n_tasks: int) -> np.ndarray:
    """Uniform noise [n_tasks, N_NOISE] fixed by (seed, task index): common random numbers."""
    return np.random.default_rng([seed, NOISE_STREAM]).random((n_tasks, N_NOISE))


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
    assignments: dict[str, list] = field(default_factory=dict)  # task, worker, at, policy
    status: dict[str, list] = field(default_factory=dict)  # worker, at, on_shift, open_tasks


class _Shifts:
    """Shift calendar of each worker in simulation minutes."""

    def __init__(self, config: ScenarioConfig, wf: Workforce) -> None:
        self.origin = [config.local_origin(p) for p in range(len(config.provinces))]
        self.wf = wf

    def next(self, w: int, t_from: float) -> tuple[float, float]:
        """First shift of worker ``w`` that ends after ``t_from`` (it may already be in progress)."""
        m0, wd0 = self.origin[self.wf.province[w]]
        h, dur = self.wf.shift_start[w] * 60.0, self.wf.shift_hours[w] * 60.0
        d0 = int((t_from + m0) // MINUTES_PER_DAY) - 1
        for d in range(d0, d0 + 9):
            s = d * MINUTES_PER_DAY + h - m0
            if self.wf.work_days[w, (wd0 + d) % 7] and s + dur > t_from:
                return s, s + dur
        return math.inf, math.inf


def _view(config: ScenarioConfig, arrivals: Arrivals, wf: Workforce, base: list[float]) -> SimView:
    tk = arrivals.tasks
    sla = np.array([t.sla_hours for t in config.task_types])[tk["k"].to_numpy()] * 60 + tk["t"].to_numpy()
    tasks = {
        "ids": tk["task_id"].tolist(),
        "k": tk["k"].tolist(),
        "p": tk["p"].tolist(),
        "t": tk["t"].tolist(),
        "sla": sla.tolist(),
        "c": tk["complexity"].tolist(),
        "base": base,
    }
    elig = wf.eligible
    workers = {
        "ids": wf.workers["worker_id"].tolist(),
        "p": wf.province.tolist(),
        "types": [np.flatnonzero(elig[w]).tolist() for w in range(len(elig))],
        "capacity": wf.capacity.tolist(),
        "eligible": elig,
        "always_on": config.workforce.always_on,
        "experience": wf.truth.experience0.astype(int).tolist(),
    }
    return SimView(
        len(config.provinces),
        len(config.task_types),
        tasks,
        workers,
        {"arrivals": arrivals, "workforce": wf, "config": config},
    )


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
    progress: Callable[[float, float], None] | None = None,
) -> SimResult:
    """Replay ``arrivals`` under ``policy``. Stops at the end of the arrival window, or with
    ``drain=True`` once every task is done (at most ``max_drain_days`` later)."""
    wf = workforce or build_workforce(config, seed)
    tk = arrivals.tasks
    n = len(tk)
    noise = task_noise(seed, n)
    k_arr = tk["k"].to_numpy()
    sigma = np.array([t.sigma for t in config.task_types])[k_arr]
    expo = np.array([t.distribution == "exponential" for t in config.task_types])[k_arr]
    mult = np.where(expo, -np.log1p(-noise[:, 0]), np.exp(sigma * ndtri(noise[:, 0])))
    cx = np.asarray(config.behaviour.complexity_minutes)[tk["complexity"].to_numpy() - 1]
    base = (np.array([t.median_minutes for t in config.task_types])[k_arr] * cx * mult).tolist()
    v = _view(config, arrivals, wf, base)
    v.policy_name = policy.name
    K = v.n_types
    speed = wf.truth.speed.ravel().tolist()
    b = config.behaviour
    thr, fat, amp, tau = b.fatigue_threshold, b.fatigue_minutes, b.learning_amplitude, b.learning_tau

    started = [math.nan] * n
    completed = [math.nan] * n
    minutes = [math.nan] * n
    sdone = [0] * n
    sexp = [0] * n
    a_task: list[int] = []
    a_worker: list[int] = []
    a_at: list[float] = []
    a_pol: list[str] = []
    s_w: list[int] = []
    s_at: list[float] = []
    s_on: list[bool] = []
    s_load: list[int] = []
    heap: list[tuple] = []
    seq = 0

    def push(t: float, kind: int, a: int = 0, x: float = 0.0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, kind, seq, a, x))

    def log_assign(task: int, w: int, label: str) -> None:
        a_task.append(task)
        a_worker.append(w)
        a_at.append(v.now)
        a_pol.append(label)

    def start(task: int, w: int) -> None:
        k = v.task_type[task]
        done, exp = v.worker_shift_done[w], v.worker_experience[w][k]
        m = base[task] * speed[w * K + k] * learning_and_fatigue(done, exp, thr, fat, amp, tau)
        v.task_state[task] = IN_SERVICE
        v.worker_busy[w] = task
        started[task], minutes[task], sdone[task], sexp[task] = v.now, m, done, exp
        push(v.now + m, COMPLETE, w)

    v._start_task, v._log_assign = start, log_assign
    period = config.status_every_hours * 60.0

    def go_off(w: int) -> None:
        v.worker_on_shift[w] = False
        if v._idle[w]:
            v._set_busy(w)
        if record_status:
            s_w.append(w), s_at.append(v.now), s_on.append(False), s_load.append(v.worker_load(w))
        for task in v._take_queue(w):
            v._make_pending(task)
            policy.on_task(v, task)
            v._enqueue(task)

    def go_on(w: int) -> None:
        v.worker_on_shift[w] = True
        v.worker_shift_done[w] = 0
        if record_status and v.now % period:
            s_w.append(w), s_at.append(v.now), s_on.append(True), s_load.append(v.worker_load(w))
        if v.worker_busy[w] < 0 and v.accepting(w):
            v._set_idle(w)
            policy.on_worker_free(v, w)

    t0 = arrivals.start_day * MINUTES_PER_DAY
    horizon = arrivals.horizon
    stop = horizon + max_drain_days * MINUTES_PER_DAY if drain else horizon
    v.now = t0
    shifts = _Shifts(config, wf)
    disrupted = [False] * v.n_provinces
    for w in range(v.n_workers):
        if config.workforce.always_on:
            push(t0, SHIFT_START, w, math.inf)
        else:
            s, e = shifts.next(w, t0)
            push(max(s, t0), SHIFT_START, w, e)
    for d in config.disruptions:
        p = config.province_index(d.province)
        m0 = config.local_origin(p)[0]
        on = d.day * MINUTES_PER_DAY + d.hour * 60 - m0
        push(on, DISRUPT, p, 1.0)
        push(on + d.duration_hours * 60, DISRUPT, p, 0.0)
    if record_status:
        push(math.ceil(t0 / period) * period, SNAPSHOT)
    tick = policy.tick_minutes
    if tick:
        push(t0 + tick, TICK)
    for day in range(1, int(math.ceil((stop - t0) / MINUTES_PER_DAY)) + 1):
        push(t0 + day * MINUTES_PER_DAY, DAY, day)
    policy.start(v, random.Random(seed * 1_000_003 + POLICY_STREAM))

    t_arr = tk["t"].tolist()
    ai, n_done, total_days = 0, 0, (horizon - t0) / MINUTES_PER_DAY
    while True:
        if ai < n and (
            not heap or t_arr[ai] < heap[0][0] or (t_arr[ai] == heap[0][0] and heap[0][1] > ARRIVAL)
        ):
            if t_arr[ai] >= stop:
                break
            v.now = t_arr[ai]
            task, ai = ai, ai + 1
            v._make_pending(task)
            policy.on_task(v, task)
            v._enqueue(task)
            continue
        if not heap:
            break
        now, kind, _, a, x = heapq.heappop(heap)
        if now >= stop:
            break
        v.now = now
        if kind == COMPLETE:
            w, task = a, v.worker_busy[a]
            k = v.task_type[task]
            completed[task] = now
            v.task_state[task] = DONE
            n_done += 1
            v.worker_busy[w] = -1
            v.worker_shift_done[w] += 1
            v.worker_experience[w][k] += 1
            q = v._queue[w]
            if q:
                start(q.popleft(), w)
            elif v.accepting(w):
                v._set_idle(w)
                policy.on_worker_free(v, w)
            if drain and n_done == n and ai >= n:
                break
        elif kind == SHIFT_START:
            if not disrupted[wf.province[a]]:
                go_on(a)
            if x < math.inf:
                push(x, SHIFT_END, a)
        elif kind == SHIFT_END:
            if v.worker_on_shift[a]:
                go_off(a)
            s, e = shifts.next(a, now)
            push(s, SHIFT_START, a, e)
        elif kind == TICK:
            policy.on_tick(v)
            push(now + tick, TICK)
        elif kind == SNAPSHOT:
            for w in range(v.n_workers):
                if v.worker_on_shift[w]:
                    s_w.append(w), s_at.append(now), s_on.append(True), s_load.append(v.worker_load(w))
            push(now + period, SNAPSHOT)
        elif kind == DISRUPT:
            disrupted[a] = bool(x)
            if x:
                for w in np.flatnonzero(wf.province == a).tolist():
                    if v.worker_on_shift[w]:
                        go_off(w)
        elif kind == DAY and progress is not None and a < total_days:
            progress(float(a), total_days)
        if drain and n_done == n and ai >= n:
            break

    if progress is not None:
        progress(total_days, total_days)
    end = min(v.now, stop) if drain else horizon
    return SimResult(
        config,
        arrivals,
        wf,
        policy.name,
        seed,
        end,
        noise,
        worker=np.asarray(v.task_worker),
        started=np.asarray(started),
        completed=np.asarray(completed),
        minutes=np.asarray(minutes),
        shift_done=np.asarray(sdone),
        experience=np.asarray(sexp),
        assignments={"task": a_task, "worker": a_worker, "at": a_at, "policy": a_pol},
        status={"worker": s_w, "at": s_at, "on_shift": s_on, "open_tasks": s_load},
    )
