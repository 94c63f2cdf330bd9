"""The champion/challenger gate: a paired comparison on the same recent holdout, a champion check; rollback.

The holdout is the challenger's own test slice (the most recent data), stored with its run. Both models'
serving forms re-score it. Three questions, in order:

1. **Sanity** of the challenger's predictions (finite, in range, not constant, ECE bound).
2. **Did the data or the world change?** The champion's figure on the new holdout is compared with the
   test figure recorded in its own run. A drop beyond ``champion_auc_drop`` (AUC) or a rise beyond
   ``champion_mae_rise`` (relative MAE), with the recorded figure outside the champion's bootstrap
   interval, stops promotion: the decision is ``held`` and carries an ``alert`` for a person that says
   which changed: the champion is re-scored on its own stored test rows and on the same rows as the
   pipeline builds them now; if those differ, the *data* changed, else the *world* (the drop is in the
   newer rows). A fault that breaks the data breaks both sides of the paired comparison, so that
   comparison alone cannot see it.
3. **Is the challenger better?** A paired bootstrap of the difference on the holdout (fixed seed): the
   challenger is promoted when the interval of its advantage lies above zero; when the interval spans
   zero, only if it was trained on newer data (``data_as_of``), so an identical retrain is never
   promoted; never when the interval lies below zero. Classifiers must also not be significantly worse
   on Brier score. The decision's reasons show the intervals.

Aliases: ``challenger`` (newest candidate), ``champion`` (what serving loads), ``previous-champion``
(rollback target); each promoted version also carries a ``previous_champion_version`` tag so rollbacks
chain.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training import metrics as m
from training.bootstrap import paired_bootstrap
from training.gate_rules import (
    PRIMARY,
    GateTolerances,
    champion_check,
    data_as_of,
    decide,
    holdout_metrics,
    same_rows,
    sanity_failures,
    which_changed,
)
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
    from mlflow import MlflowClient

    from opsmatch.settings import Settings

__all__ = ["GateDecision", "GateTolerances", "RollbackResult", "promote", "rollback", "sanity_failures"]


@dataclass
class GateDecision:
    """What the gate decided and why (``reasons`` carry the figures and intervals)."""

    model: str
    promoted: bool
    challenger_version: str | None
    champion_version: str | None
    reasons: list[str] = field(default_factory=list)
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] = field(default_factory=dict)
    holdout_rows: int = 0
    verdict: str = ""  # better | worse | indistinguishable (primary metric), or empty
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> diff, lo, hi, ...
    held: bool = False  # the champion check failed: waits for a person
    change: str = ""  # when held: data | world | unknown (training.gate_rules.which_changed)
    alert: str | None = None  # what a person must look at (model_health)

    def __str__(self) -> str:
        verdict = "PROMOTED" if self.promoted else "HELD" if self.held else "REFUSED"
        return f"{self.model} v{self.challenger_version}: {verdict}; " + "; ".join(self.reasons)


@dataclass(frozen=True)
class RollbackResult:
    """Which version serves again and which one was withdrawn."""

    model: str
    restored_version: str
    withdrawn_version: str | None


def _score(sm: ServingModel, holdout: pd.DataFrame) -> np.ndarray:
    return sm.predict(sm.encode(holdout), num_threads=0)


def promote(
    settings: Settings,
    model: str,
    tolerances: GateTolerances | None = None,
    *,
    force: bool = False,
    cache_dir: Path | None = None,
) -> GateDecision:
    """Gate the ``challenger`` against the ``champion`` (module docstring).

    ``force`` promotes a sane challenger even when the comparison fails, the champion check holds it,
    or the comparison cannot be made (a person decided; recorded as ``forced`` in the reasons).
    """
    tol = tolerances or GateTolerances()
    spec = get_spec(model)
    name = registered_name(model)
    client = client_for(settings)
    chal_mv = version_for_alias(client, name, CHALLENGER)
    champ_mv = version_for_alias(client, name, CHAMPION)
    decision = GateDecision(
        model,
        False,
        None if chal_mv is None else str(chal_mv.version),
        None if champ_mv is None else str(champ_mv.version),
    )
    if chal_mv is None or chal_mv.run_id is None:
        decision.reasons.append(f"no {CHALLENGER!r} version of {name} with a run")
        return decision
    if champ_mv is not None and champ_mv.version == chal_mv.version:
        decision.reasons.append(f"v{chal_mv.version} is already the champion")
        return decision
    with tempfile.TemporaryDirectory() as tmp:
        holdout = load_holdout(client, chal_mv.run_id, Path(tmp))
    y = holdout[spec.label].to_numpy(dtype=np.float64)
    decision.holdout_rows = len(holdout)
    chal_pred = _score(load_alias(settings, model, CHALLENGER, cache_dir), holdout)
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
            scored = _Scored(holdout, y, chal_pred, champ_pred, champion)
            failures += _compare(client, spec.label, decision, scored, chal_mv, champ_mv, tol, passes)
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


@dataclass
class _Scored:
    """The new holdout, its labels, both models' predictions on it, and the champion's serving form."""

    holdout: pd.DataFrame
    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray
    champion_model: ServingModel


def _what_changed(
    client: MlflowClient, label: str, run_id: str, s: _Scored, task: str, tol: GateTolerances
) -> tuple[str, str]:
    """Re-score the champion on its own stored test rows and on the same rows as the pipeline builds them
    now: a difference is the data; none means the drop comes from the newer rows (the world)."""
    with tempfile.TemporaryDirectory() as tmp:
        old = load_holdout(client, run_id, Path(tmp))
    then, now, share = same_rows(old, s.holdout, [*s.champion_model.feature_names, label])
    if not len(then):
        return which_changed(task, float("nan"), float("nan"), 0, 0.0, tol)
    metric = m.auc if task == "binary" else m.mae
    figures = [
        metric(df[label].to_numpy(dtype=np.float64), _score(s.champion_model, df)) for df in (then, now)
    ]
    return which_changed(task, figures[0], figures[1], len(then), share, tol)


def _compare(
    client: MlflowClient,
    label: str,
    decision: GateDecision,
    s: _Scored,
    chal_mv: Any,
    champ_mv: Any,
    tol: GateTolerances,
    passes: list[str],
) -> list[str]:
    """The champion check and the paired comparison; fills ``decision``; returns the failures."""
    task, y, chal_pred, champ_pred = get_spec(decision.model).task, s.y, s.challenger, s.champion
    metrics = ("auc", "brier") if task == "binary" else ("mae",)
    results = paired_bootstrap(
        y, chal_pred, champ_pred, metrics, draws=tol.draws, seed=tol.seed, level=tol.level
    )
    decision.intervals = {
        k: {
            "diff": r.diff.value,
            "lo": r.diff.lo,
            "hi": r.diff.hi,
            "challenger": r.challenger.value,
            "champion": r.champion.value,
        }
        for k, r in results.items()
    }
    champ_run, chal_run = client.get_run(champ_mv.run_id), client.get_run(chal_mv.run_id)
    primary = PRIMARY[task]
    held = champion_check(task, champ_run.data.metrics.get(f"test_{primary}"), results[primary], tol)
    failures: list[str] = []
    if held:
        decision.held = True
        decision.change, which = _what_changed(client, label, champ_mv.run_id, s, task, tol)
        decision.alert = (
            f"{decision.model}: {held}; {which}; promotion of v{decision.challenger_version} is held "
            "until a person looks (opsmatch promote --force after review)"
        )
        failures.append(f"{held}; {which}: promotion held for a person")
    chal_at, key = data_as_of(chal_run.data.tags, champ_run.data.tags)
    champ_at, _ = data_as_of(champ_run.data.tags, chal_run.data.tags)
    newer = chal_at is not None and (champ_at is None or chal_at > champ_at)
    why = f"{key} {chal_at} vs champion's {champ_at}"
    if not newer and np.array_equal(chal_pred, champ_pred):
        why += "; identical predictions: a retrain of the same data"
    fail, ok, decision.verdict = decide(task, results, (newer, why), len(y))
    passes += ok
    return failures + fail


def _record(client: MlflowClient, name: str, decision: GateDecision) -> None:
    """Tag the challenger version with the verdict, its figures, the intervals and when."""
    tags = {
        "gate": "promoted" if decision.promoted else "held" if decision.held else "refused",
        "gate_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "gate_reasons": "; ".join(decision.reasons)[:4000],
        "gate_champion_version": decision.champion_version or "",
        "gate_verdict": decision.verdict,
        **({"gate_change": decision.change} if decision.held else {}),
        **{f"gate_{k}": f"{v:.6g}" for k, v in decision.challenger_metrics.items()},
        **{
            f"gate_{k}_advantage": f"{i['diff']:+.6g} [{i['lo']:+.6g}, {i['hi']:+.6g}]"
            for k, i in decision.intervals.items()
        },
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
    return RollbackResult(model, str(previous.version), None if current is None else str(current.version))
