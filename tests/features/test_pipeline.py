"""The feature pipeline: typed tables, idempotent runs, degenerate inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.pipeline import arrow_schema, build_features, read_manifest
from features.spec import MANIFEST, VIEWS, table_path, tables_dir
from opsmatch.events import append_rows
from opsmatch.settings import Settings
from tests import factories
from tests.factories.events import make_events, write_events


def _snapshot(settings: Settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tables_dir(settings.feature_data_dir).iterdir())}


def test_tables_have_the_declared_schema_and_keys(settings_with_events: Settings) -> None:
    summary = build_features(settings_with_events)
    assert not summary["skipped"] and summary["as_of"]
    for view, spec in VIEWS.items():
        path = table_path(settings_with_events.feature_data_dir, view)
        schema = pq.read_schema(path)
        assert schema.remove_metadata() == arrow_schema(view), view
        df = pd.read_parquet(path)
        assert len(df) == summary["rows"][view] > 0, view
        assert not df.duplicated([*spec.keys, "event_timestamp"]).any(), view


def test_second_run_is_a_no_op_and_a_forced_run_rewrites_nothing(settings_with_events: Settings) -> None:
    build_features(settings_with_events)
    before = _snapshot(settings_with_events)
    again = build_features(settings_with_events)
    assert again["skipped"] and again["written"] == []
    forced = build_features(settings_with_events, force=True)
    assert not forced["skipped"] and forced["written"] == []
    assert _snapshot(settings_with_events) == before


def test_rebuild_from_scratch_gives_identical_bytes(tmp_path: Path) -> None:
    a, b = Settings(data_dir=tmp_path / "a"), Settings(data_dir=tmp_path / "b")
    events = make_events(seed=9)
    write_events(a, events)
    write_events(b, events)
    build_features(a)
    build_features(b)
    sa, sb = _snapshot(a), _snapshot(b)
    ma, mb = (json.loads(s.pop(MANIFEST)) for s in (sa, sb))
    assert sa == sb  # every feature table byte for byte
    assert ma.pop("fingerprint") != mb.pop("fingerprint")  # the fingerprint names its store
    assert ma == mb


def test_new_events_rewrite_tables_and_move_as_of(settings_with_events: Settings, small_events) -> None:
    first = build_features(settings_with_events)
    tasks = small_events["tasks"]
    late = tasks.tail(1).assign(
        task_id="T9999999",
        created_at=tasks["created_at"].max() + pd.Timedelta(hours=2),
        sla_due_at=tasks["created_at"].max() + pd.Timedelta(hours=9),
    )
    append_rows(settings_with_events.events_dir, "tasks", pd.concat([tasks, late], ignore_index=True))
    second = build_features(settings_with_events)
    assert not second["skipped"] and "task_profile" in second["written"]
    assert second["as_of"] > first["as_of"]
    assert read_manifest(settings_with_events.feature_data_dir)["fingerprint"] == second["fingerprint"]


def test_progress_is_reported(settings_with_events: Settings) -> None:
    calls: list[tuple[float, float]] = []
    build_features(settings_with_events, progress=lambda d, t: calls.append((d, t)))
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]


def test_empty_event_log_gives_empty_typed_tables(tmp_settings: Settings) -> None:
    summary = build_features(tmp_settings)
    assert summary["as_of"] is None
    for view in VIEWS:
        df = pd.read_parquet(table_path(tmp_settings.feature_data_dir, view))
        assert df.empty and list(df.columns) == VIEWS[view].columns


def test_shared_factory_tables_build(tmp_settings: Settings) -> None:
    for name, df in factories.event_tables().items():
        append_rows(tmp_settings.events_dir, name, df)
    summary = build_features(tmp_settings)
    assert summary["rows"]["task_profile"] == len(factories.event_tables()["tasks"])
    assert summary["rows"]["worker_profile"] > 0
    manifest = json.loads((tables_dir(tmp_settings.feature_data_dir) / MANIFEST).read_text())
    assert manifest["as_of"] == summary["as_of"]


@pytest.mark.parametrize("missing", ["worker_status", "qa_results", "complaints"])
def test_optional_tables_may_be_absent(tmp_settings: Settings, small_events, missing: str) -> None:
    write_events(tmp_settings, {k: v for k, v in small_events.items() if k != missing})
    summary = build_features(tmp_settings)
    assert summary["rows"]["worker_profile"] > 0
