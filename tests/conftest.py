"""Fixtures every test package may use: the session's real small world and private copies of it.

``world`` is the real small world (twin -> features -> Feast -> four champions) of the session: built
once into the on-disk cache (``tests.factories.world_cache``: rebuilt only when its recipe or the product
sources change) and copied here for this session. Modules that only read it share it (and may share one
server on it). A module that writes into it -- appends events, promotes a model, changes the service's
state -- takes ``own_world`` (a private copy for the module), or ``private_world(world, folder)`` from
``tests.factories.serving_world`` for a copy of its own per test; the copies are made by the stores'
backups and cost about a second.

``make test`` runs the files on pytest-xdist workers (``-n 2 --dist loadgroup``, ``tests.scheduling``): a
file stays whole on one worker, so its module fixtures -- world copies, servers -- are made once; files
marked ``pytest.mark.xdist_group("<name>")`` run together on one worker (a session fixture they share, such
as one server on the read-only world, is made once); the heaviest units go first. Every worker has
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
from tests.scheduling import UnitScheduling, heaviest_first  # noqa: E402


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The session's copy of the cached small world; read it, do not write into it (see ``own_world``)."""
    return cached_world(tmp_path_factory.mktemp("real-world"))


@pytest.fixture(scope="module")
def own_world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """A private copy of ``world`` for one module that writes into it (events, MLflow, service state)."""
    return private_world(world, tmp_path_factory.mktemp("own-world"))


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups in the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heaviest file or ``xdist_group`` first, each one's tests in their own order."""
    heaviest_first(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup``: units of a file or an ``xdist_group``, heaviest first (``tests.scheduling``)."""
    return UnitScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None
