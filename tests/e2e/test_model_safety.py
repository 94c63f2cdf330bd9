"""Model safety in the retraining loop on a twin world: a broken feature join stops the loop before anything
is registered, raises a ``model_health`` alert the service can list, and ``--force`` overrides it on record.

The fault is real: after the loop's feature build, the worker-profile table loses every row of a third
of the workers, so Feast's point-in-time join finds no worker features for their assignments.
"""

from __future__ import annotations

import pandas as pd
import pytest

import features.pipeline
import training.params
from apps.retrain import read_state, retrain
from features.spec import table_path
from opsmatch.ingest import ingest_path
from serving.state.store import StateStore
from tests.factories.fast import fast_params
from tests.factories.loop_world import make_world
from training.registry import client_for
from training.specs import MODEL_NAMES

WORKER_MODELS = ("handling_time", "qa_pass", "complaint")


def _versions(settings) -> dict[str, int]:
    client = client_for(settings)
    return {m: len(client.search_model_versions(f"name = 'opsmatch-{m}'")) for m in MODEL_NAMES}


def _lose_a_third_of_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    real = features.pipeline.build_features

    def broken_build(settings, **kwargs):  # noqa: ANN001, ANN202 - same signature as the real one
        out = real(settings, **kwargs)
        path = table_path(settings.feature_data_dir, "worker_profile")
        table = pd.read_parquet(path)
        workers = sorted(table["worker_id"].unique())
        table[~table["worker_id"].isin(workers[::3])].to_parquet(path, index=False)
        return out

    monkeypatch.setattr(features.pipeline, "build_features", broken_build)


@pytest.mark.slow
def test_a_broken_worker_join_stops_the_loop_before_registration(tmp_path_factory, monkeypatch) -> None:
    world = make_world(tmp_path_factory.mktemp("safety"), days=40, new_days=1)
    # the loop's checks and records are tested here, not the models' quality: fast parameters
    monkeypatch.setattr(training.params, "PARAMS_DIR", fast_params(tmp_path_factory.mktemp("fast-params")))
    first = retrain(world.settings)
    assert first.status == "retrained" and set(first.promoted) == set(MODEL_NAMES), first.lines()
    assert all(not c["failures"] and not c["reference"] for c in first.data_checks.values())
    state, versions = read_state(world.settings), _versions(world.settings)

    ingested = ingest_path(world.settings, world.incoming)  # the next day arrives
    assert ingested.quarantined == 0 and ingested.new > 0
    _lose_a_third_of_the_workers(monkeypatch)
    report = retrain(world.settings)
    assert report.status == "blocked" and not report.models, report.lines()
    assert report.message.startswith("blocked: the training frames of handling_time, qa_pass, complaint")
    for model in WORKER_MODELS:
        figures = report.data_checks[model]["figures"]["join_coverage"]["worker"]
        assert figures["reference"] - figures["new"] > 0.2, figures
        join = [f for f in report.data_checks[model]["failures"] if f.startswith("join coverage: worker ")]
        assert join and f"found for {figures['new']:.1%} of rows vs {figures['reference']:.1%}" in join[0]
    assert report.data_checks["complaint_pre"]["failures"] == []  # no worker features in it
    assert _versions(world.settings) == versions  # nothing registered
    assert read_state(world.settings) == state  # nothing recorded: the next run checks again
    assert any("data checks failed" in line for line in report.lines())

    store = StateStore(world.settings.resolved_state_db_url)
    try:
        alerts = {a["subject_id"]: a for a in store.list_alerts(kind="model_health")}
    finally:
        store.close()
    assert set(alerts) == {f"opsmatch-{m}:data_checks" for m in WORKER_MODELS}
    qa = alerts["opsmatch-qa_pass:data_checks"]
    assert qa["severity"] == "critical" and "join coverage: worker features found for" in qa["message"]
    assert qa["details"]["failures"] == report.data_checks["qa_pass"]["failures"]
    assert sorted(report.alerts) == sorted(a["id"] for a in alerts.values())

    # A person looked and overrides: the loop trains on the frame, and the runs say so.
    forced = retrain(world.settings, override_checks=True)
    assert forced.status == "retrained" and forced.checks_overridden, forced.lines()
    client = client_for(world.settings)
    for model in MODEL_NAMES:
        tags = client.get_run(forced.models[model].run_id).data.tags
        if model in WORKER_MODELS:
            assert tags["data_checks"] == "overridden"
            assert "join coverage: worker features found for" in tags["data_check_failures"]
        else:
            assert tags["data_checks"] == "passed" and "data_check_failures" not in tags
