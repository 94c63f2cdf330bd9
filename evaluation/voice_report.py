"""The A/B report's section on what customers say (issue 27): the text model's holdout table, the
watchlist with the words against the same replay's list without them, and the list's uplift on its
holdout (uplift@capacity, Qini AUC).

The text table is the champion's run in MLflow (``opsmatch text train``: ``training.text_holdout``); the
watchlist figures are the A/B's rows (``evaluation.watchlist.voice_kpis`` and ``team_kpis``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from evaluation.stats import paired_ratio, t_interval
from opsmatch.settings import Settings

TEXT_ROWS: dict[str, str] = {
    "no_text": "no text",
    "keywords": "+ keyword list",
    "text": "+ text model score and flags",
    "keywords_only": "keyword hits alone",
    "text_only": "text model score alone",
    "late_no_text": "no text (holdout's second half)",
    "late_text": "+ text (holdout's second half)",
    "late_voice_risk": "no-text risk updated by the words (stacker fitted on the first half)",
    "late_voice_offset": "no-text risk moved by what the words add (the form served on complaint_pre)",
}
UPLIFT = ("uplift_at_capacity", "uplift_at_30", "qini_auc")


def text_champion_table(settings: Settings) -> dict[str, dict[str, float]]:
    """The text champion's holdout figures by row (``{"text": {"auc": ...}, ...}``); empty without one."""
    from training.registry import client_for, version_for_alias
    from training.text_run import NAME

    client = client_for(settings)
    mv = version_for_alias(client, NAME, "champion")
    if mv is None or not mv.run_id:
        return {}
    table: dict[str, dict[str, float]] = {}
    for key, value in client.get_run(mv.run_id).data.metrics.items():
        name, _, figure = key.rpartition("_")
        if name in TEXT_ROWS and figure in ("auc", "brier", "ece"):
            table.setdefault(name, {})[figure] = float(value)
    return table


def _cell(table: dict[str, float], key: str) -> str:
    return f"{table[key]:.4f}" if key in table else ""


def voice_section(runs: pd.DataFrame, text_table: dict[str, dict[str, float]]) -> list[str]:
    """Markdown lines (empty when the A/B had no text-aware watchlist and no text table)."""
    out: list[str] = []
    if text_table:
        rows = [
            [label, *(_cell(text_table[k], f) for f in ("auc", "brier", "ece"))]
            for k, label in TEXT_ROWS.items()
            if k in text_table
        ]
        out += ["## What customers say: the text model's holdout (champion run)", "", *_table(
            ["model", "holdout AUC", "Brier", "ECE"], rows), ""]  # fmt: skip
    if "complaint_rate_served_only" in runs.columns:
        rows = []
        for policy, g in runs.dropna(subset=["complaint_rate_served_only"]).groupby("policy", sort=False):
            c = paired_ratio(g["complaint_rate"], g["complaint_rate_served_only"])
            e = paired_ratio(g["escalated_rate"], g["escalated_rate_served_only"])
            rows.append([policy, c.fmt(), e.fmt()])
        out += ["## The watchlist with the words vs without (same replays, paired over seeds)", "",
                *_table(["policy", "complaints / served-only list", "escalated / served-only list"], rows),
                ""]  # fmt: skip
    if "complaint_rate_unweighted" in runs.columns:
        rows = []
        for policy, g in runs.dropna(subset=["complaint_rate_unweighted"]).groupby("policy", sort=False):
            c = paired_ratio(g["complaint_rate"], g["complaint_rate_unweighted"])
            e = paired_ratio(g["escalated_rate"], g["escalated_rate_unweighted"])
            rows.append([policy, c.fmt(), e.fmt()])
        out += ["## The watchlist with the escalation weights vs without (same replays, paired over seeds)",
                "", *_table(["policy", "complaints / unweighted list", "escalated / unweighted list"], rows),
                ""]  # fmt: skip
    if set(UPLIFT) <= set(runs.columns):
        rows = []
        for policy, g in runs.dropna(subset=["qini_auc"]).groupby("policy", sort=False):
            rows.append([policy, *(t_interval(g[k].to_numpy(dtype=float)).fmt() for k in UPLIFT)])
        if rows:
            header = ["policy", "uplift@capacity", "uplift@30 %", "Qini AUC"]
            out += ["## The watchlist's uplift on its holdout (no complaint within the contact's window)",
                    "", *_table(header, rows), ""]  # fmt: skip
    return out


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
