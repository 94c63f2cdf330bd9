"""Digital-twin benchmark: history generation time, Erlang C validation, policy baselines.

Usage: ``.venv/bin/python bench/bench_simulate.py [--days 90] [--seed 7] [--data-dir DIR] [--no-doc]
[--against SRC [--repeats 3]]``.
Times ``simulator.run.generate_history`` on the default scenario (``--days``, target <= 60 s for 90 days)
and on the small one, checks the M/M/N scenario against Erlang C at two operating points, replays the
same default arrivals under the built-in policies, prints everything and replaces only the
"## Digital twin: history generation" section of docs/benchmarks.md.

``--against SRC`` (a checkout of another commit, e.g. ``git archive <commit> | tar -x -C SRC``) also
times the default generation in that tree and in this one, alternately, each run in a fresh process,
and writes the medians as the "### Engine before / after" subsection (kept from the doc otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _docs import DOC, write_section  # noqa: E402

from opsmatch.settings import Settings  # noqa: E402
from simulator.arrivals import generate_arrivals  # noqa: E402
from simulator.engine import simulate  # noqa: E402
from simulator.erlang import erlang_c, mean_wait  # noqa: E402
from simulator.oracle import OracleBatchPolicy, OraclePolicy  # noqa: E402
from simulator.outcomes import summarize  # noqa: E402
from simulator.policies import LegacyPolicy, NationalLeastBusyPolicy  # noqa: E402
from simulator.run import HistorySummary, generate_history  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402
from simulator.workforce import build_workforce  # noqa: E402

SECTION = "## Digital twin: history generation"
COMPARISON = "### Engine before / after"
# run in a fresh interpreter with the compared tree first on sys.path
GENERATE = """
import json, sys, tempfile, time
from pathlib import Path
import simulator
from opsmatch.settings import Settings
from simulator.run import generate_history
days, seed = int(sys.argv[1]), int(sys.argv[2])
with tempfile.TemporaryDirectory() as tmp:
    t0, c0 = time.perf_counter(), time.process_time()
    summary = generate_history(Settings(data_dir=Path(tmp)), "default", days, seed=seed)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
timings = summary.timings
print(json.dumps({"wall": wall, "cpu": cpu, "simulate": timings["simulate"], "source": simulator.__file__}))
"""
# the replay alone, CPU seconds (least of ``runs`` in one process): steadier than wall on a shared machine
SIMULATE = """
import json, sys, time
import simulator
from simulator.arrivals import generate_arrivals
from simulator.engine import simulate
from simulator.policies import LegacyPolicy
from simulator.scenario import load_scenario
from simulator.workforce import build_workforce
days, seed, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cfg = load_scenario("default")
workforce, arrivals = build_workforce(cfg, seed), generate_arrivals(cfg, days, seed)
cpu = []
for _ in range(runs):
    c0 = time.process_time()
    simulate(cfg, arrivals, LegacyPolicy(explore=True), seed, workforce=workforce)
    cpu.append(time.process_time() - c0)
