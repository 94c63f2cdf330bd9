"""``opsmatch monitor-models``: the served predictions against the outcomes, at the edges.

Reads the prediction log and the outcome tables from the event store, the champions' reference
profiles and recorded test figures from MLflow, and what the online store holds for a sample of the
logged tasks (their task, customer and province rows); the figures themselves are
:mod:`serving.predictions.model_monitor`'s. Writes them to
the MLflow experiment ``opsmatch-monitoring`` (one run per call), to ``model_health`` alerts when past
the thresholds, and to ``<data dir>/monitoring/latest.json``, which the service's ``/metrics`` reads.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from apps.model_health import HealthIssue, raise_alerts
from opsmatch import events
from opsmatch.clock import clock_from
from serving.predictions import model_monitor as mon
from serving.predictions.log import TABLE
from serving.runtime.safety_metrics import monitoring_path

if TYPE_CHECKING:
    from opsmatch.settings import Settings

log = logging.getLogger("opsmatch.monitor")
EXPERIMENT = "opsmatch-monitoring"
MODELS: tuple[str, ...] = ("handling_time", "qa_pass", "complaint", "complaint_pre")
OFFLINE = ("ece", "brier", "auc", "mae")


@dataclass
class MonitorReport:
    """The figures of one monitoring run, where they went, and the alerts raised."""

    result: dict[str, Any]
    alerts: list[str] = field(default_factory=list)
    run_id: str | None = None
    path: Path | None = None

    def lines(self) -> list[str]:
        out = [
            f"served predictions: {self.result['predictions']:,} rows, {self.result['served_tasks']:,} tasks"
        ]
        for model, figs in sorted(self.result["models"].items()):
            o = figs["overall"]
            shown = ", ".join(f"{k} {o[k]:.4f}" for k in ("ece", "brier", "auc", "mae") if k in o)
            offline = self.result["offline"].get(model, {})
            ref = ", ".join(f"{k} {v:.4f}" for k, v in offline.items())
            out.append(f"{model} v{figs['version']}: n {int(o['n'])}, {shown} (offline: {ref or 'n/a'})")
        for model, stab in sorted(self.result["stability"].items()):
            top = sorted(stab.items(), key=lambda kv: -kv[1])[:3]
            out.append(f"{model} PSI: " + ", ".join(f"{f} {v:.3f}" for f, v in top))
        if self.result["skew"]:
            worst = max(self.result["skew"].items(), key=lambda kv: kv[1])
            out.append(
                f"online/offline skew on {self.result['skew_sample']} rows: worst {worst[0]} {worst[1]:.1%}"
            )
        out.append(
            f"alerts raised: {len(self.alerts)}" + (f" ({', '.join(self.alerts)})" if self.alerts else "")
        )
        return out


def _champion_reference(settings: Settings, model: str) -> tuple[dict | None, dict[str, float]]:
    """The champion's training reference profile and its recorded test figures."""
    from training.registry import CHAMPION, client_for, load_profile, registered_name, version_for_alias

    client = client_for(settings)
    mv = version_for_alias(client, registered_name(model), CHAMPION)
    if mv is None or mv.run_id is None:
        return None, {}
    metrics = client.get_run(mv.run_id).data.metrics
    return load_profile(client, mv.run_id), {
        k: metrics[f"test_{k}"] for k in OFFLINE if f"test_{k}" in metrics
    }


SKEW_VIEWS: tuple[tuple[str, str, str], ...] = (
    ("task_profile", "task_id", "task_id"),
    ("customer_profile", "customer_id", "task_customer_id"),
    ("province_status", "province_id", "task_province_id"),
)  # (view, join key, the served column holding the key)


