"""Proactive return visits in the twin, with a randomised holdout (issue 27, seed 002).

Usage: ``nice -n 10 .venv/bin/python bench/bench_journeys.py [--scenario default] [--days 21]
[--seeds 1 2 3] [--capacity 120] [--holdout 0.2] [--no-doc]``.
Replays each seed's arrivals under the legacy policy, walks the break points after a 7-day warm-up with
the service's rule (``evaluation.journeys``), pools the walked break points of all seeds, prints the
visited-vs-held-out figures and replaces the "## Journeys and proactive return visits (issue 27)"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _docs import write_section  # noqa: E402

from evaluation.journeys import proactive_effect, run_seed  # noqa: E402
from evaluation.stats import paired_ratio  # noqa: E402
from simulator.arrivals import generate_arrivals  # noqa: E402
from simulator.engine import simulate  # noqa: E402
from simulator.journeys import generate_journeys  # noqa: E402
from simulator.outcomes import task_outcomes  # noqa: E402
from simulator.policies import LegacyPolicy  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402

SECTION = "## Journeys and proactive return visits (issue 27)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--days", type=int, default=21)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--capacity", type=int, default=120)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--frontier", type=int, nargs="*", default=[40, 360], help="more daily capacities")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    cfg = load_scenario(args.scenario)
    units, withs, withouts, journeys, abandoned = [], [], [], 0, 0
    more: dict[int, list[tuple[pd.DataFrame, int, int]]] = {c: [] for c in args.frontier}
    cpu = time.process_time()  # the replays and the walk, imports aside
    for seed in args.seeds:
        arr = generate_arrivals(cfg, args.days, seed)
        res = simulate(cfg, arr, LegacyPolicy(explore=True), seed)
        out = task_outcomes(res)
        u, with_, without = run_seed(res, out, capacity=args.capacity, holdout_share=args.holdout)
        for c in args.frontier:
            more[c].append(run_seed(res, out, capacity=c, holdout_share=args.holdout))
        jr = generate_journeys(cfg, arr, seed)
        journeys, abandoned = journeys + len(jr), abandoned + int(jr.abandoned.sum())
        units.append(u)
        withs.append(with_)
        withouts.append(without)
        print(f"seed {seed}: {len(u)} break points walked, complaints {with_} with visits, {without} without")
    eff = proactive_effect(pd.concat(units, ignore_index=True), sum(withs), sum(withouts))
    paired = paired_ratio(withs, withouts)
    v, h = eff.visited, eff.held_out

    def r3(x: tuple[float, float, float]) -> str:
        return f"{x[0]:.3f} [{x[1]:.3f}, {x[2]:.3f}]"

    load = os.getloadavg()[0]
    rows = []
    for c, runs in sorted({**more, args.capacity: list(zip(units, withs, withouts, strict=True))}.items()):
        e = proactive_effect(pd.concat([r[0] for r in runs], ignore_index=True), 0, 0)
        pr = paired_ratio([r[1] for r in runs], [r[2] for r in runs])
        rows.append(
            f"| {c} | {e.visited.units + e.held_out.units:,} | {e.completion_diff.fmt(3, pct=True)} | "
            f"{r3(e.complaint_ratio)} | {pr.fmt(4)} |"
        )
    frontier = "\n".join(rows)
    text = f"""{SECTION}

