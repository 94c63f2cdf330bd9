"""The gate's rules as pure functions: sanity bounds, the champion check, the paired verdict, data freshness.

``training.gate`` applies them to a registry (module docstring there); nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsmatch.contract import TABLES
from training import metrics as m
from training.bootstrap import PairedResult
from training.specs import ENTITY_COLS, TIMESTAMP_COL

# The contract's ceiling on handling minutes: the top of the sanity range of predicted minutes.
MAX_MINUTES: float = TABLES["completions"].column("handling_minutes").max or float("inf")
PRIMARY = {"regression": "mae", "binary": "auc"}


@dataclass(frozen=True)
class GateTolerances:
    """The sanity bounds, the bootstrap, and how far the champion may fall from its recorded figures."""

    max_ece: float = 0.05  # calibrated classifiers on the holdout
    min_std: float = 1e-6  # predictions must not be constant
    draws: int = 1000  # bootstrap resamples of the holdout
    seed: int = 0
    level: float = 0.95  # two-sided interval of the difference
    champion_auc_drop: float = 0.05  # champion AUC on the new holdout vs its recorded test AUC
    champion_mae_rise: float = 0.20  # champion MAE on the new holdout vs its recorded test MAE (relative)
    same_rows_auc: float = 0.02  # champion AUC on its own test rows, re-built now vs then: data changed
    same_rows_mae_rise: float = 0.05  # the same for MAE (relative)


def holdout_metrics(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The figures the gate reports: MAE for regression; AUC, Brier, ECE for classifiers."""
    if task == "regression":
        return {"mae": m.mae(y, pred), "mape": m.mape(y, pred)}
    return {"auc": m.auc(y, pred), "brier": m.brier(y, pred), "ece": m.ece(y, pred)}


def sanity_failures(task: str, y: np.ndarray, pred: np.ndarray, tol: GateTolerances) -> list[str]:
    """Reasons the predictions are unusable (empty when they are fine)."""
    out = []
    if not np.all(np.isfinite(pred)):
        out.append(f"sanity: {int((~np.isfinite(pred)).sum())} non-finite predictions")
        return out
    lo, hi = (0.0, 1.0) if task == "binary" else (1e-9, MAX_MINUTES)
    if pred.min() < lo or pred.max() > hi:
        out.append(f"sanity: predictions in [{pred.min():.4g}, {pred.max():.4g}] outside [{lo:g}, {hi:g}]")
    if float(np.std(pred)) <= tol.min_std:
        out.append(f"sanity: constant predictions (std {np.std(pred):.3g})")
    if task == "binary":
        ece = m.ece(y, pred)
        if ece > tol.max_ece:
            out.append(f"sanity: ece {ece:.4f} > bound {tol.max_ece:.4f}")
    return out


def champion_check(
    task: str, recorded: float | None, rescored: PairedResult, tol: GateTolerances
) -> str | None:
    """Why the champion's figure on the new holdout says the data or the world changed (None: it does not)."""
    if recorded is None or not np.isfinite(recorded):
        return None
    now = rescored.champion
    if task == "binary":
        drop = recorded - now.value
        if drop > tol.champion_auc_drop and recorded > now.hi:
            return (
                f"champion check: champion AUC on the new holdout {now.value:.4f} "
                f"[{now.lo:.4f}, {now.hi:.4f}] vs {recorded:.4f} recorded at its training "
                f"(drop {drop:.4f} > {tol.champion_auc_drop})"
            )
        return None
    rise = now.value / recorded - 1 if recorded > 0 else 0.0
    if rise > tol.champion_mae_rise and recorded < now.lo:
        return (
            f"champion check: champion MAE on the new holdout {now.value:.4f} "
            f"[{now.lo:.4f}, {now.hi:.4f}] vs {recorded:.4f} recorded at its training "
            f"(rise {rise:.1%} > {tol.champion_mae_rise:.0%})"
        )
    return None


