"""The console's per-process state on top of the service engine: the board index, the proof view and
which views a role sees.

A view is shown to a role when the role may call the route the view reads (one rule, from the route
table of :mod:`serving.access.routes`): the board reads ``GET /console/api/board`` (ops head), the dispatcher
view ``GET /tasks``, the risk view ``GET /watchlist``, alerts ``GET /alerts`` and models and proof
``GET /console/api/models``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from serving.access import routes as access
from serving.console.board import build_board, hours_window
from serving.console.board_index import BoardIndex
from serving.console.proof import ProofView
from serving.matching.eligibility import effective_capacity, pool_availability
from serving.runtime.engine import Engine

VIEWS: tuple[tuple[str, str, str], ...] = (
    ("board", "National board", "GET /console/api/board"),
    ("dispatch", "Dispatcher", "GET /tasks"),
    ("risk", "Risk team", "GET /watchlist"),
    ("alerts", "Alerts", "GET /alerts"),
    ("models", "Models and proof", "GET /console/api/models"),
    ("settlement", "Settlement", "GET /settlement"),
    ("planning", "Planning", "GET /staffing"),
)


def views_of(role: str) -> list[dict[str, str]]:
    """The views a role sees, in menu order."""
    out = []
    for view, title, line in VIEWS:
        method, path = line.split(" ", 1)
        if access.allowed(access.match(method, path), role):
            out.append({"id": view, "title": title})
    return out


class Console:
    """What the console's own endpoints compute, for one service process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.index = BoardIndex(engine.settings, engine.book.times)
        self.proof = ProofView(engine.settings, engine.config.mlflow_ui_url)
        self._warming: threading.Thread | None = None

    def warm(self) -> None:
        """Load the task book and the board index in the background (the first reads fold the whole
        history)."""
        if self._warming is None:
            self._warming = threading.Thread(target=self._load, name="console-warm", daemon=True)
            self._warming.start()

    def _load(self) -> None:
        self.engine.book.refresh()
        self.index.refresh()

    def board(self) -> dict[str, Any]:
        """The national board now, with the server time it took."""
        start = time.perf_counter()
        open_tasks = self.engine.book.open_tasks()  # first: a completion the index reads has its task
        self.index.refresh()
        now = self.engine.clock()
        version, policy = self.engine.policy()
        hours = hours_window(now)
        trend, names = self.index.snapshot(hours)
        pool = on_shift = capacity = None
        if self.engine.runtime.profiles.ready():
            pool = self.engine.loaded_pool()
            on_shift = pool_availability(pool, now, self.engine.config.status_ttl_seconds).on_shift
            capacity = effective_capacity(pool, policy)
        board = build_board(
            now=now,
            open_tasks=open_tasks,
            trend=trend,
            hours=hours,
            province_names=names,
            pool=pool,
            on_shift=on_shift,
            capacity=capacity,
            policy=policy,
            policy_version=version,
        )
        board["refresh_seconds"] = self.engine.config.console_refresh_seconds
        board["server_ms"] = round((time.perf_counter() - start) * 1000, 2)
        return board

    def models(self) -> dict[str, Any]:
        return self.proof.get(self.engine.runtime.scorer.versions())