`nice -n 10 .venv/bin/python bench/bench_journeys.py --scenario {args.scenario} --days {args.days} \
--seeds {" ".join(map(str, args.seeds))} --capacity {args.capacity} --holdout {args.holdout}` \
({time.process_time() - cpu:.1f} s CPU, load {load:.1f}). The twin's journeys (`simulator/journeys.py`, hidden
truth: an unresolved abandonment raises the customer's complaint logit by
{cfg.journeys.complaint_uplift} for up to {cfg.journeys.effect_days:.0f} days and makes
{cfg.journeys.contact_share:.0%} of them call; a visit completes {cfg.journeys.visit_completion:.0%} of
the journeys not resumed yet): {journeys:,} journeys, {abandoned:,} abandoned, over {len(args.seeds)} seeds.
From day 8 the centre walks the open break points each day at 09:00 with the service's own functions
(`serving/risk/journeys.py`: P(still stuck | flow, step) from the journeys table of the last 28 days as
the service holds it that morning x `customer_risk`, the highest served P(complaint) of the customer's
open tasks; these legacy replays have no served model, so every customer is at the policy's `base_risk`
and the walk ranks by P(still stuck) alone), holds out {args.holdout:.0%} by the hash of the journey id
and visits up to {args.capacity} a day. Units: walked break points whose 7-day window ends in the replay,
pooled over the seeds.

| | visited | held out | visited vs held out |
| --- | ---: | ---: | --- |
| break points | {v.units:,} | {h.units:,} | |
| journey completed within 7 days | {v.completed:.1%} | {h.completed:.1%} | \
{eff.completion_diff.fmt(3, pct=True)} (Welch) |
| customer calls about it within 7 days (per break point) | {v.contacts / max(v.units, 1):.3f} | \
{h.contacts / max(h.units, 1):.3f} | ratio {r3(eff.contact_ratio)} (exact Poisson) |
| customer's complaints filed within 7 days (per break point) | {v.complaints / max(v.units, 1):.4f} | \
{h.complaints / max(h.units, 1):.4f} | ratio {r3(eff.complaint_ratio)} (exact Poisson) |

The twin's counterfactual (same replay, same uniforms, with and without the visits): all complaints of
the replays {eff.complaints_with:,} with visits vs {eff.complaints_without:,} without, ratio per seed
{paired.fmt(4)} (t over seeds). The visits' own handling time (10 min each) is not queued in the replay.

By daily capacity (same replays; completion: visited minus held out; complaints: visited / held out per
break point, and all complaints with / without visits, paired per seed):

| visits a day | walked | completion within 7 days | complaints per break point | all complaints |
| ---: | ---: | --- | --- | --- |
{frontier}

What changed (H7b): the first measurement (commit bc908cd) ranked the break points by the customer's
*true* P(complaint), the twin's hidden truth, which no policy may read; it also estimated the stuck
rates once from the warm-up and dropped a self-resumed journey from the moment it restarted, before the
journeys table shows it. Same command then: completion +48.1% [+44.6%, +51.6%], calls x0.391 [0.320,
0.478], complaints per break point x0.760 [0.548, 1.067], all complaints x0.9831 [0.9762, 0.9901]
(capacity 40: x0.9934 [0.9862, 1.0007]; 360: x0.9634 [0.9475, 0.9793]). The walk now reads only what
the service knows (a test permutes the truth and gets the same walk); `evaluation.journeys.journeys_arm`
gives the A/B arm the same walk with the served scores of its replay.

Reading: a visit completes about half of the journeys that would otherwise stay broken (held out: only
the customers' own returns) and cuts the calls about them by well over half, both measurable on a field
holdout of a few hundred break points. The complaints per break point rest on the few dozen complaints
of the held-out break points ({h.complaints} at {args.capacity} a day): the interval is wide and the
estimate moves with the capacity, so the twin's paired counterfactual over all complaints is the figure
to quote. Ranking on the hidden truth bought little against the honest walk (the "then" figures above:
6,915 complaints with visits then, {eff.complaints_with:,} now, of {eff.complaints_without:,} without):
P(still stuck) carries most of the ranking, and a served complaint score enters it when the replay has one
(`journeys_arm`'s `scores`; these legacy replays have none). These are the twin's assumptions
(`JourneyConfig`), not seed 002's figures: it reports only interrupted online operations -50 % a year
after its process fixes, which the visits alone do not claim.
"""
    print(text)
    if not args.no_doc:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