def interval_reason(r: PairedResult, rows: int) -> str:
    """``auc: challenger … vs champion …; advantage +… [lo, hi] (95 % paired bootstrap, …): verdict``."""
    fmt = ".4f" if r.metric != "brier" else ".5f"
    return (
        f"{r.metric}: challenger {r.challenger.value:{fmt}} vs champion {r.champion.value:{fmt}} on "
        f"{rows:,} holdout rows; challenger advantage {r.diff.value:+{fmt}}, {r.level:.0%} interval "
        f"[{r.diff.lo:+{fmt}}, {r.diff.hi:+{fmt}}] (paired bootstrap, {r.draws} draws, seed {r.seed}): "
        f"{r.verdict}"
    )


def data_as_of(run_tags: dict[str, str], other_tags: dict[str, str]) -> tuple[pd.Timestamp | None, str]:
    """The newest data a run saw: ``data_as_of`` when both runs have it, else ``frame_newest``."""
    key = (
        "data_as_of"
        if all(_stamp(t.get("data_as_of")) is not None for t in (run_tags, other_tags))
        else "frame_newest"
    )
    return _stamp(run_tags.get(key)), key


def _stamp(text: str | None) -> pd.Timestamp | None:
    if not text or text == "None":
        return None
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts


def decide(
    task: str,
    results: dict[str, PairedResult],
    newer: tuple[bool, str],
    rows: int,
) -> tuple[list[str], list[str], str]:
    """``(failures, passes, verdict)`` of the paired comparison (``newer``: trained on newer data, why)."""
    fail, ok = [], []
    primary = results[PRIMARY[task]]
    text = interval_reason(primary, rows)
    verdict = primary.verdict
    if verdict == "better":
        ok.append(text)
    elif verdict == "worse":
        fail.append(text + ": significantly worse")
    elif newer[0]:
        ok.append(text + f"; trained on newer data ({newer[1]})")
    else:
        fail.append(text + f"; not trained on newer data ({newer[1]}): nothing to gain")
    if "brier" in results:
        b = results["brier"]
        (fail if b.verdict == "worse" else ok).append(interval_reason(b, rows))
    return fail, ok, verdict


def same_rows(
    old: pd.DataFrame, new: pd.DataFrame, columns: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Rows of ``old`` (the champion's own test slice) that ``new`` (the new holdout) holds again, matched on
    entity ids and timestamp and aligned; and the share of them whose ``columns`` differ."""
    keys = [c for c in ENTITY_COLS if c in old and c in new] + [TIMESTAMP_COL]
    old = old.drop_duplicates(keys, keep=False)
    new = new.drop_duplicates(keys, keep=False)
    pairs = (
        old.reset_index(drop=True)
        .reset_index(names="_old")
        .merge(new.reset_index(drop=True).reset_index(names="_new")[[*keys, "_new"]], on=keys)
    )
    a = old.reset_index(drop=True).iloc[pairs["_old"].to_numpy()].reset_index(drop=True)
    b = new.reset_index(drop=True).iloc[pairs["_new"].to_numpy()].reset_index(drop=True)
    if not len(a):
        return a, b, 0.0
    differ = np.zeros(len(a), dtype=bool)
    for col in columns:
        if col in a and col in b:
            x, y = a[col], b[col]
            differ |= ~((x == y).fillna(False).to_numpy(dtype=bool) | (x.isna() & y.isna()).to_numpy())
    return a, b, float(differ.mean())


def which_changed(
    task: str, then: float, now: float, rows: int, changed_share: float, tol: GateTolerances
) -> tuple[str, str]:
    """``(cause, text)``: did the data change (the champion's own test rows score differently when re-built
    now) or the world (those rows score as before, the drop is in the newer rows)? ``cause`` is ``data``,
    ``world`` or ``unknown`` (no rows in common)."""
    if rows == 0:
        return "unknown", "the data or the world changed (no rows in common with the champion's test slice)"
    name = "AUC" if task == "binary" else "MAE"
    moved = then - now > tol.same_rows_auc if task == "binary" else now > then * (1 + tol.same_rows_mae_rise)
    figures = (
        f"on the {rows:,} rows of the champion's own test slice, re-built now, it scores {name} {now:.4f} "
        f"vs {then:.4f} then, and {changed_share:.1%} of them differ in features or label"
    )
    if moved:
        return "data", f"the data changed: {figures}"
    return "world", f"the world changed: {figures}, so the drop is in the newer rows"
