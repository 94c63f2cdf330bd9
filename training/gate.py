"""The champion/challenger gate: promotion only after both are scored on the same recent holdout; rollback.

The holdout is the challenger's own test slice (the most recent data), stored with its run. Both models'
serving forms re-score it, so the comparison does not depend on what each run logged. Aliases:
``challenger`` (newest candidate), ``champion`` (what serving loads), ``previous-champion`` (rollback
target); each promoted version also carries a ``previous_champion_version`` tag so rollbacks chain.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from opsmatch.contract import TABLES
from training import metrics as m
from training.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    client_for,
    delete_alias,
    load_holdout,
    registered_name,
    version_for_alias,
)
from training.serving_form import ServingModel, load_alias
from training.specs import get_spec

if TYPE_CHECKING:
    from opsmatch.settings import Settings

# The contract's ceiling on handling minutes: the top of the sanity range of predicted minutes.
MAX_MINUTES: float = TABLES["completions"].column("handling_minutes").max or float("inf")


@dataclass(frozen=True)
class GateTolerances:
    """How much worse than the champion a challenger may be, and the sanity bounds it must meet."""

    mae_rel: float = 0.02  # challenger MAE <= champion MAE × (1 + mae_rel)
    auc_abs: float = 0.005  # challenger AUC >= champion AUC − auc_abs
    brier_abs: float = 0.002  # challenger Brier <= champion Brier + brier_abs
    max_ece: float = 0.05  # calibrated classifiers on the holdout
    min_std: float = 1e-6  # predictions must not be constant


@dataclass
class GateDecision:
    """What the gate decided and why (``reasons`` carry the figures)."""

    model: str
    promoted: bool
    challenger_version: str | None
    champion_version: str | None
    reasons: list[str] = field(default_factory=list)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)
    holdout_rows: int = 0

    def __str__(self) -> str:
        verdict = "PROMOTED" if self.promoted else "REFUSED"
        return f"{self.model} v{self.challenger_version}: {verdict}; " + "; ".join(self.reasons)


@dataclass(frozen=True)
class RollbackResult:
    """Which version serves again and which one was withdrawn."""

    model: str
    restored_version: str
    withdrawn_version: str | None


def holdout_metrics(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The figures the gate compares: MAE for regression; AUC, Brier, ECE for classifiers."""
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


def compare(
    task: str, chal: dict[str, float], champ: dict[str, float], tol: GateTolerances
) -> tuple[list[str], list[str]]:
    """``(failures, passes)`` of the challenger against the champion on the primary metrics."""
    fail, ok = [], []

    def check(good: bool, text: str) -> None:
        (ok if good else fail).append(text)

    if task == "regression":
        limit = champ["mae"] * (1 + tol.mae_rel)
        check(
            chal["mae"] <= limit,
            f"mae: challenger {chal['mae']:.4f} vs champion {champ['mae']:.4f} "
            f"(limit {limit:.4f} = +{tol.mae_rel:.1%})",
        )
    else:
        floor = champ["auc"] - tol.auc_abs
        check(
            chal["auc"] >= floor,
            f"auc: challenger {chal['auc']:.4f} vs champion {champ['auc']:.4f} "
            f"(floor {floor:.4f} = -{tol.auc_abs})",
        )
        ceiling = champ["brier"] + tol.brier_abs
        check(
            chal["brier"] <= ceiling,
            f"brier: challenger {chal['brier']:.5f} vs champion "
            f"{champ['brier']:.5f} (ceiling {ceiling:.5f} = +{tol.brier_abs})",
        )
    return fail, ok


def _score(sm: ServingModel, holdout) -> np.ndarray:  # noqa: ANN001 - pandas frame
    return sm.predict(sm.encode(holdout), num_threads=0)


