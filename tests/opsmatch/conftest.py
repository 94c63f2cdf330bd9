"""Fixtures for the data-contract tests: a settings object on a temp data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsmatch.settings import Settings


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
