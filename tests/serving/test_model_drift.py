"""The model monitor on the twin: live arrivals served through the real engine and logged.

- Drift: the twin's next day of arrivals with the customer mix shifted (far more customers aged 60+):
  one monitoring run after that traffic puts the age band's PSI past its threshold and raises the
  ``model_health`` alert; the same day unshifted stays below the warning line.
- Calibration: the complaint_pre champion's own holdout tasks served through /risk at their time;
  the monitor's ECE on those served predictions matches the offline ECE recorded by training within
  sampling error (a bootstrap interval of the served ECE).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.monitor_models import EXPERIMENT, monitor_models
from opsmatch import events
from serving.api import schemas as s
from serving.config import load_service_config
from serving.predictions.log import TABLE, PredictionLog
from serving.predictions.model_monitor import MonitorThresholds
from serving.runtime.components import build_runtime, row_validator
from serving.runtime.engine import Engine
from serving.state.event_index import EventIndex
from serving.state.store import StateStore
from tests.factories.serving_world import DAYS, SEED, World, private_world, wait_until
from training import metrics as m

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OLD_HEAVY = (0.03, 0.07, 0.20, 0.70)  # 18-29, 30-44, 45-59, 60+ (the twin's mix: 0.15, 0.35, 0.32, 0.18)


@pytest.fixture(scope="module")
def world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """This module logs its monitoring runs to MLflow: it works on a private copy."""
    return private_world(world, tmp_path_factory.mktemp("model-drift-world"))


@pytest.fixture(scope="module")
def runtime(world: World):  # noqa: ANN201
    config = load_service_config({"policy_ttl_seconds": 0, "champion_poll_seconds": 3600})
    index = EventIndex(world.settings.events_dir)
    rt = build_runtime(world.settings, config, index)
    wait_until(lambda: rt.profiles.ready() and rt.scorer.ready(), 120, what="profiles and champions")
    yield rt, config, index
    rt.close()


def _served_engine(world: World, runtime, root: Path) -> tuple[Engine, object]:  # noqa: ANN001
    """An engine on the world's runtime whose prediction log and state go to ``root``."""
    rt, config, index = runtime
    mine = world.settings.model_copy(
        update={
            "data_dir": root,
            "events_url": f"sqlite:///{root / 'events.db'}",
            "state_db_url": f"sqlite:///{root / 'state.db'}",
        }
    )
    log = PredictionLog(lambda f: events.append(mine, TABLE, f), flush_seconds=0.05).start()
    store = StateStore(mine.resolved_state_db_url)
    eng = Engine(
        world.settings, rt, store, config, validate_rows=row_validator(world.settings, index), predictions=log
    )
    return eng, mine


def _live_arrivals(age_p: tuple[float, ...] | None, monkeypatch) -> pd.DataFrame:  # noqa: ANN001
    """The twin's day of arrivals after the history (its customers joined), optionally another age mix."""
    import simulator.arrivals as arrivals
    from simulator.scenario import load_scenario

    if age_p is not None:
        monkeypatch.setattr(arrivals, "AGE_P", age_p)
    tasks, customers = arrivals.generate_arrivals(load_scenario("small"), 1, SEED + 100, start_day=DAYS)
    return tasks.merge(customers, on="customer_id", suffixes=("", "_customer"))


def _serve_risk(
    eng: Engine,
    arrived: pd.DataFrame,
    chunk: int = 500,
    prefix: str = "LIVE-",
    as_of: pd.Timestamp | None = None,
    flush: bool = True,
) -> None:
    """/risk on the arrivals given inline (task rows joined with their customers' traits); with ``flush``,
    wait until the prediction log has written them."""
    for start in range(0, len(arrived), chunk):
        part = arrived.iloc[start : start + chunk]
        tasks = [
            s.InlineTask(
                task_id=f"{prefix}{r.task_id}",
                task_type=r.task_type,
                province_id=r.province_id,
                created_at=r.created_at,
                sla_due_at=r.sla_due_at,
                complexity=int(r.complexity),
                customer_id=f"{prefix}{r.customer_id}",
                channel=r.channel,
                amount=float(r.amount),
                customer=s.InlineCustomer(
                    age_band=r.age_band,
                    channel=r.channel_customer,
                    tenure_years=float(r.tenure_years),
                    policy_value_band=r.policy_value_band,
                    vip=bool(r.vip),
                    prior_complaints=int(r.prior_complaints),
                ),
            )
            for r in part.itertuples()
        ]
        when = as_of if as_of is not None else part["created_at"].max()
        eng.risk(s.RiskRequest(tasks=tasks, as_of=when.to_pydatetime()))
    if flush:
        assert eng.predictions.flush(60)


