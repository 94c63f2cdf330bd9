"""Twin A/B: the same arrivals replayed under every policy, KPIs per policy, paired ratios, target checks.

The evaluation period follows the history the champions were trained on (``replay.evaluation_period``):
for each seed, fresh arrivals with the same workforce, truth and experience; every policy replays the
same arrivals with the same per-task noise, so comparisons are paired by seed. Ratios are the mean of
the per-seed ratios with a Student t interval over the seeds. With ``scenario="snowstorm"`` every
policy also replays each seed's arrivals with the storm (``snowstorm.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from evaluation.alert_quality import alert_precision
from evaluation.kpis import LOWER_IS_BETTER, compute_kpis
from evaluation.policy_set import (
    BASELINES,
    CONTROL,
    DEFAULT_POLICIES,
    ORACLE,
    PolicyContext,
    build_policy,
    check_names,
    is_compared,
    is_ml,
)
from evaluation.replay import evaluation_period, history_info, run_policy
from evaluation.snowstorm import STORM_SCENARIO, Storm, place_storm, storm_figures
from evaluation.stats import Interval, paired_difference, paired_ratio
from evaluation.targets import Target, check_targets
from evaluation.voice_report import text_champion_table
from evaluation.watchlist import WatchlistPolicy, frontier, team_kpis, team_work, voice_kpis
from opsmatch.settings import Settings
from simulator.outcomes import task_outcomes

Progress = Callable[[float, float], None]
COMPARED_KPIS: tuple[str, ...] = (
    "mean_turnaround_h",
    "p90_turnaround_h",
    "sla_attainment",
    "qa_pass_rate",
    "complaint_rate",
    "escalated_rate",
    "mean_p_complaint",
    "true_cost_total",
    "peak_backlog",
    "util_province_cv",
)


@dataclass(frozen=True)
class Comparison:
    """Ratio policy / reference of one KPI over the seeds."""

    policy: str
    reference: str
    kpi: str
    ratio: Interval

    @property
    def better(self) -> bool | None:
        """Whether the point estimate favours ``policy`` (None when equal or undefined)."""
        r = self.ratio.estimate
        if r != r or r == 1.0:
            return None
        return (r < 1.0) == (self.kpi in LOWER_IS_BETTER)


@dataclass
class SnowstormReport:
    """Storm placement and per-(policy, seed) figures with and without the storm."""

    storm: Storm
    runs: pd.DataFrame  # policy, seed, redispatch figures, sla_storm, sla_base, sla_delta

    def summary(self) -> pd.DataFrame:
        """Per policy: re-dispatch minutes (mean and max over seeds; NaN unless every seed re-dispatched
        every pending task), stranded tasks, and the national SLA change with a CI."""
        rows = []
        for policy, g in self.runs.groupby("policy", sort=False):
            delta = paired_difference(g["sla_storm"], g["sla_base"])
            every = bool((g["all_redispatched"] == 1).all())
            rows.append(
                {
                    "policy": policy,
                    "pending_at_event": g["pending_at_event"].mean(),
                    "redispatched": g["redispatched"].mean(),
                    "stranded": g["stranded"].mean(),
                    "redispatch_minutes": g["redispatch_minutes"].mean() if every else float("nan"),
                    "redispatch_minutes_max": g["redispatch_minutes"].max() if every else float("nan"),
                    "all_redispatched_share": g["all_redispatched"].mean(),
                    "storm_province_sla": g["storm_province_sla"].mean(),
                    "storm_province_wait_h": g["storm_province_wait_h"].mean(),
                    "storm_province_p90_wait_h": g["storm_province_p90_wait_h"].mean(),
                    "national_sla_base": g["sla_base"].mean(),
                    "national_sla_storm": g["sla_storm"].mean(),
                    "national_sla_delta": delta.estimate,
                    "delta_low": delta.low,
                    "delta_high": delta.high,
                }
            )
        return pd.DataFrame(rows)


@dataclass
class ABReport:
    """Everything the twin A/B measured (see the module docstring)."""

    scenario: str
    days: int
    seeds: tuple[int, ...]
    policies: list[str]
    runs: pd.DataFrame  # one row per (policy, seed): KPIs and seconds
    province_util: pd.DataFrame  # policy, seed, province_id, utilisation
    comparisons: list[Comparison] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    model_versions: dict[str, str] = field(default_factory=dict)
    ran_with: dict[str, dict[str, float]] = field(default_factory=dict)  # policy -> service settings used
    history: dict[str, object] = field(default_factory=dict)
    snowstorm: SnowstormReport | None = None
    notes: list[str] = field(default_factory=list)
    frontier: pd.DataFrame = field(default_factory=pd.DataFrame)  # policy, seed, capacity x effect, rates
    frontier_config: dict[str, float] = field(default_factory=dict)  # the scenario's risk-team defaults
    text_table: dict[str, dict[str, float]] = field(default_factory=dict)  # the text champion's holdout

    def frontier_summary(self, reference: str = "legacy_fifo") -> pd.DataFrame:
        """Per policy x capacity x effect: complaint and escalated ratios to ``reference`` (95 % CI)."""
        if self.frontier.empty or reference not in self.policies:
            return pd.DataFrame()
        ref = self.runs.set_index(["policy", "seed"]).loc[reference]
        rows = []
        for (policy, cap, eff), g in self.frontier.groupby(
            ["policy", "capacity_share", "effect"], sort=False
        ):
            g = g.set_index("seed")
            seeds = g.index.intersection(ref.index)
            row: dict[str, object] = {"policy": policy, "capacity_share": cap, "effect": eff}
            for kpi in ("complaint_rate", "escalated_rate"):
                r = paired_ratio(g.loc[seeds, kpi], ref.loc[seeds, kpi])
                row.update({f"{kpi}_ratio": r.estimate, f"{kpi}_low": r.low, f"{kpi}_high": r.high})
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Mean KPI per policy over the seeds (policies in evaluation order)."""
        num = self.runs.drop(columns=["seed"]).groupby("policy", sort=False).mean(numeric_only=True)
        return num.reindex(self.policies)

    def comparison_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "policy": c.policy,
                    "reference": c.reference,
                    "kpi": c.kpi,
                    "ratio": c.ratio.estimate,
                    "low": c.ratio.low,
                    "high": c.ratio.high,
                    "better": c.better,
                }
                for c in self.comparisons
            ]
        )

    def ratio(self, policy: str, reference: str, kpi: str) -> Interval:
        """The paired ratio ``policy / reference`` of ``kpi``; KeyError when it was not compared."""
        for c in self.comparisons:
            if (c.policy, c.reference, c.kpi) == (policy, reference, kpi):
                return c.ratio
        raise KeyError(f"no comparison of {policy} vs {reference} on {kpi}")


