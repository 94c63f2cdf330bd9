"""Fixtures for the feature-store tests (helpers live in fs_helpers.py, importable from these tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

# Helpers (fs_helpers) sit next to this file; the shared `tests.factories` needs the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent))
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from fs_helpers import make_events, write_events  # noqa: E402

from opsmatch.settings import Settings  # noqa: E402


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
