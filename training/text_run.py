"""Train, track and gate the text model in MLflow (``opsmatch-complaint_text``).

One run: the holdout table of ``training.text_holdout`` (AUC/Brier/ECE with text, without, with the
keyword list) as metrics, the fitted pipeline as an ``mlflow.sklearn`` model registered under
``opsmatch-complaint_text``, and the text-aware risk (``training.voice_risk``) under
``opsmatch-complaint_voice``. The gate moves the ``champion`` alias only when the text adds at least
``MIN_GAIN`` AUC over no text and beats the keyword list on the same holdout, and the form served on
``complaint_pre`` (``late_voice_offset``) stays calibrated (ECE within the other models' bound); otherwise
the version stays a ``challenger`` (both names move together).
"""

from __future__ import annotations

from typing import Any

from opsmatch.events import read_tables
from opsmatch.settings import Settings
from training.gate_rules import GateTolerances
from training.registry import client_for, experiment_named, version_for_alias
from training.text_holdout import text_holdout
from training.text_model import MIN_DF, NGRAMS, C
from training.voice_risk import coefficients

NAME = "opsmatch-complaint_text"
VOICE_NAME = "opsmatch-complaint_voice"  # the text-aware risk (training.voice_risk), gated with the text
MIN_GAIN = 0.01
MAX_ECE = GateTolerances().max_ece  # the served text-aware risk is held to the classifiers' bound
TABLES = (
    "tasks",
    "customers",
    "completions",
    "complaints",
    "assignments",
    "qa_results",
    "worker_status",
    "contacts",
)


def gate(table: dict[str, dict[str, float]]) -> tuple[bool, str]:
    """Promote only text that adds AUC over no text and beats the keyword list."""
    gain = table["text"]["auc"] - table["no_text"]["auc"]
    if gain < MIN_GAIN:
        return False, f"AUC gain over no text {gain:+.4f} < {MIN_GAIN}"
    if table["text"]["auc"] <= table["keywords"]["auc"]:
        return False, "not above the keyword list"
    ece = table.get("late_voice_offset", {}).get("ece", 0.0)
    if ece > MAX_ECE:
        return False, f"the served text-aware risk's ECE {ece:.4f} > {MAX_ECE}"
    return True, f"AUC gain over no text {gain:+.4f}, above the keyword list"


def train_text(settings: Settings) -> dict[str, Any]:
    """Measure on the holdout, log the run, register the model, gate the champion alias."""
    import mlflow

    result = text_holdout(read_tables(settings, TABLES))
    client = client_for(settings)
    exp = experiment_named(client, settings, NAME)
    promote, why = gate(result["table"])
    with mlflow.start_run(experiment_id=exp, run_name="complaint_text") as run:
        mlflow.log_params({"analyzer": "char", "ngram_range": str(NGRAMS), "min_df": MIN_DF, "C": C})
        mlflow.log_metrics(
            {f"{name}_{k}": v for name, figs in result["table"].items() for k, v in figs.items()}
            | {"auc_gain": result["auc_gain"], **{f"rows_{k}": v for k, v in result["rows"].items()}}
        )
        mlflow.set_tags({"gate": "promoted" if promote else "held", "gate_reason": why})
        version = register(settings, result["model"], result["voice_model"], promote)
    return {"run_id": run.info.run_id, "version": version, "promoted": promote, "why": why,
            "table": result["table"], "rows": result["rows"]}  # fmt: skip


def register(settings: Settings, text: Any, stacker: Any, promote: bool) -> str:
    """Log both models in the active run, register them and move ``champion`` (or ``challenger``) to
    the new versions together; returns the text model's version."""
    import mlflow

    info = mlflow.sklearn.log_model(text, name="model", pip_requirements=[], registered_model_name=NAME)
    voice = mlflow.sklearn.log_model(
        stacker, name="voice_risk", pip_requirements=[], registered_model_name=VOICE_NAME
    )
    mlflow.log_dict(coefficients(stacker), "voice_risk_coefficients.json")
    client, alias = client_for(settings), "champion" if promote else "challenger"
    client.set_registered_model_alias(NAME, alias, str(info.registered_model_version))
    client.set_registered_model_alias(VOICE_NAME, alias, str(voice.registered_model_version))
    return str(info.registered_model_version)


def load_voice_champions(settings: Settings) -> tuple[Any, Any] | None:
    """``(text pipeline, voice stacker)`` champions, or None when either has none."""
    import mlflow

    client = client_for(settings)
    if (
        version_for_alias(client, NAME, "champion") is None
        or version_for_alias(client, VOICE_NAME, "champion") is None
    ):
        return None
    return (
        mlflow.sklearn.load_model(f"models:/{NAME}@champion"),
        mlflow.sklearn.load_model(f"models:/{VOICE_NAME}@champion"),
    )


def load_voice_stacker(settings: Settings) -> Any:
    """The text-aware risk's champion (``opsmatch-complaint_voice``), or None."""
    import mlflow

    if version_for_alias(client_for(settings), VOICE_NAME, "champion") is None:
        return None
    return mlflow.sklearn.load_model(f"models:/{VOICE_NAME}@champion")


def load_text_champion(settings: Settings, known: str | None = None) -> tuple[str, Any] | None:
    """``(version, pipeline)`` of the champion, or None when there is none or it is ``known`` already."""
    import mlflow

    mv = version_for_alias(client_for(settings), NAME, "champion")
    if mv is None or str(mv.version) == known:
        return None
    return str(mv.version), mlflow.sklearn.load_model(f"models:/{NAME}@champion")