print(json.dumps({"replay_cpu": min(cpu), "source": simulator.__file__}))
"""
REPLAY_DAYS, REPLAY_PROCESSES = 15, 6


def history(
    data_dir: Path, scenario: str, days: int, seed: int, repeats: int
) -> tuple[list[float], HistorySummary]:
    """Wall times of ``repeats`` runs of generate_history, and the last summary."""
    settings = Settings(data_dir=data_dir / scenario)
    times, summary = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        summary = generate_history(settings, scenario, days, seed=seed)
        times.append(time.perf_counter() - t0)
    assert summary is not None
    return times, summary


def run_in(source: Path, script: str, *args: int) -> dict[str, float]:
    """Run ``script`` (GENERATE or SIMULATE) with the code in ``source``; its JSON line."""
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    run = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(run["source"]).resolve().is_relative_to(source.resolve()):
        raise RuntimeError(f"ran {run['source']}, not the code in {source}")
    return run


def compare_engines(baseline: Path, days: int, seed: int, repeats: int) -> dict[str, list[dict[str, float]]]:
    """``repeats`` generations (wall, CPU, simulate phase) and REPLAY_PROCESSES replays of REPLAY_DAYS
    (``replay_cpu``) by ``baseline`` and by this tree, alternating, the order flipped every round."""
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    trees = [("before", baseline), ("after", ROOT)]
    for i in range(max(repeats, REPLAY_PROCESSES)):
        for label, source in trees if i % 2 == 0 else trees[::-1]:
            run: dict[str, float] = {}
            if i < repeats:
                run.update(run_in(source, GENERATE, days, seed))
            if i < REPLAY_PROCESSES:
                run.update(run_in(source, SIMULATE, REPLAY_DAYS, seed, 2))
            runs[label].append(run)
            print(f"{label}: {run}")
    return runs


def render_comparison(
    runs: dict[str, list[dict[str, float]]], baseline: Path, days: int, seed: int, repeats: int
) -> str:
    """The "before / after" subsection: medians of wall, CPU and simulate-phase seconds."""
    keys = ("wall", "cpu", "simulate", "replay_cpu")
    median = {
        label: {key: statistics.median(r[key] for r in rs if key in r) for key in keys}
        for label, rs in runs.items()
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    before, after = median["before"], median["after"]
    lines = [
        COMPARISON,
        "",
        f"`bench/bench_simulate.py --against {baseline} --repeats {repeats}` (the tree before the engine "
        f"refactor, `git archive <commit> | tar -x -C {baseline}`): `default`, {days} days, seed {seed}, "
        f"{repeats} generations per tree in fresh processes, alternating, on the same machine back to back "
        f"({os.cpu_count()} cores shared with other jobs, load average {load:.1f} at the end; the order of "
        "the two trees flips every round).",
        "",
        f"The replay alone: {REPLAY_PROCESSES} processes per tree, each timing `simulate` on "
        f"{REPLAY_DAYS} days of `default` twice and keeping the lower CPU time (steadier than wall when the "
        "machine is shared).",
        "",
        "| engine | generation wall s (median) | generation CPU s (median) | simulate phase wall s (median) "
        f"| replay CPU s, {REPLAY_DAYS} days (median) | generation wall s (runs) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label in ("before", "after"):
        m = median[label]
        walls = ", ".join(f"{r['wall']:.1f}" for r in runs[label] if "wall" in r)
        lines.append(
            f"| {label} | **{m['wall']:.1f}** | {m['cpu']:.1f} | {m['simulate']:.2f} | "
            f"{m['replay_cpu']:.2f} | {walls} |"
        )
    lines += [
        "",
        "After / before (limit: 1.20× for the generation): generation wall "
        f"{after['wall'] / before['wall']:.2f}×, generation CPU {after['cpu'] / before['cpu']:.2f}×, "
        f"simulate phase {after['simulate'] / before['simulate']:.2f}×, "
        f"replay CPU {after['replay_cpu'] / before['replay_cpu']:.2f}×.",
        "",
    ]
    return "\n".join(lines)


def _section_lines(doc: Path = DOC) -> list[str]:
    """The lines of the doc's simulate section (heading included), or [] when absent."""
    lines = doc.read_text().splitlines() if doc.exists() else []
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _split_comparison(section: list[str]) -> tuple[list[str], list[str]]:
    """(the section without the comparison subsection, the subsection's lines)."""
    start = next((i for i, line in enumerate(section) if line.strip() == COMPARISON), None)
    if start is None:
        return section, []
    end = next((i for i in range(start + 1, len(section)) if section[i].startswith("### ")), len(section))
    return section[:start] + section[end:], section[start:end]


def kept_comparison(doc: Path = DOC) -> str:
    """The "before / after" subsection as it stands in the doc, or ""."""
    return "\n".join(_split_comparison(_section_lines(doc))[1]).strip("\n")


def replace_comparison(comparison: str, doc: Path = DOC) -> str:
    """The doc's simulate section with ``comparison`` as its last subsection."""
    rest = _split_comparison(_section_lines(doc))[0] or [SECTION]
    return "\n".join([*rest, "", comparison.strip("\n"), ""]).replace("\n\n\n", "\n\n")


