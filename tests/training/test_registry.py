"""MLflow end to end in a throw-away store: runs, registry aliases, the gate, rollback, champion loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.factories.frames import TRUTH
from training.gate import promote, rollback
from training.registry import aliases, client_for
from training.serving_form import load_champion
from training.train import train_all, train_model

MODEL = "qa_pass"
NAME = "opsmatch-qa_pass"


def _train(settings, synth, frame: pd.DataFrame | None = None, **kw):
    frame = synth.frame if frame is None else frame
    truth = frame[TRUTH[MODEL]].to_numpy()
    return train_model(settings, MODEL, frame, synth.features(MODEL), truth, num_threads=1, **kw)


def _shuffled_history(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels shuffled in the older 80 % of the history; the recent rows (the holdout) stay true."""
    out = frame.copy()
    old = (out["event_timestamp"] < out["event_timestamp"].quantile(0.8)) & out["qa_passed"].notna()
    out.loc[old, "qa_passed"] = np.random.default_rng(1).permutation(out.loc[old, "qa_passed"].to_numpy())
    return out


def test_training_registers_a_challenger_that_the_gate_makes_champion(settings, synth) -> None:
    result = _train(settings, synth)
    client = client_for(settings)
    assert result.version == "1"
    assert aliases(client, NAME) == {"challenger": "1"}

    run = client.get_run(result.run_id)
    assert run.data.params["params_version"] == "1.0" and len(run.data.params["params_hash"]) == 12
    assert run.data.metrics["test_auc"] == pytest.approx(result.metrics["auc"])
    assert "test_oracle_auc" in run.data.metrics
    inputs = {}
    for d in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in d.tags}
        inputs[tags["mlflow.data.context"]] = (d.dataset, tags)
    assert set(inputs) == {"training", "validation", "testing"}
    for context, split in (("training", "train"), ("validation", "valid"), ("testing", "test")):
        dataset, tags = inputs[context]
        assert json.loads(dataset.profile)["num_rows"] == result.counts[split] == int(tags["rows"])
        assert tags["feature_service"] == "qa_pass" and dataset.name == f"qa_pass-{split}"
    assert inputs["testing"][1]["from"] == str(result.holdout["event_timestamp"].min())
    files = {
        f.path
        for top in ("plots", "serving_form", "holdout")
        for f in client.list_artifacts(result.run_id, top)
    }
    assert {
        "plots/feature_importance.png",
        "plots/calibration.png",
        "serving_form/model.txt",
        "serving_form/calibrator.json",
        "serving_form/encoder.json",
        "serving_form/meta.json",
        "holdout/test.parquet",
    } <= files
    local = client.download_artifacts(result.run_id, "data_profile.json", str(settings.data_dir))
    profile = json.loads(Path(local).read_text())
    assert profile["rows"] == sum(result.counts.values()) and profile["label"] == "qa_passed"
    assert set(profile["features"]) == set(synth.features(MODEL))
    assert run.data.tags["frame_newest"] == str(result.holdout["event_timestamp"].max())

    import mlflow

    info = mlflow.models.get_model_info(f"models:/{NAME}/1")
    assert info.signature is not None and info.signature.inputs.input_names() == result.serving.feature_names

    decision = promote(settings, MODEL)
    assert decision.promoted, decision.reasons
    assert aliases(client, NAME) == {"champion": "1"}
    assert client.get_model_version(NAME, "1").tags["gate"] == "promoted"


def test_gate_refuses_a_degraded_challenger_with_figures(settings, synth) -> None:
    _train(settings, synth)
    assert promote(settings, MODEL).promoted
    bad = _train(settings, synth, _shuffled_history(synth.frame))
    decision = promote(settings, MODEL)
    assert not decision.promoted
    auc_reason = next(r for r in decision.reasons if r.startswith("auc:"))
    assert f"challenger {decision.challenger_metrics['auc']:.4f}" in auc_reason
    assert f"champion {decision.champion_metrics['auc']:.4f}" in auc_reason
    assert decision.champion_metrics["auc"] - decision.challenger_metrics["auc"] > 0.1
    interval = decision.intervals["auc"]
    assert decision.verdict == "worse" and interval["lo"] <= interval["diff"] <= interval["hi"] < 0
    assert f"[{interval['lo']:+.4f}, {interval['hi']:+.4f}]" in auc_reason
    assert auc_reason.endswith("significantly worse")
    client = client_for(settings)
    assert aliases(client, NAME) == {"champion": "1", "challenger": bad.version}
    assert client.get_model_version(NAME, bad.version).tags["gate"] == "refused"


