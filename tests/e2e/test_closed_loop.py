"""THE LOOP, end to end through a real ``bentoml serve``: a worker's quality changes in the outcomes the
QA system sends, ``retrain`` trains new challengers, the gate notices that the world changed under the QA
model (its champion's figures fall on the new holdout) and holds it with a ``model_health`` alert the
service lists, a person promotes it after review, the running service swaps the new champions in by
itself, and the worker's predicted QA pass and rank go down.

Timeline (the twin's): 45 days of history are in the store and the first champions learned from them;
the service ranks a claims review; then the next day arrives -- the dispatch system's export (tasks,
dispatches) as files, the QA feed (completions, QA results, complaints) through ``POST /outcomes`` --
with a targeted audit of the best-ranked worker: 40 claims reviews, 34 failed.
"""

from __future__ import annotations

import shutil
import time

import bentoml
import pandas as pd
import pytest

from apps.retrain import retrain
from opsmatch import events
from opsmatch.ingest import ingest_path
from tests import factories
from tests.factories.loop_world import TOKEN, Server, audit_batch, json_rows, make_world
from training.gate import promote
from training.specs import MODEL_NAMES

pytestmark = [pytest.mark.slow, pytest.mark.integration]
TASK_TYPE = "claims_review"
SWAP_TIMEOUT = 150.0  # the service polls the registry every champion_poll_seconds (5 s here, 60 by default)


def _body(resp):
    return resp.model_dump(mode="json") if hasattr(resp, "model_dump") else resp


def _probe(world, province_id: str) -> dict:
    """A claims review that just arrived, ranked at the end of the new day."""
    now = world.sim_now
    task = {
        "task_id": "PROBE-1",
        "task_type": TASK_TYPE,
        "province_id": province_id,
        "created_at": (now - pd.Timedelta(minutes=10)).isoformat(),
        "sla_due_at": (now + pd.Timedelta(hours=47)).isoformat(),
        "complexity": 3,
        "channel": "online",
        "amount": 8000.0,
    }
    return {"task": task, "top_k": 100, "as_of": now.isoformat()}


