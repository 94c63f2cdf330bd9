"""Lineage: features and training frames rebuilt at an event-store version equal the ones built then,
whatever was appended since (the path of ``opsmatch train --events-version N``)."""

from __future__ import annotations

import pandas as pd
import pytest

from apps.cli.models import _features_at_version
from features.pipeline import build_features, read_manifest
from features.spec import tables_dir
from features.store import apply_repo, build_store
from features.training_frame import build_training_frames
from opsmatch import events
from opsmatch.settings import Settings
from tests.factories.events import make_events, write_events
from training.tracking import frame_digest


def _frames(settings: Settings) -> dict[str, str]:
    built = build_training_frames(build_store(settings), settings, ("handling_time", "qa_pass"))
    ordered = {m: f.sort_values(["assignment_id"]).reset_index(drop=True) for m, f in built.items()}
    return {m: frame_digest(f) for m, f in ordered.items()}


def test_a_training_set_is_rebuilt_exactly_at_its_events_version(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    full = make_events(days=8, seed=2)
    cut = pd.Timestamp(full["tasks"]["created_at"].min()) + pd.Timedelta(days=5)
    first = {n: (df[df[c] < cut] if (c := _time(n)) else df) for n, df in full.items()}
    write_events(settings, first)
    built = build_features(settings)
    apply_repo(settings)
    version = built["events_version"]
    assert version == events.current_version(settings)
    tables = {p.name: p.read_bytes() for p in tables_dir(settings.feature_data_dir).glob("*.parquet")}
    frames = _frames(settings)

    for name, df in full.items():  # the rest of the history arrives later
        events.append_rows(settings, name, df)
    assert events.current_version(settings) > version

    rebuilt = _features_at_version(settings, version)
    assert read_manifest(rebuilt.feature_data_dir)["events_version"] == version
    again = {p.name: p.read_bytes() for p in tables_dir(rebuilt.feature_data_dir).glob("*.parquet")}
    assert again == tables  # the same feature tables, byte for byte
    assert _frames(rebuilt) == frames  # the same training rows, the same hash
    with pytest.raises(ValueError, match="events version 999 does not exist"):
        build_features(settings, events_version=999)


def _time(name: str) -> str | None:
    from opsmatch.contract import TABLES

    return TABLES[name].time_column
