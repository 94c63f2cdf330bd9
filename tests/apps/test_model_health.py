"""``model_health`` alerts from the roof: the gate's hold raised by ``opsmatch promote`` into the service's
alerts table (the same state-store URL the service lists ``/alerts`` from)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli import app
from apps.model_health import HealthIssue, raise_alerts
from opsmatch.settings import Settings
from serving.state.store import StateStore
from tests.factories.frames import broken_recent_labels, make_frame
from training.gate import promote
from training.train import train_model

MODEL = "qa_pass"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    env = {
        "OPSMATCH_DATA_DIR": str(tmp_path / "data"),
        "OPSMATCH_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "OPSMATCH_MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def _alerts(settings: Settings) -> list[dict]:
    store = StateStore(settings.resolved_state_db_url)
    try:
        return store.list_alerts(kind="model_health")
    finally:
        store.close()


def test_raising_the_same_issue_again_refreshes_one_alert(settings: Settings) -> None:
    issue = HealthIssue("qa_pass", "data_checks", "qa_pass: rows: 10 vs 100", {"failures": ["rows"]})
    first = raise_alerts(settings, [issue])
    again = raise_alerts(settings, [HealthIssue("qa_pass", "data_checks", "qa_pass: rows: 12 vs 100")])
    assert first == again and raise_alerts(settings, []) == []
    (row,) = _alerts(settings)
    assert row["id"] == first[0] and row["subject_id"] == "opsmatch-qa_pass:data_checks"
    assert row["message"] == "qa_pass: rows: 12 vs 100" and row["severity"] == "critical"
    assert row["details"] == {"model": "qa_pass", "topic": "data_checks"}


@pytest.mark.slow
def test_promote_raises_an_alert_when_the_champion_collapses(settings: Settings) -> None:
    synth = make_frame(n_rows=8000, days=90, seed=0)
    cols = synth.features(MODEL)
    train_model(settings, MODEL, synth.frame, cols, num_threads=1)
    assert promote(settings, MODEL).promoted
    challenger = train_model(settings, MODEL, broken_recent_labels(synth.frame), cols, num_threads=1)

    result = CliRunner().invoke(app, ["promote", "--model", MODEL])
    assert result.exit_code == 0, result.output
    assert f"{MODEL}: held for review" in result.output and "champion check" in result.output
    (alert,) = _alerts(settings)
    assert alert["subject_id"] == "opsmatch-qa_pass:champion_check" and not alert["acked"]
    assert alert["message"].startswith("qa_pass: champion check: champion AUC on the new holdout")
    assert f"promotion of v{challenger.version} is held until a person looks" in alert["message"]
    assert "the data changed" in alert["message"] and alert["details"]["change"] == "data"