def erlang_point(servers: int, load: float, days: int, seeds: tuple[int, ...]) -> dict[str, float]:
    """Simulated P(wait) and ASA of the mmc scenario (batch means over all seeds) vs Erlang C."""
    base = load_scenario("mmc")
    aht = base.task_types[0].median_minutes
    cfg = base.model_copy(
        update={
            "workforce": base.workforce.model_copy(update={"workers": servers}),
            "demand": base.demand.model_copy(update={"tasks_per_day": load / aht * 1440}),
        }
    )
    pw_batches, asa_batches, n = [], [], 0
    for seed in seeds:
        arrivals = generate_arrivals(cfg, days, seed)
        r = simulate(cfg, arrivals, LegacyPolicy(), seed, record_status=False)
        created = arrivals.tasks["t"].to_numpy()
        keep = (created > 1440) & ~np.isnan(r.started)
        wait = (r.started - created)[keep]
        n += len(wait)
        for b in np.array_split(wait, 20):
            pw_batches.append(float((b > 0).mean()))
            asa_batches.append(float(b.mean()))
    k = len(pw_batches)
    return {
        "servers": servers,
        "load": load,
        "tasks": n,
        "pw_theory": erlang_c(load, servers),
        "pw": float(np.mean(pw_batches)),
        "pw_se": float(np.std(pw_batches, ddof=1) / np.sqrt(k)),
        "asa_theory": mean_wait(load, servers, aht),
        "asa": float(np.mean(asa_batches)),
        "asa_se": float(np.std(asa_batches, ddof=1) / np.sqrt(k)),
    }


def policy_baselines(days: int, seed: int) -> list[tuple[str, float, dict[str, float]]]:
    """The same default arrivals replayed (drained) under each built-in policy."""
    cfg = load_scenario("default")
    wf = build_workforce(cfg, seed)
    arrivals = generate_arrivals(cfg, days, seed)
    rows = []
    for pol in (
        LegacyPolicy(explore=True),
        NationalLeastBusyPolicy(),
        OraclePolicy(wf.truth),
        OracleBatchPolicy(wf.truth),
    ):
        t0 = time.perf_counter()
        r = simulate(cfg, arrivals, pol, seed, workforce=wf, drain=True, record_status=False)
        rows.append((pol.name, time.perf_counter() - t0, summarize(r)))
    return rows


