"""The statement reconciled against the event log, row by row: every completed cross-province task of
the range is one line (task, worker, provinces, date), nothing else is, own work is counted as own,
and national credits equal national debits to the cent.

Two logs: the session's small world (read only; its legacy history is province-local, so every task
must come out as own work and no money moves) and a small history under national routing (work done
across provinces), generated in a temporary folder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd
import pytest

from opsmatch import events
from serving.settlement.statements import Settlement
from serving.state.store import StateStore
from tests.factories.serving_world import World

FROM, TO = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 22, tzinfo=UTC)
LATER = datetime(2027, 1, 1, tzinfo=UTC)


def _expected(where: str) -> tuple[pd.DataFrame, pd.Series]:
    """From the raw tables: (cross-province rows, own tasks per province) of [FROM, TO)."""
    done = events.read_table(where, "completions")
    done = done[(done["completed_at"] >= FROM) & (done["completed_at"] < TO)]
    tasks = events.read_table(where, "tasks", columns=["task_id", "province_id"]).rename(
        columns={"province_id": "owner"}
    )
    home = events.read_table(where, "workers").set_index("worker_id")["province_id"]
    qa = events.read_table(where, "qa_results").sort_values(["task_id", "checked_at", "qa_id"])
    last = qa.groupby("task_id").tail(1).set_index("task_id")
    failed = (~qa["passed"].astype(bool)).groupby(qa["task_id"]).any()
    rows = done.merge(tasks, on="task_id")
    credit = []
    for r in rows.itertuples():
        reworked = r.task_id in last.index and bool(last.loc[r.task_id, "passed"]) and bool(failed[r.task_id])
        credit.append(last.loc[r.task_id, "worker_id"] if reworked else r.worker_id)
    rows["credit_worker"] = credit
    rows["credit_province"] = rows["credit_worker"].map(home)
    cross = rows[rows["credit_province"] != rows["owner"]]
    own = rows[rows["credit_province"] == rows["owner"]].groupby("owner").size()
    return cross, own


def reconcile(where: str, state_url: str) -> dict:
    state = StateStore(state_url)
    try:
        settle = Settlement(where, state, lambda: LATER)
        statement = settle.statement(settle.period(FROM, TO, None), limit=None)
    finally:
        state.close()
    cross, own = _expected(where)
    lines = statement["lines"]
    got = [
        (x["task_id"], x["worker_id"], x["credit_province"], x["debit_province"], x["completed_at"])
        for x in lines
    ]
    want = [
        (
            r.task_id,
            r.credit_worker,
            r.credit_province,
            r.owner,
            r.completed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )
        for r in cross.itertuples()
    ]
    assert len(got) == len(set(got)) == statement["lines_total"]  # each task once
    assert sorted(got) == sorted(want)  # row by row, nothing missing, nothing extra
    rows = statement["provinces"]
    assert {r["province_id"]: r["own_tasks"] for r in rows if r["own_tasks"]} == own.to_dict()
    assert sum(r["credit_cents"] for r in rows) == sum(r["debit_cents"] for r in rows)
    assert sum(r["credit_cents"] for r in rows) == sum(x["amount_cents"] for x in lines)
    assert statement["national"]["credit_cents"] == statement["national"]["debit_cents"]
    for x in lines:  # each amount is its own product, to the cent
        price = Decimal(x["standard_minutes"]) * Decimal(x["rate"]) * Decimal(x["factor"]) * 100
        assert x["amount_cents"] == int(price.quantize(Decimal(1), ROUND_HALF_EVEN))
        assert x["factor"] == ("0.00" if x["qa"] == "failed" else "1.00")  # defaults: late at full price
    assert {r["province_id"]: r["tasks_for_others"] for r in rows if r["tasks_for_others"]} == (
        cross.groupby("credit_province").size().to_dict()
    )
    return statement


@pytest.mark.slow
def test_reconciles_on_the_small_world(world: World, tmp_path) -> None:
    statement = reconcile(world.settings.resolved_events_url, f"sqlite:///{tmp_path / 'state.db'}")
    assert statement["lines_total"] == 0  # the legacy history is province-local: no money moves
    assert sum(r["own_tasks"] for r in statement["provinces"]) > 1000


def test_reconciles_on_a_history_under_national_routing(tmp_path) -> None:
    from opsmatch.settings import Settings
    from simulator.policies import NationalLeastBusyPolicy
    from simulator.run import generate_history

    settings = Settings(data_dir=tmp_path / "data")
    generate_history(settings, "small", 21, seed=5, policy=NationalLeastBusyPolicy())
    statement = reconcile(settings.resolved_events_url, f"sqlite:///{tmp_path / 'state.db'}")
    assert statement["lines_total"] > 200 and statement["national"]["credit_cents"] > 0
    assert {r["net_cents"] > 0 for r in statement["provinces"]} == {True, False}  # lenders and borrowers
