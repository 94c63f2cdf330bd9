"""Every table the twin writes passes the data contract and is internally consistent."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from opsmatch.contract import LIFECYCLE_TABLES, LOAD_ORDER, TABLES
from opsmatch.events import read_table
from opsmatch.validation import validate_table
from simulator.truth import TASK_TRUTH_FILE, load_truth

TWIN_TABLES = tuple(n for n in LOAD_ORDER if n not in LIFECYCLE_TABLES)  # the service writes the rest


@pytest.fixture(scope="module")
def written(small_history) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    settings, summary = small_history
    tables = {name: read_table(settings.events_dir, name) for name in TWIN_TABLES}
    return tables, pd.Timestamp(summary.end)


def test_summary_matches_the_files(small_history, written) -> None:
    _, summary = small_history
    tables, _ = written
    assert summary.rows == {name: len(df) for name, df in tables.items() if name in summary.rows}
    assert set(summary.rows) == set(TWIN_TABLES)
    assert summary.row_counts is summary.rows and summary.seconds > 0
    assert all(n > 0 for n in summary.rows.values())


@pytest.mark.parametrize("name", TWIN_TABLES)
def test_table_passes_the_contract_validator(written, name: str) -> None:
    tables, end = written
    table, df = TABLES[name], tables[name]
    assert list(df.columns) == table.column_names
    for col in table.columns:
        if not col.nullable:
            assert df[col.name].notna().all(), (name, col.name)
    assert not df.duplicated(list(table.key)).any()
    known = {
        t: set(tables[t][TABLES[t].key[0]].astype(str))
        for t in ("provinces", "workers", "customers", "tasks")
    }
    result = validate_table(table, df, source=name, known_keys=known, now=end)
    assert result.problems.empty, result.problems.head().to_dict("records")
    assert len(result.accepted) == len(df)


def test_relations_and_time_order(written) -> None:
    t, end = written
    tasks = t["tasks"].set_index("task_id")
    comp = t["completions"].set_index("task_id")
    created = tasks.loc[comp.index, "created_at"]
    assert (comp["started_at"] >= created).all()
    assert (comp["completed_at"] >= comp["started_at"]).all()
    span = (comp["completed_at"] - comp["started_at"]).dt.total_seconds() / 60
    assert np.allclose(span, comp["handling_minutes"], atol=1e-3)
    last = t["assignments"].sort_values("assigned_at").drop_duplicates("task_id", keep="last")
    last = last.set_index("task_id")
    assert (last.loc[comp.index, "worker_id"] == comp["worker_id"]).all()
    assert (last.loc[comp.index, "assigned_at"] <= comp["started_at"]).all()
    a = t["assignments"]
    assert (a["assigned_at"] >= tasks.loc[a["task_id"], "created_at"].to_numpy()).all()
    qa = t["qa_results"]
    assert (qa["worker_id"].to_numpy() == comp.loc[qa["task_id"], "worker_id"].to_numpy()).all()
    assert (qa["checked_at"].to_numpy() >= comp.loc[qa["task_id"], "completed_at"].to_numpy()).all()
    assert ((qa["score"] >= 60) == qa["passed"]).all()
    cp = t["complaints"]
    assert (cp["customer_id"].to_numpy() == tasks.loc[cp["task_id"], "customer_id"].to_numpy()).all()
    assert (cp["filed_at"].to_numpy() > comp.loc[cp["task_id"], "completed_at"].to_numpy()).all()
    # nothing dated after the end of the simulated period, nothing before its start (but hires)
    for name, table in TABLES.items():
        if table.time_column and name in t:
            assert (t[name][table.time_column] <= end).all(), name
    assert t["tasks"]["created_at"].min() >= end - pd.Timedelta(days=28)


def test_table_shapes_are_sensible(written) -> None:
    t, _ = written
    assert t["tasks"]["customer_id"].duplicated().any()  # some customers bring several tasks
    assert len(t["customers"]) == t["tasks"]["customer_id"].nunique()
    skills = t["workers"]["skills"].map(json.loads)
    assert skills.map(len).min() >= 1
    qa_share = len(t["qa_results"]) / len(t["completions"])
    assert 0.3 < qa_share < 0.5  # sampled fraction 0.4, minus checks not yet due
    assert 0.2 < t["qa_results"]["satisfaction"].notna().mean() < 0.5
    complaint_rate = len(t["complaints"]) / len(t["completions"])
    assert 0.005 < complaint_rate < 0.06
    st = t["worker_status"]
    assert st["on_shift"].any() and (~st["on_shift"]).any()
    assert st["open_tasks"].max() >= 1


def test_truth_is_written_apart(small_history) -> None:
    settings, _ = small_history
    names = [p.name for p in settings.events_dir.iterdir()]
    assert not any(n.startswith(("task_truth", "worker_type_truth")) for n in names)
    truth = load_truth(settings.truth_dir)
    assert len(truth.worker_ids) == len(read_table(settings.events_dir, "workers"))
    tt = pd.read_parquet(settings.truth_dir / TASK_TRUTH_FILE)
    assert len(tt) == len(read_table(settings.events_dir, "tasks"))
    started = tt["started_at"].notna()
    assert tt.loc[started, "true_p_pass"].between(0, 1).all()
    assert tt.loc[started, "true_p_complaint"].between(0, 1).all()
    assert tt.loc[~started, "true_p_pass"].isna().all()