def _until(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    ts = frame["event_timestamp"]
    return frame[ts < ts.min() + pd.Timedelta(days=days)].reset_index(drop=True)


def test_rollback_restores_the_previous_champion(settings, synth) -> None:
    # Each champion learnt from a longer history: the gate promotes a challenger on newer data.
    first = _train(settings, synth, _until(synth.frame, 70))
    assert promote(settings, MODEL).promoted
    second = _train(settings, synth, _until(synth.frame, 80))
    assert promote(settings, MODEL).promoted
    third = _train(settings, synth)
    assert promote(settings, MODEL).promoted
    client = client_for(settings)
    assert aliases(client, NAME) == {"champion": third.version, "previous-champion": second.version}

    back = rollback(settings, MODEL)
    assert (back.restored_version, back.withdrawn_version) == (second.version, third.version)
    assert aliases(client, NAME) == {"champion": second.version, "previous-champion": first.version}
    assert load_champion(settings, MODEL).version == second.version
    rollback(settings, MODEL)
    assert aliases(client, NAME) == {"champion": first.version}
    with pytest.raises(LookupError, match="previous-champion"):
        rollback(settings, MODEL)


@pytest.mark.parametrize("model", ["qa_pass", "handling_time"])
def test_champion_reproduces_training_predictions_exactly(settings, synth, model: str) -> None:
    result = train_model(settings, model, synth.frame, synth.features(model), num_threads=1)
    assert promote(settings, model).promoted
    champion = load_champion(settings, model)
    assert champion.version == result.version and champion.feature_names == synth.features(model)
    np.testing.assert_array_equal(champion.predict(champion.encode(result.holdout)), result.test_pred)
    # Cached by version: loads again with the artifact store gone.
    shutil.rmtree(settings.mlflow_artifact_root)
    again = load_champion(settings, model)
    np.testing.assert_array_equal(again.predict(again.encode(result.holdout)), result.test_pred)


def test_pyfunc_model_agrees_with_the_native_booster(settings, synth) -> None:
    import mlflow

    result = _train(settings, synth)
    X = result.serving.encoder.frame(result.holdout.head(20))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")
    expected = result.serving.predict_raw(X.to_numpy())
    np.testing.assert_allclose(np.asarray(pyfunc.predict(X)), expected, rtol=1e-12)


@pytest.mark.slow
def test_tune_runs_nested_trials_and_logs_best_params(settings, synth, tmp_path) -> None:
    from training.tune import tune

    out = tune(
        settings,
        MODEL,
        synth.frame,
        synth.features(MODEL),
        n_trials=3,
        num_threads=1,
        write_to=tmp_path / "best.yaml",
    )
    client = client_for(settings)
    children = client.search_runs(
        [client.get_run(out.run_id).info.experiment_id], f"tags.mlflow.parentRunId = '{out.run_id}'"
    )
    assert len(children) == 3 and out.n_trials == 3 and out.metric == "binary_logloss"
    assert min(c.data.metrics["valid_binary_logloss"] for c in children) == pytest.approx(out.best_value)
    assert out.best_params.version.startswith("1.0-tuned-")
    assert "num_leaves" in (tmp_path / "best.yaml").read_text()
    assert "best_params.yaml" in {f.path for f in client.list_artifacts(out.run_id)}


@pytest.mark.slow
def test_train_all_registers_every_model(settings, synth) -> None:
    models = ("handling_time", "qa_pass", "complaint", "complaint_pre")
    frames = {m: (synth.frame, synth.features(m)) for m in models}
    results = train_all(settings, frames, {m: synth.truth(m) for m in frames}, num_threads=1)
    client = client_for(settings)
    for model, result in results.items():
        assert aliases(client, f"opsmatch-{model}") == {"challenger": "1"}
        assert result.metrics and result.counts["test"] > 0
    assert "precision_at_capacity" in results["complaint"].metrics
    assert "model_over_oracle_mae" in results["handling_time"].metrics
