"""Fixtures for the feature-store tests (helpers in ``tests.factories.events``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from opsmatch.settings import Settings
from tests.factories.events import make_events, write_events


@pytest.fixture
def tmp_settings(tmp_path: Path) -> Settings:
    """Settings rooted in a temp data dir (SQLite profile)."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def small_events() -> dict[str, pd.DataFrame]:
    return make_events()


@pytest.fixture
def settings_with_events(tmp_settings: Settings, small_events) -> Settings:
    write_events(tmp_settings, small_events)
    return tmp_settings
