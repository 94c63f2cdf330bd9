"""The named dispatch policies an evaluation can replay, built fresh for every replay.

| name | what |
| --- | --- |
| ``legacy_fifo`` | province-local FIFO, the old way (no exploration) |
| ``national_least_busy`` | national skills-based routing to the least busy idle worker |
| ``ml_ranking`` | the service's /rank per task (champions + serving cost, default weights) |
| ``ml_batch`` | the service's /assign every 5 minutes over the head of the backlog |
| ``oracle`` | greedy dispatch on the true expected cost (the only reader of the truth) |
| ``oracle_batch``, ``legacy_fifo_explore``, ``ml_ranking_fifo`` | variants |
| ``ml_ranking_prev``, ``ml_watchlist_prev`` | the same, with the weights before issue 15 |
| ``watchlist_random`` | ``legacy_fifo`` + the risk team contacting customers at random (the control) |
| ``ml_watchlist`` | ``ml_ranking`` + the risk team working the served model's watchlist (``watchlist.py``) |
| ``ml_watchlist_text`` | ``ml_watchlist`` + what customers said + escalation weights (issue 27) |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evaluation.ml_policies import MLBatchPolicy, MLRankingPolicy, PolicyChange
from evaluation.prevention_severity import EscalationShares
from evaluation.twin_service import ServingModels
from evaluation.voice_scores import VoiceModels
from evaluation.watchlist import WatchlistPolicy
from opsmatch.settings import Settings
from serving.config import default_policy, merge_policy
from simulator.oracle import OracleBatchPolicy, OraclePolicy
from simulator.policies import LegacyPolicy, NationalLeastBusyPolicy, Policy
from simulator.truth import Truth

DEFAULT_POLICIES: tuple[str, ...] = (
    "legacy_fifo",
    "national_least_busy",
    "ml_ranking",
    "ml_batch",
    "oracle",
    "watchlist_random",
    "ml_watchlist",
)
BASELINES: tuple[str, ...] = ("legacy_fifo", "national_least_busy")
ORACLE = "oracle"
CONTROL = "watchlist_random"  # the risk team's control: FIFO + random contacts at the same capacity


@dataclass
class PolicyContext:
    """What policies are built from: the truth (oracle only), the served models (ML only, loaded lazily)
    and scheduled serving-policy changes (ML only, e.g. an emergency close)."""

    truth: Truth
    settings: Settings | None = None
    changes: Sequence[PolicyChange] = ()
    models: ServingModels | None = field(default=None, repr=False)
    voice: VoiceModels | None = field(default=None, repr=False)
    shares: EscalationShares | None = field(default=None, repr=False)

    def served(self) -> ServingModels:
        if self.models is None:
            if self.settings is None:
                raise ValueError("ML policies need settings (champions and profiles) or loaded models")
            self.models = ServingModels.from_settings(self.settings)
        return self.models

    def voiced(self) -> VoiceModels:
        """The text model and the text-aware risk (champions of ``opsmatch text train``)."""
        if self.voice is None:
            if self.settings is None:
                raise ValueError("the text-aware watchlist needs settings (its champions) or loaded models")
            self.voice = VoiceModels.from_settings(self.settings)
        return self.voice

    def escalation(self) -> EscalationShares:
        """P(high severity | complaint) by what is known at completion, from the history's tables."""
        if self.shares is None:
            if self.settings is None:
                raise ValueError("the severity-weighted watchlist needs settings (the history)")
            self.shares = EscalationShares.from_settings(self.settings)
        return self.shares


# The unit-free weights before issue 15 (parts in type-median handling times: complaint 3, QA failure 2,
# load 0.5, hand-off 0.3, SLA and shift overrun 1 per median, capped at 5 medians), in minute-equivalents
# at a 30-minute median (the median of the type medians in serving/defaults.yaml: 10-60 min). Within one
# task a cost scaled by its type's median ranks the workers alike, so for /rank this is the old policy
# up to the type's median being 30 min.
PREVIOUS_MEDIAN_MINUTES = 30.0
PREVIOUS_WEIGHTS: dict[str, object] = {
    "weights": {
        "efficiency": 1.0,
        "quality": 2.0 * PREVIOUS_MEDIAN_MINUTES,
        "complaint": 3.0 * PREVIOUS_MEDIAN_MINUTES,
        "load": 0.5 * PREVIOUS_MEDIAN_MINUTES,
        "cross_province": 0.3 * PREVIOUS_MEDIAN_MINUTES,
        "sla": 60.0,
        "shift_end": 60.0,
    },
    "sla_cap": 5.0 * PREVIOUS_MEDIAN_MINUTES / 60.0,
}


def _previous(ctx: PolicyContext) -> MLRankingPolicy:
    weights = merge_policy(default_policy(), PREVIOUS_WEIGHTS)
    return MLRankingPolicy(ctx.served(), weights, changes=ctx.changes, name="ml_ranking_prev")


FACTORIES: dict[str, Callable[[PolicyContext], Policy]] = {
    "legacy_fifo": lambda ctx: LegacyPolicy(explore=False),
    "legacy_fifo_explore": lambda ctx: LegacyPolicy(explore=True),
    "national_least_busy": lambda ctx: NationalLeastBusyPolicy(),
    "ml_ranking": lambda ctx: MLRankingPolicy(ctx.served(), changes=ctx.changes),
    "ml_ranking_fifo": lambda ctx: MLRankingPolicy(
        ctx.served(), choose="fifo", changes=ctx.changes, name="ml_ranking_fifo"
    ),
    "ml_ranking_prev": _previous,
    "ml_watchlist_prev": lambda ctx: WatchlistPolicy(_previous(ctx), ctx.served(), name="ml_watchlist_prev"),
    "ml_batch": lambda ctx: MLBatchPolicy(ctx.served(), changes=ctx.changes),
    "oracle": lambda ctx: OraclePolicy(ctx.truth),
    "watchlist_random": lambda ctx: WatchlistPolicy(LegacyPolicy(explore=False), None, name=CONTROL),
    "ml_watchlist": lambda ctx: WatchlistPolicy(
        MLRankingPolicy(ctx.served(), changes=ctx.changes), ctx.served(), name="ml_watchlist"
    ),
    "ml_watchlist_text": lambda ctx: WatchlistPolicy(
        MLRankingPolicy(ctx.served(), changes=ctx.changes),
        ctx.served(),
        name="ml_watchlist_text",
        voice=ctx.voiced,  # loaded when the team ranks, after the replay
        severity=ctx.escalation,
    ),
    "oracle_batch": lambda ctx: OracleBatchPolicy(ctx.truth),
}


def is_ml(name: str) -> bool:
    return name.startswith("ml_")


def is_compared(name: str) -> bool:
    """Policies whose ratios to the references are reported: the ML ones and the risk-team control."""
    return is_ml(name) or name == CONTROL


def check_names(names: Sequence[str]) -> list[str]:
    """The names, validated (unknown names raise with the list of known ones)."""
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ValueError(f"unknown policies {unknown}; known: {', '.join(FACTORIES)}")
    if len(set(names)) != len(names):
        raise ValueError("duplicate policy names")
    return list(names)


def build_policy(name: str, ctx: PolicyContext) -> Policy:
    """A fresh policy object for one replay."""
    policy = FACTORIES[name](ctx)
    policy.name = name
    return policy
