"""The gate in a throw-away MLflow store: paired bootstrap verdicts, data freshness, the champion check."""

from __future__ import annotations

import pandas as pd

from tests.factories.frames import broken_recent_labels
from training.gate import GateTolerances, promote
from training.registry import aliases, client_for
from training.train import train_model

MODEL = "qa_pass"
NAME = "opsmatch-qa_pass"


def _train(settings, synth, frame: pd.DataFrame | None = None, **kw):
    frame = synth.frame if frame is None else frame
    return train_model(settings, MODEL, frame, synth.features(MODEL), num_threads=1, **kw)


def _until(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    """The history as it stood ``days`` after its start."""
    ts = frame["event_timestamp"]
    return frame[ts < ts.min() + pd.Timedelta(days=days)].reset_index(drop=True)


def test_an_identical_retrain_is_not_promoted(settings, synth) -> None:
    first = _train(settings, synth)
    assert promote(settings, MODEL).promoted
    again = _train(settings, synth)
    decision = promote(settings, MODEL)
    assert not decision.promoted and not decision.held
    assert decision.verdict == "indistinguishable"
    assert decision.intervals["auc"] == {
        "diff": 0.0,
        "lo": 0.0,
        "hi": 0.0,
        "challenger": decision.intervals["auc"]["champion"],
        "champion": decision.intervals["auc"]["champion"],
    }
    auc = next(r for r in decision.reasons if r.startswith("auc:"))
    assert "95% interval [+0.0000, +0.0000] (paired bootstrap, 1000 draws, seed 0)" in auc
    assert "not trained on newer data" in auc and "identical predictions" in auc
    assert aliases(client_for(settings), NAME) == {"champion": first.version, "challenger": again.version}


def test_an_indistinguishable_challenger_on_newer_data_is_promoted(settings, synth) -> None:
    _train(settings, synth, _until(synth.frame, 80))
    assert promote(settings, MODEL).promoted
    newer = _train(settings, synth)
    decision = promote(settings, MODEL)
    assert decision.promoted, decision.reasons
    auc = next(r for r in decision.reasons if r.startswith("auc:"))
    if decision.verdict == "indistinguishable":
        assert "trained on newer data (frame_newest" in auc
    else:
        assert decision.verdict == "better" and decision.intervals["auc"]["lo"] > 0
    assert aliases(client_for(settings), NAME)["champion"] == newer.version


def test_a_champion_whose_figures_collapse_on_the_new_holdout_holds_promotion(settings, synth) -> None:
    champion = _train(settings, synth)
    assert promote(settings, MODEL).promoted
    recorded = champion.metrics["auc"]
    challenger = _train(settings, synth, broken_recent_labels(synth.frame))
    decision = promote(settings, MODEL)
    assert not decision.promoted and decision.held
    now = decision.champion_metrics["auc"]
    assert recorded - now > GateTolerances().champion_auc_drop
    held = next(r for r in decision.reasons if r.startswith("champion check"))
    assert f"champion AUC on the new holdout {now:.4f}" in held and f"vs {recorded:.4f} recorded" in held
    assert held.endswith("promotion held for a person")
    assert decision.alert is not None and decision.alert.startswith("qa_pass: champion check")
    # The champion's own test rows carry coin-flip labels now: the data changed, not the world.
    assert decision.change == "data" and "; the data changed: on the " in decision.alert
    assert client_for(settings).get_model_version(NAME, challenger.version).tags["gate_change"] == "data"
    assert f"v{challenger.version} is held until a person looks" in decision.alert
    client = client_for(settings)
    assert client.get_model_version(NAME, challenger.version).tags["gate"] == "held"
    assert aliases(client, NAME) == {"champion": champion.version, "challenger": challenger.version}
    # The challenger learnt from the broken labels too: its calibration fails sanity, which even a
    # person's --force does not override.
    forced = promote(settings, MODEL, force=True)
    assert not forced.promoted and forced.reasons[0].startswith("sanity: ece")
