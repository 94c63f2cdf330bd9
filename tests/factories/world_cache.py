"""Test worlds built once and cached on disk, handed out as private copies made by the stores' backups.

A world (twin history -> features -> Feast -> champions) takes minutes to build and is a pure function of
its recipe (scenario, days, seed, training parameters) and of the code that builds it. ``cached`` builds
it once into ``CACHE/<name>-<recipe hash>/`` under a file lock (so concurrent sessions build it once too)
and reuses it while the recipe and the product sources are unchanged. The cached copy is never written
after it is complete: every user gets a ``copy_world`` of it, where

- the event store is copied by its own backup (``event_admin.backup``, SQLite ``VACUUM INTO``),
- the other SQLite databases (MLflow, Feast online store, service state) by SQLite's backup API,
- every other file byte for byte,
- the MLflow store's experiments point at the copy's artifact root, so new runs land in the copy; the
  existing runs' artifacts are read from the cache unless ``own_artifacts`` copies them too (and points
  every run and model version at the copy: a test may then remove them).

The Feast registry keeps the cache's offline table paths (read only); a test that rebuilds its copy's
features calls ``features.store.apply_repo`` on it. The cache lives under ``.cache/test-worlds`` at the
repository root (git-ignored), or ``$OPSMATCH_TEST_CACHE``; entries unused for ``KEEP_DAYS`` are pruned.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from opsmatch import event_admin
from opsmatch.event_store import SQLITE_FILE
from opsmatch.settings import PROJECT_ROOT

CACHE = Path(os.environ.get("OPSMATCH_TEST_CACHE") or PROJECT_ROOT / ".cache" / "test-worlds")
# What a world is built from: the product packages it runs and the factories that drive them.
SOURCES = ("opsmatch", "simulator", "features", "training")
FACTORIES = ("tests/factories/world_cache.py", "tests/factories/serving_world.py", "tests/factories/fast.py")
SUFFIXES = (".py", ".yaml", ".yml", ".json")
LIBRARIES = ("numpy", "pandas", "pyarrow", "lightgbm", "scikit-learn", "feast", "mlflow", "duckdb")
COMPLETE = ".complete"  # written last: an entry without it is a build that died and is rebuilt
KEEP_DAYS = 3.0
SQLITE_MAGIC = b"SQLite format 3\x00"
ORIGIN = "artifacts-origin.txt"  # in a copy that shares the runs' artifacts: where they are


def sources_hash() -> str:
    """sha256 of the product sources a world is built from and of the library versions that build it."""
    h = hashlib.sha256()
    files = [p for top in SOURCES for p in sorted((PROJECT_ROOT / top).rglob("*")) if p.suffix in SUFFIXES]
    for path in [*files, *(PROJECT_ROOT / f for f in FACTORIES)]:
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    for lib in LIBRARIES:
        h.update(f"{lib}=={metadata.version(lib)}\n".encode())
    return h.hexdigest()


def entry_dir(name: str, recipe: dict[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode() + sources_hash().encode())
    return CACHE / f"{name}-{key.hexdigest()[:16]}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached(
    name: str, recipe: dict[str, Any], build: Callable[[Path], object], expect: str = "mlflow.db"
) -> Path:
    """The cache entry of ``name`` for ``recipe``: ``build(root)`` runs once into it (in place, since a
    world records absolute paths) and must leave ``expect`` there; later calls return it as built."""
    root = entry_dir(name, recipe)
    with _locked(root.with_suffix(".lock")):
        if not (root / COMPLETE).exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            started = time.perf_counter()
            build(root)
            if not (root / expect).exists():
                raise RuntimeError(f"building {root.name} left no {expect}")
            (root / "recipe.json").write_text(json.dumps(recipe, sort_keys=True, default=str, indent=1))
            (root / COMPLETE).write_text(f"built in {time.perf_counter() - started:.1f} s\n")
        (root / COMPLETE).touch()  # last use, for pruning
    _prune(keep=root)
    return root


def _prune(keep: Path) -> None:
    """Remove entries unused for ``KEEP_DAYS`` (another checkout's session may still use a recent one)."""
    cutoff = time.time() - KEEP_DAYS * 86400
    for other in CACHE.glob("*-*"):
        marker = other / COMPLETE
        if other != keep and other.is_dir() and marker.exists() and marker.stat().st_mtime < cutoff:
            with _locked(other.with_suffix(".lock")):
                shutil.rmtree(other, ignore_errors=True)


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(16) == SQLITE_MAGIC


def _connect(path: Path) -> Any:
    """A DB-API connection to a SQLite file of MLflow, Feast or the service state, through the library
    they open it with (SQLAlchemy's pysqlite); the event store is never opened here (see ``_copy_data``)."""
    import sqlalchemy as sa

    return sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool).raw_connection()