def online_features(settings: Settings, sample: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """What the online store holds now for each sampled row's task, customer and province, per view
    (``None`` rows where it holds nothing for the key, e.g. a task given inline)."""
    from features.spec import VIEWS
    from features.store import build_store

    store = build_store(settings)
    out = {}
    for view, key, column in SKEW_VIEWS:
        names = VIEWS[view].feature_names
        ids = sample[column].fillna("").astype(str) if column in sample else pd.Series("", index=sample.index)
        got = store.get_online_features(
            features=[f"{view}:{f}" for f in names], entity_rows=[{key: i} for i in ids]
        ).to_dict()
        out[view] = pd.DataFrame({f: got[f] for f in names})
    return out


def skew_figures(
    settings: Settings, features: pd.DataFrame, n: int, seed: int = 0
) -> tuple[dict[str, float], int]:
    """Online skew on up to ``n`` logged rows: what was served against what the online store holds for
    the same task, customer and province (the store the service reads), on the rows where it holds one.
    The offline store's point-in-time values are no reference here: the online store is materialized
    at its own times, so a row served between two materializations differs from the offline value of
    its instant by design (that is freshness, reported by ``/info``, not skew)."""
    if not len(features) or n <= 0:
        return {}, 0
    sample = features.sample(min(n, len(features)), random_state=seed).reset_index(drop=True)
    out: dict[str, float] = {}
    for online in online_features(settings, sample).values():
        held = online.notna().any(axis=1).to_numpy()
        names = [
            c
            for c in online.columns
            if c in sample.columns
            and not pd.api.types.is_datetime64_any_dtype(online[c])
            and not c.endswith("_at")  # times: served as text, compared as events
        ]
        if held.any():
            out.update(mon.skew(sample[held], online[held], names))
    return out, len(sample)


def compute(
    settings: Settings,
    *,
    as_of: pd.Timestamp | None = None,
    skew_sample: int = 50,
    complaint_days: float = 30.0,
) -> dict[str, Any]:
    """Every figure of one monitoring run (no writes)."""
    as_of = as_of if as_of is not None else pd.Timestamp(clock_from(settings)())
    preds = events.read_table(settings, TABLE)
    tables = {t: events.read_table(settings, t) for t in ("completions", "qa_results", "complaints")}
    rows = mon.labelled(
        preds, tables["completions"], tables["qa_results"], tables["complaints"], as_of, complaint_days
    )
    features = mon.served_features(preds)
    stab, offline, nulls = {}, {}, {}
    for model in MODELS:
        reference, figures = _champion_reference(settings, model)
        offline[model] = figures
        if reference is not None:
            stab[model] = mon.stability(features, reference)
            nulls[model] = mon.null_rates(features, reference)
    skew, sampled = skew_figures(settings, features, skew_sample)
    return {
        "as_of": as_of.isoformat(),
        "ran_at_epoch": time.time(),
        "predictions": len(preds),
        "served_tasks": int(features["task_id"].nunique()) if len(features) else 0,
        "models": mon.model_figures(rows),
        "offline": offline,
        "stability": stab,
        "nulls": nulls,
        "skew": skew,
        "skew_sample": sampled,
    }


def _log_mlflow(settings: Settings, result: dict[str, Any]) -> str:
    from training.registry import client_for, experiment_named

    client = client_for(settings)
    exp_id = experiment_named(client, settings, EXPERIMENT)
    run = client.create_run(
        exp_id, tags={"as_of": result["as_of"]}, run_name=f"monitor {result['as_of'][:16]}"
    )
    metrics: dict[str, float] = {"predictions": float(result["predictions"])}
    for model, figs in result["models"].items():
        metrics.update({f"{model}.{k}": v for k, v in figs["overall"].items() if v == v})
    for model, stab in result["stability"].items():
        metrics.update({f"{model}.psi.{f}": v for f, v in stab.items()})
    metrics.update({f"skew.{f}": v for f, v in result["skew"].items()})
    stamp = int(result["ran_at_epoch"] * 1000)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, float(value), timestamp=stamp)
    client.log_dict(run.info.run_id, result, "monitoring.json")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def monitor_models(
    settings: Settings,
    *,
    thresholds: mon.MonitorThresholds | None = None,
    as_of: pd.Timestamp | None = None,
    skew_sample: int = 50,
    log_mlflow: bool = True,
) -> MonitorReport:
    """Compute, then write the figures to MLflow, the alerts and the service's latest result."""
    result = compute(settings, as_of=as_of, skew_sample=skew_sample)
    found = mon.issues(result, thresholds or mon.MonitorThresholds())
    result["issues"] = [{"model": m, "topic": t, "message": msg} for m, t, msg, _ in found]
    report = MonitorReport(result)
    issues = [HealthIssue(m, f"monitoring:{t}", msg, details) for m, t, msg, details in found]
    report.alerts = raise_alerts(settings, issues)
    if log_mlflow:
        report.run_id = _log_mlflow(settings, result)
    path = monitoring_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, default=str), encoding="utf-8")
    tmp.replace(path)  # the service never reads half a file
    report.path = path
    return report
