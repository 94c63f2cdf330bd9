"""Fixtures of the serving tests: an engine on in-memory fakes and a temporary state store (the real
small world, ``world``, and its private copies, ``own_world``, are in ``tests/conftest.py``)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before LightGBM loads: 2 shared cores

import pytest  # noqa: E402

from opsmatch.settings import Settings  # noqa: E402
from serving.config import load_service_config  # noqa: E402
from serving.protocols import Runtime  # noqa: E402
from serving.runtime.engine import Engine  # noqa: E402
from serving.state.store import StateStore  # noqa: E402
from tests.factories.fakes import NOW, TOKEN, FakeProfiles, FakeScorer, FakeTasks, make_pool, make_task  # noqa: E402


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api_token=TOKEN)


@pytest.fixture
def runtime() -> Runtime:
    pool = make_pool(m=60, seed=1, skill_level=3)
    tasks = [make_task(f"T{i}", "renewal", ("P01", "P02", "P03")[i % 3]) for i in range(9)]
    tasks.append(make_task("T-late", "claims_review", "P02", hours_to_sla=-2.0))
    return Runtime(profiles=FakeProfiles(pool), tasks=FakeTasks(tasks), scorer=FakeScorer())


@pytest.fixture
def engine(settings, runtime) -> Engine:
    store = StateStore(settings.resolved_state_db_url)
    eng = Engine(settings, runtime, store, load_service_config({"policy_ttl_seconds": 0}), clock=lambda: NOW)
    yield eng
    store.close()