def _sqlite_backup(src: Path, dst: Path) -> None:
    """SQLite's online backup API: a consistent copy even while another process writes ``src``."""
    source, target = _connect(src), _connect(dst)
    try:
        source.driver_connection.backup(target.driver_connection)
    finally:
        target.close()
        source.close()


def _copy_data(src: Path, dst: Path) -> None:
    """``src`` (a data dir) to ``dst``: the event store by its backup, SQLite files by the backup API."""
    for path in sorted(src.rglob("*")):
        out = dst / path.relative_to(src)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        elif path.name == SQLITE_FILE and path.parent.name == "events":
            event_admin.backup(path.parent, out.parent)  # never opened with another SQLite library
        elif path.name.endswith(("-wal", "-shm", "-journal")) or path.name == f"{SQLITE_FILE}.lock":
            continue  # the backups are consistent on their own
        elif _is_sqlite(path):
            _sqlite_backup(path, out)
        else:
            shutil.copy2(path, out)


def _rewrite(db: Path, old: str, new: str, tables: tuple[str, ...] | None = None) -> None:
    """Replace the prefix ``old`` by ``new`` in every text column of ``tables`` (all when None)."""
    con = _connect(db)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in names if tables is None else [t for t in tables if t in names]:
            for _, col, kind, *_ in con.execute(f'PRAGMA table_info("{table}")').fetchall():
                if "CHAR" in kind.upper() or "TEXT" in kind.upper() or kind == "":
                    con.execute(
                        f'UPDATE "{table}" SET "{col}" = replace("{col}", ?, ?) WHERE instr("{col}", ?) > 0',
                        (old, new, old),
                    )
        con.commit()
    finally:
        con.close()


def _artifact_origin(root: Path) -> Path:
    """Where the runs of the world at ``root`` keep their artifacts (a copy that shares them says so)."""
    note = root / ORIGIN
    return Path(note.read_text().strip()) if note.exists() else root / "artifacts"


def copy_world(src: Path, dst: Path, *, own_artifacts: bool = False) -> None:
    """A private copy of the world at ``src`` (``data/``, ``mlflow.db``, ``artifacts/``) into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    _copy_data(src / "data", dst / "data")
    _sqlite_backup(src / "mlflow.db", dst / "mlflow.db")
    origin, here, mine = _artifact_origin(src), src / "artifacts", dst / "artifacts"
    if own_artifacts:
        shutil.copytree(origin, mine)
        if here.exists() and here.resolve() != origin.resolve():  # runs made in ``src`` after its copy
            shutil.copytree(here, mine, dirs_exist_ok=True)
        for old in {origin.resolve().as_uri(), here.resolve().as_uri()}:
            _rewrite(dst / "mlflow.db", old, mine.resolve().as_uri())
    else:
        mine.mkdir(exist_ok=True)
        (dst / ORIGIN).write_text(str(origin.resolve()))
        _rewrite(dst / "mlflow.db", here.resolve().as_uri(), mine.resolve().as_uri(), tables=("experiments",))