def promote(
    settings: Settings,
    model: str,
    tolerances: GateTolerances | None = None,
    *,
    force: bool = False,
    cache_dir: Path | None = None,
) -> GateDecision:
    """Gate the ``challenger``: sanity checks, then no worse than the ``champion`` on the same holdout.

    ``force`` promotes a sane challenger even when the comparison fails or cannot be made.
    """
    tol = tolerances or GateTolerances()
    spec = get_spec(model)
    name = registered_name(model)
    client = client_for(settings)
    chal_mv = version_for_alias(client, name, CHALLENGER)
    champ_mv = version_for_alias(client, name, CHAMPION)
    decision = GateDecision(
        model, False, chal_mv and str(chal_mv.version), champ_mv and str(champ_mv.version)
    )
    if chal_mv is None:
        decision.reasons.append(f"no {CHALLENGER!r} version of {name}")
        return decision
    if champ_mv is not None and champ_mv.version == chal_mv.version:
        decision.reasons.append(f"v{chal_mv.version} is already the champion")
        return decision
    with tempfile.TemporaryDirectory() as tmp:
        holdout = load_holdout(client, chal_mv.run_id, Path(tmp))
    y = holdout[spec.label].to_numpy(dtype=np.float64)
    decision.holdout_rows = len(holdout)
    challenger = load_alias(settings, model, CHALLENGER, cache_dir)
    chal_pred = _score(challenger, holdout)
    decision.challenger_metrics = holdout_metrics(spec.task, y, chal_pred)
    failures = sanity_failures(spec.task, y, chal_pred, tol)
    passes: list[str] = []
    if champ_mv is None:
        passes.append("no champion yet: the first sane challenger becomes champion")
    else:
        champion = load_alias(settings, model, CHAMPION, cache_dir)
        try:
            champ_pred = _score(champion, holdout)
        except KeyError as exc:
            failures.append(f"champion v{champ_mv.version} cannot score the holdout: {exc}")
        else:
            decision.champion_metrics = holdout_metrics(spec.task, y, champ_pred)
            worse, fine = compare(spec.task, decision.challenger_metrics, decision.champion_metrics, tol)
            failures += worse
            passes += fine
    sane = not any(f.startswith("sanity") for f in failures)
    decision.promoted = not failures or (force and sane)
    decision.reasons = failures + passes + (["forced"] if force and failures and sane else [])
    _record(client, name, decision)
    if decision.promoted:
        if champ_mv is not None:
            client.set_registered_model_alias(name, PREVIOUS, champ_mv.version)
            client.set_model_version_tag(name, chal_mv.version, "previous_champion_version", champ_mv.version)
        client.set_registered_model_alias(name, CHAMPION, chal_mv.version)
        client.delete_registered_model_alias(name, CHALLENGER)
    return decision


def _record(client, name: str, decision: GateDecision) -> None:  # noqa: ANN001 - MlflowClient
    """Tag the challenger version with the verdict, its figures and when."""
    tags = {
        "gate": "promoted" if decision.promoted else "refused",
        "gate_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "gate_reasons": "; ".join(decision.reasons)[:4000],
        "gate_champion_version": decision.champion_version or "",
        **{f"gate_{k}": f"{v:.6g}" for k, v in decision.challenger_metrics.items()},
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, decision.challenger_version, key, value)


def rollback(settings: Settings, model: str) -> RollbackResult:
    """Point ``champion`` back at ``previous-champion``; the one before becomes the next rollback target."""
    name = registered_name(model)
    client = client_for(settings)
    previous = version_for_alias(client, name, PREVIOUS)
    if previous is None:
        raise LookupError(f"{name} has no {PREVIOUS!r} version to roll back to")
    current = version_for_alias(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, previous.version)
    if current is not None:
        client.set_model_version_tag(
            name, current.version, "rolled_back_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        )
    before = previous.tags.get("previous_champion_version")
    if before:
        client.set_registered_model_alias(name, PREVIOUS, before)
    else:
        delete_alias(client, name, PREVIOUS)
    return RollbackResult(model, str(previous.version), current and str(current.version))
