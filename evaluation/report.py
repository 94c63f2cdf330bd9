"""The twin A/B report: Markdown (+ HTML) with PNG charts, and the same in MLflow.

``write_report(report, out_dir)`` writes ``report.md``, ``report.html``, ``runs.csv``,
``comparisons.csv``, ``summary.json`` (every paired ratio as ``{policy, reference, kpi, estimate, low,
high}``, the targets and the risk-team frontier) and the charts; ``log_report_to_mlflow(settings,
report, out_dir)`` logs one run in the ``opsmatch-evaluation`` experiment: per-policy metrics (means
over seeds), per-target flags, the report folder as artifacts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evaluation.charts import write_charts
from evaluation.kpis import LATE_WEIGHT
from evaluation.voice_report import voice_section

if TYPE_CHECKING:
    from evaluation.ab import ABReport
    from opsmatch.settings import Settings

EXPERIMENT = "opsmatch-evaluation"
SUMMARY_COLUMNS = {
    "mean_turnaround_h": ("mean turnaround h", "{:.2f}"),
    "p90_turnaround_h": ("p90 turnaround h", "{:.1f}"),
    "sla_attainment": ("SLA met", "{:.2%}"),
    "qa_pass_rate": ("QA pass", "{:.2%}"),
    "complaint_rate": ("complaints", "{:.2%}"),
    "escalated_rate": ("escalated", "{:.3%}"),
    "mean_p_complaint": ("true P(complaint)", "{:.2%}"),
    "mean_handling_min": ("handling min", "{:.1f}"),
    "util_province_cv": ("util CV provinces", "{:.3f}"),
    "util_worker_cv": ("util CV workers", "{:.3f}"),
    "peak_backlog": ("peak backlog", "{:.0f}"),
    "true_cost_per_task": ("true cost / task", "{:.2f}"),
    "risk_contacts_per_day": ("contacts / day", "{:.0f}"),
    "alert_precision_now": ("alert precision (risk now)", "{:.1%}"),
    "alert_precision_intake": ("alert precision (intake risk)", "{:.1%}"),
    "risk_team_minutes_per_day": ("team min / day", "{:.0f}"),
    "seconds": ("replay s", "{:.1f}"),
}
RATIO_KPIS = (
    "mean_turnaround_h",
    "p90_turnaround_h",
    "sla_attainment",
    "qa_pass_rate",
    "complaint_rate",
    "escalated_rate",
    "true_cost_total",
)


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: float, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def _flag(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "**no**")


def render_markdown(report: ABReport, charts: dict[str, Path]) -> str:
    """The report as Markdown (chart links relative to the report folder)."""
    s = report.summary()
    h = report.history
    out = [f"# Twin A/B: dispatch policies on the `{report.scenario}` scenario", ""]
    out += [
        f"History: {h.get('days')} days of `{h.get('scenario')}` (seed {h.get('seed')}) under the legacy "
        f"policy with exploration; champions {report.model_versions or 'not used'}. Evaluation: the "
        f"{report.days} days after the history, seeds {list(report.seeds)} (fresh arrivals per seed, "
        "same workforce, truth and carried-over experience); every policy replays the same arrivals "
        "with the same per-task noise, drained until every task is done.",
        "",
    ]
    if report.ran_with:
        used = "; ".join(
            f"{p}: {', '.join(f'{k} {v:g}' for k, v in r.items())}" for p, r in report.ran_with.items()
        )
        out += [f"Service settings the ML policies ran with: {used}.", ""]
    out += [
        "True cost per task (minute-equivalents, from the hidden truth, same for every policy): "
        f"E[handling minutes] + 60 x P(QA fail) + 600 x P(complaint) + {LATE_WEIGHT:g} x hours after "
        "the SLA. Rates are over completed tasks (true outcomes, not the censored log). Ratios are "
        "means of per-seed ratios with 95 % Student t intervals over the seeds.",
        "",
    ]
    if report.targets:
        out += [
            "## Targets",
            "",
            md_table(
                ["policy", "target", "met", "robust (whole CI)", "measured", "what would close the gap"],
                [
                    [t.policy, t.name, _flag(t.met), _flag(t.robust), t.measured, t.gap or "-"]
                    for t in report.targets
                ],
            ),
            "",
        ]
    cols = [c for c in SUMMARY_COLUMNS if c in s.columns]
    out += [
        "## KPIs per policy (mean over seeds)",
        "",
        md_table(
            ["policy", *(SUMMARY_COLUMNS[c][0] for c in cols)],
            [[p, *(_fmt(s.loc[p, c], SUMMARY_COLUMNS[c][1]) for c in cols)] for p in s.index],
        ),
        "",
    ]
    comp = report.comparison_frame()
    if len(comp):
        rows = []
        for (policy, ref), g in comp.groupby(["policy", "reference"], sort=False):
            g = g.set_index("kpi")
            cells = [
                f"{g.loc[k, 'ratio']:.3f} [{g.loc[k, 'low']:.3f}, {g.loc[k, 'high']:.3f}]"
                if k in g.index
                else "n/a"
                for k in RATIO_KPIS
            ]
            rows.append([policy, ref, *cells])
        out += [
            "## Ratios (policy / reference, 95 % CI over seeds)",
            "",
            md_table(["policy", "reference", *RATIO_KPIS], rows),
            "",
        ]
    out += _risk_section(report)
    out += voice_section(report.runs, report.text_table)
    out += ["## Charts", ""] + [f"![{name}]({path.name})" for name, path in charts.items()] + [""]
    if report.snowstorm is not None:
        out += _snowstorm_section(report)
    if report.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    return "\n".join(out)


def _snowstorm_section(report: ABReport) -> list[str]:
    st = report.snowstorm
    assert st is not None
    s = st.summary()
    storm = st.storm
    rows = [
        [
            r.policy,
            f"{r.pending_at_event:.1f}",
            f"{r.redispatched:.1f}",
            f"{r.stranded:.1f}",
            "stranded in some seed"
            if math.isnan(r.redispatch_minutes)
            else f"{r.redispatch_minutes:.0f} / {r.redispatch_minutes_max:.0f}",
            f"{r.all_redispatched_share:.0%}",
            f"{_fmt(r.storm_province_wait_h, '{:.2f}')} / {_fmt(r.storm_province_p90_wait_h, '{:.1f}')}",
            f"{r.national_sla_base:.2%}",
            f"{r.national_sla_storm:.2%}",
            f"{r.national_sla_delta * 100:+.2f} [{r.delta_low * 100:+.2f}, {r.delta_high * 100:+.2f}]",
        ]
        for r in s.itertuples()
    ]
    return [
        "## Snowstorm",
        "",
        f"Province {storm.province} loses its staff on day {storm.day} at {storm.hour:g}:00 local for "
        f"{storm.duration_hours:g} h; ML policies put it into emergency close (PUT /policy) at the event "
        "and reopen it at the end. Re-dispatch time: from the event until the last of the province's "
        "tasks pending at the event was assigned to another province; stranded: those that waited for "
        "the province's own staff (a policy without a backlog in the province at the event has nothing "
        "to re-dispatch: 0 min). The waits of the tasks the province received during the storm show "
        "how fast new work was routed elsewhere. SLA change: storm minus the same arrivals without the "
        "storm (points, 95 % CI over seeds).",
        "",
        md_table(
            [
                "policy",
                "pending at event",
                "re-dispatched",
                "stranded",
                "re-dispatch min (mean / max)",
                "seeds with all re-dispatched",
                "wait h of the province's storm-time tasks (mean / p90)",
                "national SLA (no storm)",
                "national SLA (storm)",
                "SLA change (points)",
            ],
            rows,
        ),
        "",
    ]


def _risk_section(report: ABReport) -> list[str]:
    fs = report.frontier_summary()
    if fs.empty:
        return []
    rt = report.frontier_config
    rows = [
        [
            r.policy,
            f"{r.capacity_share:.0%}",
            f"{r.effect:.1f}",
            f"{r.complaint_rate_ratio:.3f} [{r.complaint_rate_low:.3f}, {r.complaint_rate_high:.3f}]",
            f"{r.escalated_rate_ratio:.3f} [{r.escalated_rate_low:.3f}, {r.escalated_rate_high:.3f}]",
        ]
        for r in fs.itertuples()
    ]
    return [
        "## Risk team: the frontier",
        "",
        "The twin's risk team works a watchlist each day: capacity = share x the day's expected national "
        f"arrivals (default {rt.get('capacity_share', 0.03):.0%}); a contact cuts the complaint hazard of "
        f"the customer by the effect (default {rt.get('effect', 0.5):g}) for the "
        f"{rt.get('effect_days', 7):g} days after it; {rt.get('holdout_share', 0.1):.0%} of the customers "
        "are held out (never contacted) for field measurement. `watchlist_random` contacts at random "
        "after FIFO dispatch (the control); `ml_watchlist` ranks by the served P(complaint) x effect after "
        "ML dispatch. Complaint and escalated (high-severity) complaint rates over completed tasks, as a "
        "ratio to `legacy_fifo` (95 % CI over seeds); the defaults are fixed, not tuned to the target. "
        "Seed 001's field anchor: escalated complaints -46 % in two months.",
        "",
        md_table(["policy", "capacity", "effect", "complaints / FIFO", "escalated / FIFO"], rows),
        "",
    ]


def summary_dict(report: ABReport) -> dict[str, Any]:
    """The machine-readable summary: every paired ratio, the targets, the frontier."""

    def num(x: float) -> float | None:
        return float(x) if x is not None and math.isfinite(x) else None

    fs = report.frontier_summary()
    return {
        "scenario": report.scenario,
        "days": report.days,
        "seeds": list(report.seeds),
        "policies": list(report.policies),
        "model_versions": dict(report.model_versions),
        "ran_with": {k: dict(v) for k, v in report.ran_with.items()},
        "ratios": [
            {
                "policy": c.policy,
                "reference": c.reference,
                "kpi": c.kpi,
                "estimate": num(c.ratio.estimate),
                "low": num(c.ratio.low),
                "high": num(c.ratio.high),
            }
            for c in report.comparisons
        ],
        "targets": [
            {
                "policy": t.policy,
                "target": t.name,
                "met": t.met,
                "robust": t.robust,
                "measured": t.measured,
                "gap": t.gap,
            }
            for t in report.targets
        ],
        "frontier": [
            {k: (num(v) if isinstance(v, float) else v) for k, v in row.items()}
            for row in fs.to_dict("records")
        ],
    }


def write_summary(report: ABReport, out_dir: Path | str) -> Path:
    """Write ``summary.json`` (``summary_dict``) into ``out_dir``."""
    path = Path(out_dir) / "summary.json"
    path.write_text(json.dumps(summary_dict(report), indent=1), encoding="utf-8")
    return path


def render_html(markdown: str, title: str) -> str:
    """Standalone HTML of the Markdown (markdown-it, CommonMark + tables)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px}"
        "img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style>"
        f"</head><body>{body}</body></html>"
    )