def render(
    days: int,
    default: tuple[list[float], HistorySummary],
    small: tuple[list[float], HistorySummary],
    erlang: list[dict[str, float]],
    baselines: list,
    baseline_days: int,
    comparison: str = "",
) -> str:
    d_times, d = default
    s_times, s = small
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        SECTION,
        "",
        f"`bench/bench_simulate.py` on this machine ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load:.1f} at the end of the run). "
        "`simulator.run.generate_history` = arrivals + replay under the legacy policy with exploration "
        "+ outcomes + writing the nine contract tables (Parquet) and the hidden truth.",
        "",
        "| scenario | days | tasks | wall s (median) | tasks/s | arrivals s | simulate s | outcomes s "
        "| write s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, times, summ, n_days in (("default", d_times, d, days), ("small", s_times, s, s.days)):
        wall = statistics.median(times)
        t = summ.timings
        lines.append(
            f"| {name} | {n_days} | {summ.rows['tasks']:,} | **{wall:.1f}** | "
            f"{summ.rows['tasks'] / wall:,.0f} | "
            f"{t['arrivals']:.1f} | {t['simulate']:.1f} | {t['outcomes']:.1f} | "
            f"{t['write_events'] + t['write_truth']:.1f} |"
        )
    lines += [
        "",
        f"Target: 90 days of the default scenario <= 60 s. Rows written (default, {days} days):",
        "",
        "| table | rows |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v:,} |" for k, v in d.rows.items()]
    m = d.metrics
    lines += [
        "",
        f"History headline (true rates, legacy policy): mean wait {m['mean_wait_minutes'] / 60:.1f} h, "
        f"turnaround {m['mean_turnaround_hours']:.1f} h, SLA met {m['sla_met_share']:.1%}, "
        f"handling {m['mean_handling_minutes']:.1f} min, QA pass {m['qa_pass_rate']:.1%}, "
        f"complaints {m['complaint_rate']:.2%}.",
        "",
        "### Erlang C check (scenario `mmc`: M/M/N FIFO, AHT 10 min, batch means, 20 batches per seed)",
        "",
        "| A (Erlangs) | N | tasks | P(wait) theory | P(wait) simulated ± 1 SE | ASA theory (min) "
        "| ASA simulated ± 1 SE |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in erlang:
        lines.append(
            f"| {e['load']:g} | {e['servers']} | {e['tasks']:,} | {e['pw_theory']:.4f} | "
            f"{e['pw']:.4f} ± {e['pw_se']:.4f} | {e['asa_theory']:.3f} | {e['asa']:.3f} ± {e['asa_se']:.3f} |"
        )
    lines += [
        "",
        f"### Built-in policies on the same default arrivals ({baseline_days} days, drained, "
        "common random numbers)",
        "",
        "| policy | replay s | mean turnaround h | SLA met | handling min | QA pass | complaint rate |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, secs, x in baselines:
        lines.append(
            f"| {name} | {secs:.1f} | {x['mean_turnaround_hours']:.2f} | {x['sla_met_share']:.1%} | "
            f"{x['mean_handling_minutes']:.1f} | {x['qa_pass_rate']:.1%} | {x['complaint_rate']:.2%} |"
        )
    lines.append("")
    if comparison:
        lines += [comparison.rstrip("\n"), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--baseline-days", type=int, default=14)
    ap.add_argument("--data-dir", type=Path, default=None, help="Where to write (default: a temp dir).")
    ap.add_argument("--no-doc", action="store_true", help="Print only; do not touch docs/benchmarks.md.")
    ap.add_argument("--against", type=Path, default=None, help="Another source tree to time against.")
    ap.add_argument("--repeats", type=int, default=3, help="Generations per tree with --against.")
    ap.add_argument("--compare-only", action="store_true", help="With --against: only the comparison.")
    args = ap.parse_args()
    comparison = kept_comparison()
    if args.against is not None:
        runs = compare_engines(args.against, args.days, args.seed, args.repeats)
        comparison = render_comparison(runs, args.against, args.days, args.seed, args.repeats)
        print(comparison)
        if args.compare_only:
            if not args.no_doc:
                write_section(SECTION, replace_comparison(comparison))
                print(f"wrote {COMPARISON!r} in section {SECTION!r} of {DOC}")
            return
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or Path(tmp)
        default = history(data, "default", args.days, args.seed, repeats=1)
        print(
            f"default {args.days} d: {default[0][0]:.1f} s, rows {default[1].rows}, "
            f"timings {default[1].timings}"
        )
        small = history(data, "small", 14, args.seed, repeats=3)
        print(f"small 14 d: {statistics.median(small[0]):.2f} s (median of 3), rows {small[1].rows}")
    erlang = [erlang_point(13, 10.0, 60, (1, 2, 3)), erlang_point(20, 18.0, 60, (1, 2, 3))]
    for e in erlang:
        print(
            f"Erlang C A={e['load']:g} N={e['servers']}: P(wait) {e['pw']:.4f}±{e['pw_se']:.4f} "
            f"(theory {e['pw_theory']:.4f}); ASA {e['asa']:.3f}±{e['asa_se']:.3f} "
            f"(theory {e['asa_theory']:.3f})"
        )
    baselines = policy_baselines(args.baseline_days, args.seed)
    for name, secs, x in baselines:
        print(
            f"{name:22s} {secs:5.1f}s turnaround {x['mean_turnaround_hours']:.2f} h, "
            f"QA {x['qa_pass_rate']:.3f}, complaints {x['complaint_rate']:.4f}, "
            f"handling {x['mean_handling_minutes']:.1f}"
        )
    text = render(args.days, default, small, erlang, baselines, args.baseline_days, comparison)
    if not args.no_doc:
        write_section(SECTION, text)
        print(f"wrote section {SECTION!r} of {DOC}")


if __name__ == "__main__":
    main()