@pytest.mark.parametrize("shifted", [False, True], ids=["same-mix", "older-customers"])
def test_a_shifted_customer_mix_crosses_the_psi_line_and_alerts_in_one_run(
    world: World, runtime, tmp_path: Path, monkeypatch, shifted: bool
) -> None:  # noqa: ANN001
    eng, mine = _served_engine(world, runtime, tmp_path)
    arrived = _live_arrivals(OLD_HEAVY if shifted else None, monkeypatch)
    assert len(arrived) >= MonitorThresholds().psi_min_rows
    _serve_risk(eng, arrived)
    # Monitored at the end of the served day, not at the wall clock: the world's days are dated, so at
    # some hours of the wall clock part of the day's complaint_pre predictions would be 30 days old, and
    # labelled 0 (these inline tasks never complete): a calibration alert decided by the hour of the run.
    end_of_day = pd.Timestamp(arrived["created_at"].max()) + pd.Timedelta(hours=1)
    report = monitor_models(mine, skew_sample=0, as_of=end_of_day)
    psi = report.result["stability"]["complaint_pre"]["cust_age_band"]
    alerts = eng_alerts = StateStore(mine.resolved_state_db_url).list_alerts(kind="model_health", limit=50)
    subjects = {a["subject_id"] for a in eng_alerts}
    if shifted:
        assert psi > MonitorThresholds().psi_alert
        assert "opsmatch-complaint_pre:monitoring:stability" in subjects
        alert = next(a for a in alerts if a["subject_id"] == "opsmatch-complaint_pre:monitoring:stability")
        assert "cust_age_band" in alert["message"]
        # Only the shifted features are named: counters of the history so far are never drift.
        assert "cust_tasks_so_far" not in alert["message"]
    else:  # the control arm: ordinary traffic raises no model-health alert at all
        assert psi < 0.1
        assert not subjects, (report.result["issues"], {
            m: {f: round(v, 3) for f, v in st.items() if v > 0.1}
            for m, st in report.result["stability"].items()
        })  # fmt: skip
    assert report.result["served_tasks"] == len(arrived)
    from training.registry import client_for

    exp = client_for(mine).get_experiment_by_name(EXPERIMENT)
    runs = client_for(mine).search_runs(
        [exp.experiment_id], filter_string=f"attributes.run_id = '{report.run_id}'"
    )
    assert runs and runs[0].data.metrics["complaint_pre.psi.cust_age_band"] == pytest.approx(psi)
    assert report.path is not None and report.path.exists()
    eng.predictions.stop()
    eng.store.close()


def test_calibration_on_served_predictions_matches_the_offline_ece(
    world: World, runtime, tmp_path: Path
) -> None:  # noqa: ANN001
    from training.registry import CHAMPION, client_for, load_holdout, registered_name, version_for_alias

    client = client_for(world.settings)
    mv = version_for_alias(client, registered_name("complaint_pre"), CHAMPION)
    holdout = load_holdout(client, mv.run_id, tmp_path / "holdout")
    offline_ece = client.get_run(mv.run_id).data.metrics["test_ece"]
    eng, mine = _served_engine(world, runtime, tmp_path / "served")
    # Done tasks are no longer in the online store (it holds the open ones): they arrive inline, with
    # their contract rows and customers' traits, as they did when they were new.
    tasks = events.read_table(world.settings, "tasks").set_index("task_id")
    customers = events.read_table(world.settings, "customers").set_index("customer_id")
    for at, group in holdout.drop_duplicates("task_id").groupby("event_timestamp", sort=True):
        rows = tasks.loc[group["task_id"].astype(str)].reset_index()
        arrived = rows.join(customers, on="customer_id", rsuffix="_customer")
        _serve_risk(eng, arrived, prefix="", as_of=at, flush=False)
    assert eng.predictions.flush(60)  # once for the ~470 requests (each flush polls the writer ~0.1 s)
    for table in ("completions", "qa_results", "complaints"):  # the outcomes that came back
        events.append(mine, table, events.read_table(world.settings, table))
    report = monitor_models(mine, skew_sample=0, log_mlflow=False, as_of=pd.Timestamp(world.as_of))
    figs = report.result["models"]["complaint_pre"]["overall"]
    assert figs["n"] == holdout["task_id"].nunique()
    # Sampling error of the served ECE: a bootstrap over the served rows.
    log = events.read_table(mine, TABLE).set_index("task_id")["p_complaint_pre"]
    y = holdout.drop_duplicates("task_id").set_index("task_id")["complaint_30d"].astype(float)
    p = log.reindex(y.index).to_numpy(float)
    rng = np.random.default_rng(0)
    draws = [m.ece(y.to_numpy()[i], p[i]) for i in (rng.integers(0, len(y), len(y)) for _ in range(300))]
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert lo <= offline_ece <= hi, (figs["ece"], offline_ece, lo, hi)
    assert figs["ece"] == pytest.approx(m.ece(y.to_numpy(), p))
    eng.predictions.stop()
    eng.store.close()


def test_online_offline_skew_on_a_sample_of_served_rows(world: World, runtime, tmp_path: Path) -> None:  # noqa: ANN001
    """Open tasks ranked by id at the features' as_of: what was served equals what the online store
    holds for the same task, customer and province (the task attributes exactly)."""
    eng, mine = _served_engine(world, runtime, tmp_path)
    everybody = [
        {"worker_id": str(w), "at": world.as_of, "on_shift": True, "open_tasks": 0}
        for w in world.workers["worker_id"]
    ]
    eng.worker_status(s.WorkerStatusRequest(statuses=everybody), actor="tester")
    for task_id in world.pending["task_id"].astype(str).head(20):
        eng.rank(s.RankRequest(task_id=task_id, top_k=3, as_of=world.as_of))
    assert eng.predictions.flush(60)
    mine = mine.model_copy(update={"data_dir": world.settings.data_dir})  # Feast: the world's store
    from apps.monitor_models import compute

    result = compute(mine, skew_sample=20)
    assert result["skew_sample"] == 20
    skew = result["skew"]
    assert {"task_complexity", "task_channel", "cust_age_band"} <= set(skew)
    assert all(
        skew[f] == 0.0 for f in ("task_type_name", "task_complexity", "task_channel", "task_log_amount")
    )
    eng.predictions.stop()
    eng.store.close()
