"""Fixtures for the feature-store tests.

Helpers live in fs_helpers.py, importable as ``fs_helpers``: pytest's default (prepend) import mode puts
this folder (no ``__init__.py``) on sys.path; ``tests.factories`` resolves through ``pythonpath = ["."]``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fs_helpers import make_events, write_events

from opsmatch.settings import Settings


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
