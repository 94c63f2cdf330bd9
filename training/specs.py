"""What each model predicts: its label, task, feature service and the metric the gate compares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["regression", "binary"]
TIMESTAMP_COL = "event_timestamp"
ENTITY_COLS: tuple[str, ...] = ("task_id", "worker_id", "customer_id", "assignment_id")


@dataclass(frozen=True)
class ModelSpec:
    """One trainable model: ``name`` is also the params file stem and the features' model name."""

    name: str
    task: Task
    label: str
    feature_service: str
    description: str

    @property
    def registered_name(self) -> str:
        """Name in the MLflow model registry (also the experiment name)."""
        return f"opsmatch-{self.name}"

    @property
    def is_classifier(self) -> bool:
        return self.task == "binary"


SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec(
            "handling_time",
            "regression",
            "handling_minutes",
            "handling_time",
            "Expected hands-on minutes of a (task, worker) pair.",
        ),
        ModelSpec(
            "qa_pass",
            "binary",
            "qa_passed",
            "qa_pass",
            "Calibrated P(QA pass) of a (task, worker) pair, on QA-checked tasks.",
        ),
        ModelSpec(
            "complaint",
            "binary",
            "complaint_30d",
            "complaint",
            "Calibrated P(complaint within 30 days) of a (task, worker) pair.",
        ),
        ModelSpec(
            "complaint_pre",
            "binary",
            "complaint_30d",
            "complaint_pre",
            "Calibrated P(complaint within 30 days) before assignment (task + customer features).",
        ),
    )
}
MODEL_NAMES: tuple[str, ...] = tuple(SPECS)


def get_spec(model: str) -> ModelSpec:
    """The spec of ``model``; a clear error for an unknown name."""
    try:
        return SPECS[model]
    except KeyError:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(SPECS)}") from None
