"""The console's "models and proof" view: champions and gate decisions, the last retrains, the twin A/B
headline and the field uplift, with links into the MLflow UI.

Sources, read on request and cached for ``ttl`` seconds (none of them changes more than hourly):
the MLflow registry (each registered version's ``gate*`` tags written by ``training.gate``), the
retrain loop's ``<data>/retrain/history.jsonl``, the twin A/B report's ``summary.json``
(``<data>/reports/evaluation-<scenario>/``) and the field uplift that ``opsmatch uplift --out`` writes
(``<data>/reports/field-uplift.json``). A missing source is reported as missing, never invented.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from opsmatch.settings import Settings

log = logging.getLogger("opsmatch.console")
GATE_TAGS = ("gate", "gate_at", "gate_verdict", "gate_reasons", "gate_champion_version", "gate_change")
HEADLINE_POLICIES = ("ml_ranking", "ml_batch", "ml_watchlist")
HEADLINE_REFERENCES = ("legacy_fifo", "national_least_busy", "oracle")
HEADLINE_KPIS = ("mean_turnaround_h", "sla_attainment", "qa_pass_rate", "complaint_rate", "true_cost_total")


def report_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "reports"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def retrain_history(settings: Settings, last: int = 10) -> list[dict[str, Any]]:
    """The last ``last`` lines of the retrain loop's history, newest first."""
    path = Path(settings.data_dir) / "retrain" / "history.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[-last:]
    except OSError:
        return []
    out = []
    for line in reversed(lines):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def ab_headline(summary: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The A/B ratios of the ML policies against FIFO, least-busy and the oracle, plus the targets."""
    if not summary:
        return None
    ratios = [
        r
        for r in summary.get("ratios", [])
        if r.get("policy") in HEADLINE_POLICIES
        and r.get("reference") in HEADLINE_REFERENCES
        and r.get("kpi") in HEADLINE_KPIS
    ]
    return {
        "scenario": summary.get("scenario"),
        "days": summary.get("days"),
        "seeds": summary.get("seeds"),
        "ratios": ratios,
        "targets": summary.get("targets", []),
    }


def mlflow_link(base: str, model: str | None = None, version: str | None = None) -> str | None:
    """A URL of the MLflow UI (registered model, or one of its versions); None without a base."""
    if not base:
        return None
    base = base.rstrip("/")
    if model is None:
        return f"{base}/#/models"
    if version is None:
        return f"{base}/#/models/{quote(model)}"
    return f"{base}/#/models/{quote(model)}/versions/{quote(str(version))}"


def registry_view(settings: Settings, served: Mapping[str, str], ui: str, per_model: int = 5) -> list[dict]:
    """Per model: the served version, the registry's champion, and its latest versions' gate tags."""
    from mlflow.exceptions import MlflowException  # MLflow only when the view is asked for

    from training.registry import aliases, client_for
    from training.specs import MODEL_NAMES, get_spec

    client = client_for(settings)
    out = []
    for model in MODEL_NAMES:
        name = get_spec(model).registered_name
        found: list[Any] = []
        try:
            found = list(client.search_model_versions(f"name='{name}'"))
        except MlflowException:
            log.warning("console: no versions of %s in the registry", name)
        latest = sorted(found, key=lambda v: int(v.version), reverse=True)[:per_model]
        out.append(
            {
                "model": model,
                "registered_name": name,
                "served_version": served.get(model),
                "aliases": aliases(client, name),
                "link": mlflow_link(ui, name),
                "versions": [
                    {
                        "version": str(v.version),
                        "created_at": v.creation_timestamp,
                        "run_id": v.run_id,
                        "link": mlflow_link(ui, name, v.version),
                        **{k: v.tags.get(k) for k in GATE_TAGS},
                    }
                    for v in latest
                ],
            }
        )
    return out


class ProofView:
    """The view's data, cached for ``ttl`` seconds (the registry read costs tens of milliseconds)."""

    def __init__(self, settings: Settings, mlflow_ui_url: str, ttl: float = 15.0) -> None:
        self.settings, self.ui, self.ttl = settings, mlflow_ui_url, ttl
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def get(self, served: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.ttl:
                return {**self._cached[1], "served": dict(served)}
        reports = report_dir(self.settings)
        try:
            registry = registry_view(self.settings, served, self.ui)
            registry_error = None
        except Exception as exc:  # noqa: BLE001 - the registry down must not break the page
            log.exception("console: MLflow registry read failed")
            registry, registry_error = [], f"MLflow registry not readable: {type(exc).__name__}"
        data = {
            "served": dict(served),
            "registry": registry,
            "registry_error": registry_error,
            "retrains": retrain_history(self.settings),
            "ab": ab_headline(_read_json(reports / f"evaluation-{self.settings.scenario}" / "summary.json")),
            "uplift": _read_json(reports / "field-uplift.json"),
            "mlflow_ui": mlflow_link(self.ui),
        }
        with self._lock:
            self._cached = (time.monotonic(), data)
        return data
