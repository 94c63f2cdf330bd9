"""Fixtures every test package may use: the session's real small world and private copies of it.

``world`` is the real small world (twin -> features -> Feast -> four champions) of the session: built
once into the on-disk cache (``tests.factories.world_cache``: rebuilt only when its recipe or the product
sources change) and copied here for this session. Modules that only read it share it (and may share one
server on it). A module that writes into it -- appends events, promotes a model, changes the service's
state -- takes ``own_world`` (a private copy for the module), or ``private_world(world, folder)`` from
``tests.factories.serving_world`` for a copy of its own per test; the copies are made by the stores'
backups and cost about a second.

``make test`` runs the files on pytest-xdist workers (``-n 3 --dist loadfile``: a file stays whole on one
worker, so its module fixtures -- world copies, servers -- are made once). Files with a test marked
``slow`` are collected first, so that the long ones start early and do not make a tail. Every worker has
its own ``tmp_path`` tree; servers take ``serving.runtime.launch.free_port()``; the world cache is built
once under a file lock (the other workers wait for it, then copy it). A new HTTP test: take ``world``
(read only) or ``own_world`` (writes) and ``serving.runtime.launch.running(world.env(...), log)``, which
polls readiness.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before LightGBM loads: 2 shared cores
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import pytest  # noqa: E402

from tests.factories.serving_world import World, cached_world, private_world  # noqa: E402


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The session's copy of the cached small world; read it, do not write into it (see ``own_world``)."""
    return cached_world(tmp_path_factory.mktemp("real-world"))


@pytest.fixture(scope="module")
def own_world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """A private copy of ``world`` for one module that writes into it (events, MLflow, service state)."""
    return private_world(world, tmp_path_factory.mktemp("own-world"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a ``slow`` test first, each file's tests in their own order (a stable sort)."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)