def write_report(report: ABReport, out_dir: Path | str, html: bool = True) -> Path:
    """Write the report folder; returns the path of ``report.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    charts = write_charts(report, out)
    text = render_markdown(report, charts)
    path = out / "report.md"
    path.write_text(text, encoding="utf-8")
    if html:
        (out / "report.html").write_text(render_html(text, f"Twin A/B {report.scenario}"), encoding="utf-8")
    report.runs.to_csv(out / "runs.csv", index=False)
    report.comparison_frame().to_csv(out / "comparisons.csv", index=False)
    write_summary(report, out)
    if not report.frontier.empty:
        report.frontier.to_csv(out / "frontier_runs.csv", index=False)
    if report.snowstorm is not None:
        report.snowstorm.runs.to_csv(out / "snowstorm_runs.csv", index=False)
    return path


def report_metrics(report: ABReport) -> dict[str, float]:
    """Flat MLflow metrics: ``<policy>.<kpi>`` means, ``<policy>.vs_<ref>.<kpi>`` ratios, target flags."""
    out: dict[str, float] = {}
    for policy, row in report.summary().iterrows():
        out.update({f"{policy}.{k}": float(v) for k, v in row.items() if pd.notna(v)})
    for c in report.comparisons:
        if c.kpi in RATIO_KPIS and math.isfinite(c.ratio.estimate):
            out[f"{c.policy}.vs_{c.reference}.{c.kpi}"] = c.ratio.estimate
    for i, t in enumerate(report.targets):
        if t.met is not None:
            out[f"{t.policy}.target_{i}_met"] = float(t.met)
    if report.snowstorm is not None:
        for r in report.snowstorm.summary().itertuples():
            out[f"{r.policy}.storm_redispatch_minutes"] = float(r.redispatch_minutes)
            out[f"{r.policy}.storm_sla_delta"] = float(r.national_sla_delta)
    return {k.replace("/", "_"): v for k, v in out.items() if math.isfinite(v)}


def log_report_to_mlflow(settings: Settings, report: ABReport, out_dir: Path | str) -> str:
    """Log the report as one run of ``opsmatch-evaluation``; returns the run id. Writes the report folder
    first if ``out_dir`` holds no ``report.md``."""
    import mlflow

    from training.registry import client_for, experiment_named

    out = Path(out_dir)
    if not (out / "report.md").exists():
        write_report(report, out)
    client = client_for(settings)
    exp_id = experiment_named(client, settings, EXPERIMENT)
    with mlflow.start_run(experiment_id=exp_id, run_name=f"ab-{report.scenario}-{report.days}d") as run:
        mlflow.set_tags(
            {
                "scenario": report.scenario,
                "kind": "twin-ab",
                **{f"champion.{k}": v for k, v in report.model_versions.items()},
            }
        )
        mlflow.log_params(
            {
                "scenario": report.scenario,
                "days": report.days,
                "seeds": ",".join(map(str, report.seeds)),
                "policies": ",".join(report.policies),
                "history_days": report.history.get("days"),
                "history_seed": report.history.get("seed"),
            }
        )
        mlflow.log_metrics(report_metrics(report))
        mlflow.log_artifacts(str(out), "report")
    return run.info.run_id
