"""PNG charts of a twin A/B report (matplotlib Figures on the Agg canvas; each function writes one file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evaluation.kpis import COST_PARTS
from training.plots import new_figure

if TYPE_CHECKING:
    from evaluation.ab import ABReport


def _save(fig, path: Path) -> Path:  # noqa: ANN001 - matplotlib Figure
    fig.savefig(path, dpi=110)
    return path


def _per_seed(report: ABReport, kpi: str) -> list[np.ndarray]:
    return [report.runs.loc[report.runs["policy"] == p, kpi].to_numpy(dtype=float) for p in report.policies]


def _bars(
    ax,
    report: ABReport,
    kpi: str,
    title: str,
    scale: float = 1.0,
    fmt: str = "{:.2f}",  # noqa: ANN001
    zoom: bool = False,
) -> None:
    """Mean per policy with the seeds as dots; ``zoom`` fits the y axis to the values instead of 0."""
    values = [v * scale for v in _per_seed(report, kpi)]
    means = [float(np.mean(v)) if len(v) else float("nan") for v in values]
    x = np.arange(len(values))
    ax.bar(x, means, color="#4C72B0", alpha=0.85)
    for i, v in enumerate(values):
        ax.scatter(np.full(len(v), i), v, color="black", s=10, zorder=3)
        top = max(means[i], float(np.max(v))) if len(v) else means[i]
        ax.annotate(
            fmt.format(means[i]),
            (i, top),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 4),
            textcoords="offset points",
        )
    ax.set_xticks(x, report.policies, rotation=30, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    flat = np.concatenate(values) if values else np.array([])
    flat = flat[np.isfinite(flat)]
    if zoom and len(flat):
        pad = max(float(flat.max() - flat.min()), 1e-3 * abs(float(flat.max()))) * 0.6
        ax.set_ylim(float(flat.min()) - pad, float(flat.max()) + pad)
    else:
        ax.set_ylim(0, None)


def _kpi_panels(report: ABReport, path: Path, panels: list[tuple], width: float) -> Path:
    """One ``_bars`` panel per ``(kpi, title, *args)`` side by side."""
    fig, axes = new_figure(width, 4, cols=len(panels))
    for ax, (kpi, title, *args) in zip(axes, panels, strict=True):
        _bars(ax, report, kpi, title, *args)
    return _save(fig, path)


def turnaround_chart(report: ABReport, path: Path) -> Path:
    """Mean and p90 turnaround (hours) per policy; dots are the seeds."""
    return _kpi_panels(
        report,
        path,
        [
            ("mean_turnaround_h", "Mean turnaround (h)"),
            ("p90_turnaround_h", "p90 turnaround (h)", 1.0, "{:.1f}"),
        ],
        width=10,
    )


def rates_chart(report: ABReport, path: Path) -> Path:
    """SLA attainment, QA pass rate and complaint rate (%) per policy; dots are the seeds."""
    return _kpi_panels(
        report,
        path,
        [
            ("sla_attainment", "SLA attainment (%)", 100, "{:.1f}", True),
            ("qa_pass_rate", "QA pass rate (%)", 100, "{:.1f}", True),
            ("complaint_rate", "Complaint rate (%)", 100, "{:.2f}"),
        ],
        width=13,
    )


def utilisation_chart(report: ABReport, path: Path) -> Path:
    """Utilisation per province (mean over seeds) for each policy, provinces sorted by the first policy."""
    util = report.province_util.groupby(["policy", "province_id"])["utilisation"].mean().unstack("policy")
    util = util.sort_values(report.policies[0])
    fig, ax = new_figure(12, 4.5)
    for p in report.policies:
        ax.plot(np.arange(len(util)), util[p].to_numpy() * 100, marker="o", ms=3, lw=1, label=p)
    ax.set_xticks(np.arange(len(util)), util.index, rotation=90, fontsize=7)
    ax.set_ylabel("utilisation (% of shift minutes)")
    ax.set_title("Utilisation by province", fontsize=10)
    ax.legend(fontsize=8, ncol=3)
    return _save(fig, path)


def cost_chart(report: ABReport, path: Path) -> Path:
    """True cost per task, stacked by part (minute-equivalents)."""
    s = report.summary()
    fig, ax = new_figure(8, 4)
    bottom = np.zeros(len(s))
    for part in COST_PARTS:
        values = s[part].to_numpy(dtype=float)
        ax.bar(np.arange(len(s)), values, bottom=bottom, label=part.removeprefix("cost_"))
        bottom += values
    for i, total in enumerate(bottom):
        ax.annotate(f"{total:.1f}", (i, total), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(s)), s.index, rotation=30, ha="right", fontsize=8)
    ax.set_title("True cost per task (minute-equivalents)", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def snowstorm_chart(report: ABReport, path: Path) -> Path:
    """Wait of the closed province's storm-time tasks (with the tasks stranded at the event) and the
    national SLA change, per policy."""
    s = report.snowstorm.summary()  # type: ignore[union-attr]
    fig, axes = new_figure(10, 4, cols=2)
    x = np.arange(len(s))
    wait = s["storm_province_wait_h"].to_numpy(dtype=float)
    axes[0].bar(x, np.nan_to_num(wait), color="#55A868")
    for i, (w, stranded) in enumerate(zip(wait, s["stranded"], strict=True)):
        axes[0].annotate(
            f"{w:.1f} h\n{stranded:.0f} stranded", (i, np.nan_to_num(w)), ha="center", va="bottom", fontsize=7
        )
    axes[0].set_title("Mean wait of the province's storm-time tasks (h)", fontsize=10)
    axes[1].bar(x, s["national_sla_delta"].to_numpy() * 100, color="#C44E52")
    axes[1].set_title("National SLA attainment change (points)", fontsize=10)
    for ax in axes:
        ax.set_xticks(x, s["policy"], rotation=30, ha="right", fontsize=8)
    return _save(fig, path)


def write_charts(report: ABReport, out_dir: Path) -> dict[str, Path]:
    """Every chart of the report into ``out_dir``; returns name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = {
        "turnaround": turnaround_chart(report, out_dir / "turnaround.png"),
        "rates": rates_chart(report, out_dir / "sla_qa_complaints.png"),
        "utilisation": utilisation_chart(report, out_dir / "utilisation_by_province.png"),
        "cost": cost_chart(report, out_dir / "true_cost.png"),
    }
    if report.snowstorm is not None:
        charts["snowstorm"] = snowstorm_chart(report, out_dir / "snowstorm.png")
    return charts