def compare(
    runs: pd.DataFrame, policies: Sequence[str], kpis: Sequence[str] = COMPARED_KPIS
) -> list[Comparison]:
    """Paired ratios of every ML policy (and the risk-team control) to every baseline, to the control and
    to the oracle present in ``runs``."""
    refs = [p for p in (*BASELINES, CONTROL, ORACLE) if p in policies]
    table = runs.set_index(["policy", "seed"])
    out = []
    for policy in (p for p in policies if is_compared(p)):
        for ref in (r for r in refs if r != policy):
            a, b = table.loc[policy], table.loc[ref]
            seeds = a.index.intersection(b.index)
            for kpi in kpis:
                out.append(Comparison(policy, ref, kpi, paired_ratio(a.loc[seeds, kpi], b.loc[seeds, kpi])))
    return out


def evaluate_policies(
    settings: Settings,
    scenario: str = "default",
    days: int = 7,
    seeds: Sequence[int] = (1, 2, 3),
    policies: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ABReport:
    """Replay ``days`` after the history in ``settings`` under each policy for each seed; see the module
    docstring. ``scenario`` is the history's scenario or ``"snowstorm"`` (adds the emergency replays).
    ``progress(done, total)`` counts replays."""
    names = check_names(list(policies or DEFAULT_POLICIES))
    info = history_info(settings)
    storm_mode = scenario == STORM_SCENARIO
    replay_scenario = None if storm_mode or scenario == info.scenario else scenario
    total, done = float(len(seeds) * len(names) * (2 if storm_mode else 1)), 0.0
    ctx = PolicyContext(truth=None, settings=settings)  # type: ignore[arg-type]
    rows, util_rows, storm_rows, frontier_rows = [], [], [], []
    ran_with: dict[str, dict[str, float]] = {}
    storm: Storm | None = None
    for seed in seeds:
        period = evaluation_period(settings, days, seed, scenario=replay_scenario)
        ctx.truth = period.workforce.truth
        if storm_mode:
            storm = place_storm(period)
        for name in names:
            started = time.perf_counter()
            ctx.changes = ()
            policy = build_policy(name, ctx)
            result = run_policy(period, policy)
            reports = getattr(policy, "ran_with", None)  # the ML policies: the service settings they used
            if callable(reports):
                ran_with[name] = reports()
            extra: dict[str, float] = {}
            if isinstance(policy, WatchlistPolicy):
                extra = {}
                if policy.lists is not None:  # the high-risk lists' precision, before any contact
                    extra = alert_precision(policy.lists.frame(), task_outcomes(result), period.config)
                work = team_work(period, result, policy)
                kpis = compute_kpis(result, work.outcomes)
                extra.update(team_kpis(work, period.config.risk_team.effect_days))
                extra.update(voice_kpis(period, result, policy))
                frontier_rows += [
                    {"policy": name, "seed": seed, **r} for r in frontier(period, result, policy)
                ]
            else:
                kpis = compute_kpis(result)
            rows.append(
                {
                    "policy": name,
                    "seed": seed,
                    **kpis.values,
                    **extra,
                    "seconds": time.perf_counter() - started,
                }
            )
            util_rows += [
                {"policy": name, "seed": seed, "province_id": p, "utilisation": u}
                for p, u in kpis.province_utilisation.items()
            ]
            done += 1
            if progress:
                progress(done, total)
            if storm is not None:
                ctx.changes = storm.policy_changes() if is_ml(name) else ()
                hit = run_policy(period, build_policy(name, ctx), config=storm.config(period.config))
                storm_kpis = compute_kpis(hit)
                sla_storm = storm_kpis.values["sla_attainment"]
                sla_base = kpis.values["sla_attainment"]
                storm_rows.append(
                    {
                        "policy": name,
                        "seed": seed,
                        **storm_figures(hit, storm),
                        "sla_storm": sla_storm,
                        "sla_base": sla_base,
                        "turnaround_storm_h": storm_kpis.values["mean_turnaround_h"],
                        "turnaround_base_h": kpis.values["mean_turnaround_h"],
                        "sla_delta": sla_storm - sla_base,
                    }
                )
                done += 1
                if progress:
                    progress(done, total)
    runs = pd.DataFrame(rows)
    report = ABReport(
        scenario=scenario,
        days=days,
        seeds=tuple(seeds),
        policies=names,
        runs=runs,
        province_util=pd.DataFrame(util_rows),
        comparisons=compare(runs, names),
        history={"scenario": info.scenario, "days": info.days, "seed": info.seed},
        frontier=pd.DataFrame(frontier_rows),
        ran_with=ran_with,
        frontier_config=dict(period.config.risk_team.model_dump(exclude={"outcome_shares"})) if seeds else {},
    )
    if ctx.models is not None:
        report.model_versions = dict(ctx.models.scorer.versions())
    if ctx.voice is not None:
        report.text_table = text_champion_table(settings)
    report.targets = check_targets(report)
    if storm is not None:
        report.snowstorm = SnowstormReport(storm, pd.DataFrame(storm_rows))
    return report
