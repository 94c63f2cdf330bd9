"""Rule-based fallback of ranking and assignment: failing or non-finite models, and tiny pools."""

from __future__ import annotations

import numpy as np

from serving.config import Policy
from serving.matching.fallback import FEW_ELIGIBLE, MODEL_ERROR, NON_FINITE, rule_scores
from serving.matching.ranking import assign_tasks, rank_task
from tests.factories.fakes import NOW, FakeScorer, make_pool, make_task


class BrokenScorer(FakeScorer):
    """The champions cannot score (files gone, a bad booster): ``score_pairs`` raises or returns NaN."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def score_pairs(self, tasks, pool, task_idx, worker_idx, *, now=None):  # noqa: ANN001, ANN201
        if self.mode == "raise":
            raise FileNotFoundError("model.txt")
        scores = super().score_pairs(tasks, pool, task_idx, worker_idx, now=now)
        scores.p_qa_pass[::2] = np.nan
        return scores


def _by_rules(task, pool, top_k: int = 5) -> list[int]:  # noqa: ANN001
    """The expected ranking: the same costs, with the profile prior in place of the models."""

    class PriorOnly(FakeScorer):
        def score_pairs(self, tasks, pool, task_idx, worker_idx, *, now=None):  # noqa: ANN001, ANN201
            return rule_scores(self, tasks, pool, task_idx, worker_idx)

    return rank_task(task, pool, PriorOnly(), Policy(), NOW, top_k).workers.tolist()


def test_rank_falls_back_to_rules_when_the_models_fail_or_return_nan() -> None:
    pool = make_pool(m=60, seed=4, skill_level=3, open_tasks=0)
    task = make_task("T", hours_to_sla=8.0)
    healthy = rank_task(task, pool, FakeScorer(), Policy(), NOW, 5)
    assert healthy.fallback is None
    for mode, reason in (("raise", MODEL_ERROR), ("nan", NON_FINITE)):
        res = rank_task(task, pool, BrokenScorer(mode), Policy(), NOW, 5)
        assert res.fallback == reason and len(res.workers) == 5
        assert np.all(np.isfinite(res.costs.total))
        assert res.workers.tolist() == _by_rules(task, pool)


def test_too_few_eligible_workers_skip_the_models() -> None:
    pool = make_pool(m=8, seed=4, skill_level=3, open_tasks=0)
    task = make_task("T", hours_to_sla=8.0)
    scorer = FakeScorer()
    res = rank_task(task, pool, scorer, Policy(), NOW, 3, min_eligible=50)
    assert res.fallback == FEW_ELIGIBLE and scorer.pairs_scored == 0
    assert res.workers.tolist() == _by_rules(task, pool, 3)
    assert rank_task(task, pool, scorer, Policy(), NOW, 3, min_eligible=2).fallback is None


def test_assign_falls_back_and_still_assigns() -> None:
    pool = make_pool(m=30, seed=5, skill_level=3, open_tasks=0)
    tasks = [make_task(f"T{i}", hours_to_sla=4.0 + i) for i in range(6)]
    plan = assign_tasks(tasks, pool, BrokenScorer("raise"), Policy(), NOW)
    assert plan.fallback == MODEL_ERROR
    assert (plan.result.worker >= 0).sum() == len(tasks)
    assert np.all(np.isfinite(plan.p_qa_pass))
    assert assign_tasks(tasks, pool, FakeScorer(), Policy(), NOW).fallback is None
