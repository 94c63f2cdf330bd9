"""The service's own components on the twin: champion scorer, worker pool, policy, ranking and assignment.

``ServingModels`` loads what ``bentoml serve`` loads (the champions through ``ChampionScorer``, the
worker profiles through ``CachedProfiles`` -> ``ProfileCache``) once. ``TwinService`` attaches them to a
replay: a private copy of the pool whose on-shift flags, open tasks and load ratios come from the
simulator's view (what ``POST /workers/status`` would push), task records built like an inline task,
and the serving ``Policy`` (default weights, the scenario's skill minimums; emergency close through the
same merge as ``PUT /policy``). Costs come from serving's own assembly
(``serving.matching.ranking.score_candidates`` / ``scored_pair_costs``, what ``rank_task`` ranks on);
batches go
through ``serving.tasks.plan.plan_by_arm`` (``POST /assign``'s path: the experiment's arm, if one
runs in the policy, decides each task, ML through ``assign_tasks`` or a baseline). The pool carries one
extra, inactive row: the "average worker" of each type (column means over the workers skilled for it),
the reference of a freed worker's comparative advantage (the oracle's rule, on learned costs); it is
never eligible.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from evaluation.task_features import TaskRecords, sim_datetime
from features.request_time import LIVE, NEVER, live_rows
from opsmatch.settings import Settings
from serving.config import Policy, ServiceConfig, default_policy, merge_policy
from serving.matching.eligibility import ProvinceRules, effective_capacity, eligible_workers, province_rules
from serving.matching.ranking import rank_task, score_candidates, scored_pair_costs
from serving.matching.roster import live_only
from serving.protocols import Scorer, WorkerPool
from serving.tasks.plan import Batch, plan_by_arm
from simulator.scenario import ScenarioConfig
from simulator.state import SimView

ACTOR = "twin-evaluation"


def twin_policy(config: ScenarioConfig, base: Policy | None = None) -> Policy:
    """The serving policy for a scenario: ``base`` (default: ``defaults.yaml``) plus the scenario's
    minimum skill level per task type (what the ops head would configure for this centre)."""
    base = base or default_policy()
    levels = {t.name: t.min_skill for t in config.task_types if t.min_skill > 1}
    return merge_policy(base, {"min_skill_level": levels}) if levels else base


@dataclass
class ServingModels:
    """Champion scorer and the worker pool of the profile cache (built at the end of the history)."""

    scorer: Scorer
    pool: WorkerPool

    @classmethod
    def from_settings(cls, settings: Settings) -> ServingModels:
        """Load the champions and the profiles of ``settings`` (raises if either is missing)."""
        from features.profile_cache import PAIR_COLUMNS, WORKER_COLUMNS
        from serving.runtime.components import CachedProfiles
        from serving.runtime.scoring import ChampionScorer
        from training.registry import client_for, registered_name, version_for_alias
        from training.serving_form import load_champion

        def current(model: str) -> str | None:
            mv = version_for_alias(client_for(settings), registered_name(model), "champion")
            return None if mv is None else str(mv.version)

        # The replay drives the live columns itself (stamped at every sync), so no request-time TTL.
        scorer = ChampionScorer(
            lambda m: load_champion(settings, m), current, WORKER_COLUMNS + PAIR_COLUMNS, apply_ttl=False
        )
        scorer.refresh()
        if not scorer.ready():
            raise RuntimeError(f"champions not all loadable: {scorer.last_error or 'no champion alias'}")
        return cls(scorer, CachedProfiles(settings).snapshot())


class TwinService:
    """One replay's view of the service (see the module docstring)."""

    def __init__(self, models: ServingModels, view: SimView, policy: Policy) -> None:
        base, snap = models.pool, models.pool.handle
        n = len(base)
        self.avg_row = n  # a synthetic "average worker" row: the reference of comparative advantage
        matrices = {t: np.vstack([m, _average_row(m, base, t, policy)]) for t, m in snap.matrices.items()}
        live = np.zeros((n + 1, snap.live.shape[1]))
        live[n, LIVE["on_shift"]] = 1.0  # on shift, no open task
        self.live_at = np.full(n + 1, NEVER, dtype=np.int64)
        self.pool = WorkerPool(
            worker_ids=np.append(base.worker_ids, "__average__"),
            province_ids=np.append(base.province_ids, ""),
            task_types=base.task_types,
            skills=np.vstack([base.skills, np.zeros((1, len(base.task_types)), dtype=base.skills.dtype)]),
            capacity=np.append(base.capacity, 1),
            open_tasks=np.zeros(n + 1, dtype=np.int64),
            on_shift=np.zeros(n + 1, dtype=bool),
            active=np.append(base.active, False),
            type_median_minutes=base.type_median_minutes,
            refreshed_at=base.refreshed_at,
            handle=replace(
                snap,
                matrices=matrices,
                live=live,
                live_at=self.live_at,
                capacity=np.append(snap.capacity, 1.0),
            ),
        )
        self.live = live
        index = self.pool.index
        missing = [w for w in view.worker_ids if w not in index]
        if missing:
            raise ValueError(f"{len(missing)} simulated workers have no profile, e.g. {missing[0]}")
        self.row = np.array([index[w] for w in view.worker_ids], dtype=np.int64)
        self.sim_of = np.full(n + 1, -1, dtype=np.int64)
        self.sim_of[self.row] = np.arange(len(self.row))
        self.scorer, self.view, self.policy = models.scorer, view, policy
        self.tasks = TaskRecords(view)
        self.capacity = np.maximum(self.pool.capacity.astype(float), 1.0)
        self.arms: Counter[str] = Counter()  # tasks each experiment arm decided (``assign``)

    @property
    def policy(self) -> Policy:
        """The serving policy in force (set it to apply a PUT /policy change)."""
        return self._policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._policy = policy
        self.rules: ProvinceRules = province_rules(policy, self.pool.provinces)
        self.capacity_limit = effective_capacity(self.pool, policy)

    # -- live status (what POST /workers/status pushes) ---------------------------------------------
    def sync(self, workers: Sequence[int]) -> np.ndarray:
        """Refresh the pool rows of simulated ``workers``; returns their pool rows."""
        v, rows = self.view, self.row[np.asarray(workers, dtype=np.int64)]
        on = np.array([v.worker_on_shift[w] for w in workers], dtype=bool)
        load = np.array([v.worker_load(w) for w in workers], dtype=np.int64)
        self.pool.on_shift[rows] = on
        self.pool.open_tasks[rows] = load
        self.live[rows] = live_rows(on, load, self.capacity[rows])
        now_us = int(sim_datetime(v).timestamp() * 1_000_000)
        self.live_at[rows] = now_us
        self.live_at[self.avg_row] = now_us
        return rows

    def mask(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(self.pool), dtype=bool)
        out[rows] = True
        return out

    # -- ranking (POST /rank) ------------------------------------------------------------------------
    def costs(self, task: int, workers: Sequence[int]) -> np.ndarray:
        """Serving cost of ``task`` for each simulated worker (np.inf where the service excludes it)."""
        rows = self.sync(workers)
        cand = score_candidates(
            self.tasks.record(task),
            self.pool,
            self.scorer,
            self.policy,
            sim_datetime(self.view),
            requested=self.mask(rows),
        )
        out = np.full(len(self.pool), np.inf)
        out[cand.workers] = cand.costs.total
        return out[rows]

    def rank(self, task: int, workers: Sequence[int], config: ServiceConfig | None = None) -> int:
        """The service's top-ranked worker among simulated ``workers`` (``rank_task``), or -1, with the
        service's /rank settings in ``config`` (``rank_prescreen``, ``rank_prescreen_share``,
        ``min_eligible``; None: score every candidate)."""
        rows = self.sync(workers)
        res = rank_task(
            self.tasks.record(task),
            self.pool,
            self.scorer,
            self.policy,
            sim_datetime(self.view),
            1,
            requested=self.mask(rows),
            prescreen=config.rank_prescreen if config else 0,
            prescreen_share=config.rank_prescreen_share if config else 0.0,
            min_eligible=config.min_eligible if config else 0,
        )
        return int(self.sim_of[res.workers[0]]) if len(res.workers) else -1

    def allowed(self, tasks: Sequence[int], worker: int) -> list[int]:
        """The ``tasks`` the service lets ``worker`` take (eligibility: sharing, close, skill, load)."""
        rows = self.sync([worker])
        requested = self.mask(rows)
        seen: dict[tuple[str, str], bool] = {}
        out = []
        for t in tasks:
            key = (self.tasks.types[t], self.tasks.provinces[t])
            if key not in seen:
                seen[key] = bool(
                    eligible_workers(
                        self.pool,
                        key[0],
                        key[1],
                        self.policy,
                        rules=self.rules,
                        capacity=self.capacity_limit,
                        requested=requested,
                    ).mask[rows[0]]
                )
            if seen[key]:
                out.append(t)
        return out

    def pair_costs(self, tasks: Sequence[int], workers: Sequence[int]) -> np.ndarray:
        """Serving costs of the pairs (tasks[i], workers[i]), in one scorer call (no eligibility)."""
        self.sync(sorted(set(workers)))
        return self._score_rows(tasks, self.row[np.asarray(workers, dtype=np.int64)])

    def advantage(self, tasks: Sequence[int], worker: int) -> np.ndarray:
        """Serving cost of each task for ``worker`` minus its cost for the average worker (one call)."""
        self.sync([worker])
        n = len(tasks)
        rows = np.r_[np.full(n, self.row[worker]), np.full(n, self.avg_row)]
        both = self._score_rows([*tasks, *tasks], rows)
        return both[:n] - both[n:]

    def _score_rows(self, tasks: Sequence[int], rows: np.ndarray) -> np.ndarray:
        uniq = sorted(set(tasks))
        pos = {t: i for i, t in enumerate(uniq)}
        recs = [self.tasks.record(t) for t in uniq]
        t_idx = np.array([pos[t] for t in tasks], dtype=np.int64)
        now = sim_datetime(self.view)
        scores = self.scorer.score_pairs(recs, self.pool, t_idx, rows, now=now)
        return scored_pair_costs(recs, scores, t_idx, rows, self.pool, self.policy, now).total

    # -- assignment (POST /assign) -------------------------------------------------------------------
    def assign(
        self,
        tasks: Sequence[int],
        workers: Sequence[int],
        *,
        full_scoring_pairs: int = 300_000,
        candidates: int = 64,
    ) -> list[tuple[int, int, str]]:
        """``plan_by_arm`` (ML: ``assign_tasks``) over simulated ``tasks`` and the free ``workers``:
        (task, worker, deciding arm) triples.

        ``full_scoring_pairs`` and ``candidates`` are the service's ``assign_full_scoring_pairs`` and
        ``assign_candidates_per_task`` settings."""
        if not tasks or not workers:
            return []
        rows = self.sync(workers)
        recs = [self.tasks.record(t) for t in tasks]
        batch = Batch(
            self.pool,
            self.scorer,
            self.policy,
            sim_datetime(self.view),
            live_only(self.pool.on_shift),
            ServiceConfig(
                assign_full_scoring_pairs=full_scoring_pairs, assign_candidates_per_task=candidates
            ),
            self.mask(rows),
        )
        out = []
        for part in plan_by_arm(recs, batch, self.policy.experiment):
            self.arms[part.arm] += len(part.index)
            chosen = part.plan.result.worker
            out += [
                (tasks[part.index[i]], int(self.sim_of[w]), part.arm) for i, w in enumerate(chosen) if w >= 0
            ]
        return out


def _average_row(matrix: np.ndarray, pool: WorkerPool, task_type: str, policy: Policy) -> np.ndarray:
    """Column means over the workers skilled for ``task_type`` (NaN-aware): a typical eligible worker."""
    need = policy.min_skill_level.get(task_type, 1)  # type: ignore[call-overload]
    skilled = pool.skills[:, pool.type_column(task_type)] >= need
    rows = matrix[skilled] if skilled.any() else matrix
    with warnings.catch_warnings():  # all-NaN columns (no history of the type) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(rows, axis=0)
