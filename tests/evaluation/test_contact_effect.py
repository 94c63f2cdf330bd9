"""The field estimator of the contact effect, checked on the twin where the true effect is known."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from apps.cli import app
from evaluation.contact_effect import (
    HOLDOUT_FILE,
    ContactEffect,
    estimate_contact_effect,
    estimate_from_events,
    holdouts_from_records,
)
from evaluation.replay import run_policy, synthetic_period
from evaluation.watchlist import WatchlistPolicy, field_log
from opsmatch import events
from serving.risk.desk import HOLDOUT_ACTION
from serving.state.store import StateStore
from simulator.outcomes import task_outcomes
from simulator.policies import LegacyPolicy
from simulator.risk_team import work_watchlist
from simulator.scenario import ScenarioConfig, load_scenario

DAYS = 28


def team_config(effect: float) -> ScenarioConfig:
    """The small scenario with a team big enough to measure on (10 % capacity, half held out)."""
    small = load_scenario("small")
    rt = small.risk_team.model_copy(update={"capacity_share": 0.1, "holdout_share": 0.5, "effect": effect})
    return small.model_copy(update={"risk_team": rt})


def field_estimate(effect: float, seed: int) -> tuple[ContactEffect, tuple[pd.DataFrame, ...]]:
    """FIFO dispatch and a risk team ranked by P(complaint), then the estimator on what the field logs."""
    period = synthetic_period(team_config(effect), DAYS, seed)
    result = run_policy(period, WatchlistPolicy(LegacyPolicy(explore=False), None))
    o = task_outcomes(result)
    work = work_watchlist(
        period.config,
        o,
        result.noise,
        len(period.arrivals.customers),
        seed,
        scores=o["p_complaint"].to_numpy(),
    )
    logs = field_log(period, work)
    return estimate_contact_effect(*logs), logs


@pytest.mark.parametrize("effect", [0.8, 0.5, 0.0])
def test_estimate_brackets_the_twins_effect(effect: float) -> None:
    est, _ = field_estimate(effect, seed=2)
    assert est.contains(effect), est.to_text()
    assert est.contacted > 500 and est.held_out > 500 and est.complaints_held_out > 20
    if effect != 0.5:  # it tells a strong effect (0.8) from none at all, both ways
        assert not est.contains(0.8 - effect), est.to_text()


def test_estimator_refuses_without_a_holdout_and_names_the_columns() -> None:
    inter = pd.DataFrame(
        {"customer_id": ["C1"], "at": [pd.Timestamp("2026-01-01", tz="UTC")], "kind": ["proactive"]}
    )
    comp = pd.DataFrame({"customer_id": ["C1"], "filed_at": [pd.Timestamp("2026-02-01", tz="UTC")]})
    with pytest.raises(ValueError, match="held out"):
        estimate_contact_effect(inter, pd.DataFrame({"customer_id": [], "at": []}), comp)
    with pytest.raises(ValueError, match=r"holdouts: missing column\(s\) \['at'\]"):
        estimate_contact_effect(inter, pd.DataFrame({"customer_id": ["C2"]}), comp)


def test_cli_uplift_watchlist_reads_the_event_store(tmp_path: Path) -> None:
    _, (inter, held, comp) = field_estimate(0.5, seed=3)
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    events.append_rows(events_dir, "interventions", inter)
    held.to_parquet(events_dir / HOLDOUT_FILE, index=False)
    complaints = comp.assign(
        complaint_id=[f"K{i}" for i in range(len(comp))], task_id="T1", severity="low", reason="fees"
    )
    events.append_rows(events_dir, "complaints", complaints)
    out = CliRunner().invoke(app, ["uplift", str(events_dir), "--watchlist"])
    assert out.exit_code == 0, out.output
    assert "contact effect on the complaint hazard" in out.output and "held out" in out.output


@pytest.mark.slow
def test_interval_covers_the_true_effect_in_nine_of_ten_seeds() -> None:
    """Coverage of the 95 % interval over 10 independent twins (~15 s)."""
    covered = [field_estimate(0.5, seed)[0].contains(0.5) for seed in range(1, 11)]
    assert sum(covered) >= 9, covered


def test_cli_uplift_watchlist_reads_the_services_holdout_records(tmp_path: Path) -> None:
    """A field log: no holdout file, the service's audit records of its lists' held-out rows instead."""
    est, (inter, held, comp) = field_estimate(0.5, seed=3)
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    events.append_rows(events_dir, "interventions", inter)
    complaints = comp.assign(
        complaint_id=[f"K{i}" for i in range(len(comp))], task_id="T1", severity="low", reason="fees"
    )
    events.append_rows(events_dir, "complaints", complaints)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore(url)
    for at, group in held.groupby("at"):  # one record per served list, as serving.risk.desk writes them
        detail = {"at": pd.Timestamp(at).isoformat(), "customers": group["customer_id"].tolist()}
        store.audit(HOLDOUT_ACTION, "risk-1", None, detail, pd.Timestamp(at).to_pydatetime())
    records = store.audit_entries(action=HOLDOUT_ACTION, limit=10**6)
    store.close()
    parsed = holdouts_from_records(records)
    assert len(parsed) == len(held) and set(parsed["customer_id"]) == set(held["customer_id"])
    assert estimate_from_events(events_dir, holdouts=parsed) == est  # the same figure as the twin's file
    out = CliRunner().invoke(
        app, ["uplift", str(events_dir), "--watchlist"], env={"OPSMATCH_STATE_DB_URL": url}
    )
    assert out.exit_code == 0, out.output
    assert f"{est.held_out} held out" in out.output.replace("\n", " ")
