"""ChampionScorer: feature rows assembled by name, champion hot swap without restart."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from opsmatch.contract import TASK_TYPES
from serving.runtime.scoring import COLUMN_ROWS, MODELS, ChampionScorer, FeatureAssembler
from tests.factories.fakes import NOW, make_pool, make_task
from training.encoder import FeatureEncoder

WORKER_COLUMNS = (
    "worker_tenure_days",
    "wt_handling_ratio",
    "wt_qa_pass_rate",
    "wt_complaint_rate",
    "worker_handling_ratio",
    "worker_qa_pass_rate",
    "worker_complaint_rate",
)
FEATURES = [
    "task_complexity",
    "task_channel",
    "worker_province_id",
    "worker_tenure_days",
    "open_tasks",
    "hours_to_sla",
]


@dataclass
class LinearModel:
    """Predicts the sum of its encoded features (+ version), so the assembled row is observable."""

    version: str
    encoder: FeatureEncoder = field(
        default_factory=lambda: FeatureEncoder(
            FEATURES, {"task_channel": ["branch", "online"], "worker_province_id": ["P01", "P02", "P03"]}
        )
    )

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.features

    def predict(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        return np.nansum(X, axis=1) + float(self.version) / 100

    def contributions(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        return np.hstack([np.nan_to_num(X), np.zeros((len(X), 1))])


def _pool_with_snapshot():
    pool = make_pool(m=6, skill_level=3)
    n = len(pool)
    mats = {t: np.column_stack([np.arange(n) * 10.0] + [np.full(n, np.nan)] * 6) for t in TASK_TYPES}
    live = np.column_stack([np.ones(n), np.arange(n, dtype=float), np.zeros(n)])
    pool.handle = SimpleNamespace(matrices=mats, live=live)
    return pool


def test_pair_rows_assembled_by_feature_name() -> None:
    registry = dict.fromkeys(MODELS, "1")
    scorer = ChampionScorer(lambda m: LinearModel(registry[m]), registry.get, WORKER_COLUMNS)
    assert scorer.refresh() == list(MODELS) and scorer.ready()
    pool = _pool_with_snapshot()
    task = make_task(
        "T",
        "renewal",
        "P01",
        hours_to_sla=2.0,
        complexity=4,
        features={"task_complexity": 4, "task_channel": "online"},
    )
    out = scorer.score_pairs([task], pool, np.zeros(3, dtype=int), np.array([0, 2, 5]), now=NOW)
    # complexity 4 + channel code 1 + province code + tenure 10*i + open_tasks i + hours_to_sla 2
    prov = {"P01": 0, "P02": 1, "P03": 2}
    expected = [4 + 1 + prov[pool.province_ids[i]] + 10 * i + i + 2 + 0.01 for i in (0, 2, 5)]
    assert np.allclose(out.minutes, expected)
    risk = scorer.complaint_risk([task], now=NOW)
    assert risk.prob[0] == np.float64(4 + 1 + 2 + 0.01) and risk.contributions.shape == (1, len(FEATURES) + 1)


def test_champion_hot_swap_without_restart() -> None:
    registry = dict.fromkeys(MODELS, "1")
    loads: list[str] = []

    def load(m: str) -> LinearModel:
        loads.append(m)
        return LinearModel(registry[m])

    scorer = ChampionScorer(load, registry.get, WORKER_COLUMNS)
    scorer.refresh()
    assert scorer.refresh() == [] and len(loads) == 4  # unchanged versions are not reloaded
    registry["qa_pass"] = "2"
    assert scorer.refresh() == ["qa_pass"]
    assert scorer.versions()["qa_pass"] == "2" and scorer.versions()["handling_time"] == "1"
    pool = _pool_with_snapshot()
    out = scorer.score_pairs([make_task("T")], pool, np.zeros(1, dtype=int), np.array([1]), now=NOW)
    assert np.isclose(out.p_qa_pass[0] - out.minutes[0], 0.01)


def test_failed_load_keeps_serving_the_previous_champion() -> None:
    registry = dict.fromkeys(MODELS, "1")
    scorer = ChampionScorer(lambda m: LinearModel(registry[m]), registry.get, WORKER_COLUMNS)
    scorer.refresh()
    registry["complaint"] = "3"
    scorer._load = lambda m: (_ for _ in ()).throw(OSError("artifact store down"))
    assert scorer.refresh() == []
    assert scorer.versions()["complaint"] == "1" and scorer.ready()
    assert "artifact store down" in (scorer.last_error or "")


def test_not_ready_until_every_champion_exists() -> None:
    registry = {"handling_time": "1"}
    scorer = ChampionScorer(lambda m: LinearModel(registry[m]), registry.get, WORKER_COLUMNS)
    scorer.refresh()
    assert not scorer.ready() and scorer.versions() == {"handling_time": "1"}


def test_batched_pairs_use_each_task_types_own_worker_matrix() -> None:
    registry = dict.fromkeys(MODELS, "1")
    scorer = ChampionScorer(lambda m: LinearModel(registry[m]), registry.get, WORKER_COLUMNS)
    scorer.refresh()
    pool = _pool_with_snapshot()
    pool.handle.matrices["underwriting"] = pool.handle.matrices["renewal"] + 1000.0
    a = make_task("A", "renewal", hours_to_sla=0.0)
    b = make_task("B", "underwriting", hours_to_sla=0.0)
    batched = scorer.score_pairs([a, b], pool, np.array([1, 0, 1]), np.array([2, 2, 3]), now=NOW)
    alone_a = scorer.score_pairs([a], pool, np.array([0]), np.array([2]), now=NOW)
    alone_b = scorer.score_pairs([b], pool, np.array([0, 0]), np.array([2, 3]), now=NOW)
    assert np.allclose(batched.minutes, [alone_b.minutes[0], alone_a.minutes[0], alone_b.minutes[1]])
    assert batched.minutes[0] - batched.minutes[1] == 1000.0


def test_a_batch_of_task_rows_encodes_as_one_task_at_a_time() -> None:
    """Above COLUMN_ROWS tasks the rows are encoded a column at a time: the same numbers as one by one
    (categories known, unknown and missing; numbers as numbers, strings and missing)."""
    model = LinearModel("1")
    asm = FeatureAssembler(model, WORKER_COLUMNS)
    channels = ["online", "branch", "fax", None]
    complexity = [1, "2", None, 4.5, float("nan")]
    tasks = [
        make_task(
            f"T{i}",
            hours_to_sla=i / 7,
            features={"task_complexity": complexity[i % 5], "task_channel": channels[i % 4]},
        )
        for i in range(COLUMN_ROWS + 9)
    ]
    batch = asm.task_rows(tasks, NOW)
    alone = np.vstack([asm.task_rows([t], NOW) for t in tasks])
    np.testing.assert_array_equal(batch, alone)
    assert np.isnan(batch).any() and np.isfinite(batch).any()