def _good_worker_in_a_close_race(ranking: dict, margin: float = 0.1) -> dict:
    """Among the top ten, the best-placed worker with a QA outlook at least the median whose lead over
    the next worker is under ``margin`` in cost: a quality drop must be able to cost them places."""
    top = ranking["workers"][:10]
    median = sorted(w["p_qa_pass"] for w in top)[len(top) // 2]
    for w, nxt in zip(top, top[1:], strict=False):
        if w["p_qa_pass"] >= median and nxt["cost"] - w["cost"] < margin:
            return w
    return top[0]


def _position(ranking: dict, worker_id: str) -> dict:
    return next(w for w in ranking["workers"] if w["worker_id"] == worker_id)


def test_outcomes_retrain_and_hot_swap_move_a_worker_down(tmp_path_factory) -> None:
    world = make_world(tmp_path_factory.mktemp("loop"), days=45, new_days=1)
    first = retrain(world.settings)
    assert first.status == "retrained" and set(first.promoted) == set(MODEL_NAMES), first.lines()
    server = Server(world).start()
    try:
        with bentoml.SyncHTTPClient(server.url, server_ready_timeout=0, token=TOKEN) as client:
            _loop(world, server, client, first)
    except BaseException:
        print(server.tail())
        raise
    finally:
        server.stop()


def _loop(world, server, client, first) -> None:
    info = client.request("GET", "/info").json()
    assert info["ready"] and info["model_versions"] == {m: o.champion_after for m, o in first.models.items()}

    # The dispatch system reports everyone on shift, idle, at the end of the new day.
    workers = events.read_table(world.settings.events_dir, "workers")["worker_id"].tolist()
    at = (world.sim_now - pd.Timedelta(seconds=1)).isoformat()
    statuses = [{"worker_id": w, "at": at, "on_shift": True, "open_tasks": 0} for w in workers]
    assert _body(client.workers_status({"statuses": statuses}))["stored"] == len(workers)

    probe = _probe(world, "P01")
    before = _body(client.rank(probe))
    assert before["eligible"] >= 10
    chosen = _good_worker_in_a_close_race(before)
    worker_id = chosen["worker_id"]

    # The next day arrives: dispatch export as files, with the audit's tasks and dispatches ...
    audit = audit_batch(world, worker_id, TASK_TYPE, n=40, n_failed=34)
    export = world.root / "dispatch-export"
    export.mkdir()
    for name in ("tasks", "assignments"):
        shutil.copy(world.incoming / f"{name}.parquet", export / f"{name}.parquet")
    factories.write_tables(export, {"tasks_audit": audit["tasks"], "assignments_audit": audit["assignments"]})
    ingested = ingest_path(world.settings, export)
    assert ingested.quarantined == 0 and ingested.new == ingested.read, ingested.rows()

    # ... and the QA feed through the service: the day's completions, QA checks and complaints.
    feed = {
        t: pd.read_parquet(world.incoming / f"{t}.parquet")
        for t in ("completions", "qa_results", "complaints")
    }
    feed["completions"] = pd.concat([feed["completions"], audit["completions"]], ignore_index=True)
    feed["qa_results"] = pd.concat([feed["qa_results"], audit["qa_results"]], ignore_index=True)
    receipt = _body(client.outcomes({t: json_rows(df) for t, df in feed.items()}))
    for table, df in feed.items():
        assert receipt["tables"][table]["new"] == len(df), receipt
    assert receipt["profiles_refreshed"] is True
    pushed = _position(_body(client.rank(probe)), worker_id)  # profiles already fold the outcomes in

    # The scheduled retrain: new outcomes -> features -> challengers -> gate.
    report = retrain(world.settings)
    assert report.status == "retrained", report.lines()
    assert {"completions", "qa_results", "tasks", "assignments"} <= set(report.changed_tables)
    assert report.new_rows["qa_results"] == len(feed["qa_results"])
    # The audit is a change in the world (34 failures of a worker the champion rated highly): the QA
    # champion's AUC falls on the new holdout while its own test rows score as before, so the gate
    # holds the QA challenger for a person and says why, through the service's alerts.
    qa = report.models["qa_pass"]
    assert qa.held and not qa.promoted, report.lines()
    assert any(r.startswith("champion check") and "the world changed" in r for r in qa.reasons), qa.reasons
    alerts = client.request("GET", "/alerts", params={"kind": "model_health"}).json()["alerts"]
    assert [a["subject_id"] for a in alerts] == ["opsmatch-qa_pass:champion_check"], alerts
    assert alerts[0]["details"]["change"] == "world"
    reviewed = promote(world.settings, "qa_pass", force=True)  # the person looked: promote it
    assert reviewed.promoted and reviewed.reasons[-1] == "forced", reviewed.reasons
    for name in [*report.promoted, "qa_pass"]:
        assert int(report.models[name].challenger_version) > int(first.models[name].champion_after)
    expected = {m: o.champion_after for m, o in report.models.items()}
    expected["qa_pass"] = reviewed.challenger_version

    # The service notices the new champions by itself.
    t0 = time.time()
    while (served := client.request("GET", "/info").json()["model_versions"]) != expected:
        assert time.time() < t0 + SWAP_TIMEOUT, f"service still serves {served}, registry has {expected}"
        time.sleep(2)
    swap_seconds = time.time() - t0

    after = _body(client.rank(probe))
    assert after["model_versions"] == expected
    now = _position(after, worker_id)
    detail = "\n".join(
        [
            f"{worker_id} on a {TASK_TYPE} task, before -> outcomes pushed -> new champions:",
            *(
                f"  {k}: " + " -> ".join(f"{p[k]:.4g}" for p in (chosen, pushed, now))
                for k in ("rank", "p_qa_pass", "predicted_minutes", "p_complaint", "cost")
            ),
            f"  swap seen after {swap_seconds:.0f} s",
            *report.lines(),
        ]
    )
    # The profiles fold the failures in at once, but the champion's isotonic calibration moves in steps
    # of ~0.01-0.05 on this small world, so the same step may hold them (it did in the world with
    # journeys: 0.918 -> 0.918, and 0.944 -> 0.901 before it): never higher. The champion retrained on
    # the audit lowers the worker; by how much depends on the small world's trees (0.006-0.03 seen).
    assert pushed["p_qa_pass"] <= chosen["p_qa_pass"], detail
    assert now["p_qa_pass"] < chosen["p_qa_pass"], detail
    # The drop is priced at the policy's minutes per QA failure (60): the worker's quality part rises by
    # exactly that and the worker never climbs. (With minute-equivalent weights a 3-point drop is ~2
    # minutes, less than a fast worker's lead: it no longer costs this worker places, see issue 15.)
    price = 60.0 * (chosen["p_qa_pass"] - now["p_qa_pass"])
    rise = now["cost_parts"]["quality"] - chosen["cost_parts"]["quality"]
    assert abs(rise - price) < 0.05 and rise > 0.0, detail
    assert now["rank"] >= chosen["rank"], detail
    assert (
        f'opsmatch_model_info{{model="qa_pass",version="{expected["qa_pass"]}"}} 1'
        in client.request("GET", "/metrics").text
    )
    print(detail)
