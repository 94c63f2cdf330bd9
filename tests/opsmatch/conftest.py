"""Fixtures for the data-contract tests: a settings object on a temp data dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `tests.factories` is shared by all suites; make the project root importable when pytest is run as a
# script (`.venv/bin/pytest`) rather than `python -m pytest`. Redundant once pytest's `pythonpath = ["."]`.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from opsmatch.settings import Settings  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose data dir (event store, quarantine) is a fresh temp folder."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """A folder for the customer's files."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path
