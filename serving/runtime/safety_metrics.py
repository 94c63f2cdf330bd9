"""``/metrics`` lines of model safety: fallbacks by reason, the prediction log's counters, degraded
state, and gauges of the latest model-monitoring result (written by ``opsmatch monitor-models``)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsmatch.settings import Settings
    from serving.runtime.engine import Engine

MONITORING_FILE = Path("monitoring") / "latest.json"
GAUGES: tuple[str, ...] = ("ece", "brier", "auc", "mae", "n")


def monitoring_path(settings: Settings) -> Path:
    """Where the monitoring job writes its latest result (JSON) for the service's gauges."""
    return Path(settings.data_dir) / MONITORING_FILE


@lru_cache(maxsize=1)
def fallback_counter() -> Any:
    """Per-process Prometheus counter, created after BentoML set up its multiprocess directory."""
    from prometheus_client import Counter

    return Counter(
        "opsmatch_fallbacks",
        "Decisions served by rule ranking, by endpoint and reason.",
        ["endpoint", "reason"],
    )


def count_fallback(endpoint: str, result: Any) -> None:
    """Count a response's ``fallback`` reason, if it has one."""
    reason = getattr(result, "fallback", None)
    if reason:
        fallback_counter().labels(endpoint, reason).inc()


_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def latest_monitoring(path: Path) -> dict[str, Any] | None:
    """The latest monitoring result (re-read when the file changes), None when there is none."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    held = _cache.get(str(path))
    if held is None or held[0] != mtime:
        try:
            held = (mtime, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return held[1] if held else None
        _cache[str(path)] = held
    return held[1]


def _gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    return lines + [f"{name}{labels} {value}" for labels, value in samples]


def metric_lines(engine: Engine) -> list[str]:
    """The model-safety lines of this worker's ``/metrics``."""
    pid = os.getpid()
    lines = _gauge(
        "opsmatch_degraded",
        "1 for each fault ranking is falling back for now (this worker).",
        [(f'{{reason="{r}",pid="{pid}"}}', 1) for r in engine.degradation.reasons(engine.runtime.scorer)],
    )
    if engine.predictions is not None:
        stats = engine.predictions.stats()
        lines += _gauge(
            "opsmatch_prediction_log",
            "Prediction log counters of this worker (queued, submitted, written_rows, overflow_decisions, "
            "failed_rows).",
            [(f'{{counter="{k}",pid="{pid}"}}', v) for k, v in stats.items()],
        )
    result = latest_monitoring(monitoring_path(engine.settings))
    if result is not None:
        samples = [
            (f'{{model="{model}",figure="{g}"}}', figs["overall"][g])
            for model, figs in sorted(result.get("models", {}).items())
            for g in GAUGES
            if g in figs["overall"] and figs["overall"][g] == figs["overall"][g]  # not NaN
        ]
        lines += _gauge(
            "opsmatch_model_monitor", "Served-prediction figures of the latest monitoring run.", samples
        )
        psi = [
            (f'{{model="{model}",feature="{f}"}}', v)
            for model, stab in sorted(result.get("stability", {}).items())
            for f, v in sorted(stab.items())
        ]
        lines += _gauge(
            "opsmatch_feature_psi", "PSI of served features vs the champion's training reference.", psi
        )
        skew = [(f'{{feature="{f}"}}', v) for f, v in sorted(result.get("skew", {}).items())]
        lines += _gauge(
            "opsmatch_feature_skew", "Share of sampled served values differing from Feast offline.", skew
        )
        lines += _gauge(
            "opsmatch_model_monitor_time",
            "Epoch seconds of the latest monitoring run.",
            [("", result.get("ran_at_epoch", 0))],
        )
    return lines
