"""How ``make test`` hands the test files to its pytest-xdist workers (``-n 2 --dist loadgroup``).

A *unit* is what one worker runs whole, one test after the other: a test file, or every file whose tests
carry ``pytest.mark.xdist_group("<name>")`` (module level: ``pytestmark = [pytest.mark.xdist_group("x")]``),
so a session-scoped fixture those files share -- one server on the read-only world -- is made once, on
one worker. The units go out heaviest first: their seconds in ``DURATIONS`` (per file, from a recorded
run, summed over a unit's files; a file not listed counts ``DEFAULT_SECONDS``), so the long units start
early and the short ones fill the gaps at the end (longest processing time first). A worker is given
its next unit when it starts the last test of its current one (xdist's own loadgroup reorders the units
by their number of tests, and gives out the next unit two tests early).

``python -m tests.scheduling <junit.xml>`` rewrites ``DURATIONS`` from a run's ``--junit-xml`` report.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest
from xdist.scheduler.loadscope import LoadScopeScheduling

DURATIONS = Path(__file__).with_name("durations.json")
DEFAULT_SECONDS = 5.0
WORLD_FIXTURES = {"world", "own_world"}  # the session's cached world (tests/conftest.py)


def unit_of(item: pytest.Item) -> str:
    """The unit of a test: its ``xdist_group`` name, or its file."""
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    return item.nodeid.split("::", 1)[0]


def heaviest_first(items: list[pytest.Item]) -> None:
    """Sort ``items`` by unit, the heaviest unit first; a unit's tests keep their order (stable sort).

    When the heaviest unit needs the session's world (``WORLD_FIXTURES``), the heaviest unit that does
    not goes second: the second worker runs it while the first builds the world, instead of waiting."""
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    files: dict[str, set[str]] = defaultdict(set)
    first: dict[str, int] = {}
    needs_world: dict[str, bool] = defaultdict(bool)
    for i, item in enumerate(items):
        unit = unit_of(item)
        files[unit].add(item.nodeid.split("::", 1)[0])
        first.setdefault(unit, i)
        needs_world[unit] |= bool(WORLD_FIXTURES & set(getattr(item, "fixturenames", ())))
    weight = {unit: sum(seconds.get(f, DEFAULT_SECONDS) for f in fs) for unit, fs in files.items()}
    order = sorted(files, key=lambda unit: (-weight[unit], first[unit]))
    if len(order) > 2 and needs_world[order[0]]:
        free = next((unit for unit in order[1:] if not needs_world[unit]), None)
        if free is not None:
            order.remove(free)
            order.insert(1, free)
    rank = {unit: i for i, unit in enumerate(order)}
    items.sort(key=lambda item: rank[unit_of(item)])


class UnitScheduling(LoadScopeScheduling):
    """xdist's loadgroup with a file as the unit of an unmarked test, the units in collection order, and
    the next unit given when a worker is on its last test."""

    def __init__(self, config: pytest.Config, log=None) -> None:  # noqa: ANN001 - xdist's Producer
        super().__init__(config, log)
        config.option.loadscopereorder = False  # keep the collection's order: heaviest first

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.rfind("@") > nodeid.rfind("]"):  # loadgroup's suffix: the group's name
            return nodeid.split("@")[-1]
        return nodeid.split("::", 1)[0]

    def _reschedule(self, node) -> None:  # noqa: ANN001 - xdist's WorkerController
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        # A worker runs a test once it knows the next one: one pending test is the least it can hold.
        if self._pending_of(self.assigned_work[node]) > 1:
            return
        self._assign_work_unit(node)


def durations_from_junit(path: Path) -> dict[str, float]:
    """Seconds per test file (setup, call and teardown) in a ``--junit-xml`` report."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split("@")[0]
        parts = module.split(".")
        # classname is the dotted module path, possibly followed by a test class
        for end in range(len(parts), 0, -1):
            candidate = "/".join(parts[:end]) + ".py"
            if Path(candidate).exists() or end == 1:
                totals[candidate] += float(case.get("time", 0.0))
                break
    return {name: round(totals[name], 1) for name in sorted(totals)}


if __name__ == "__main__":
    DURATIONS.write_text(json.dumps(durations_from_junit(Path(sys.argv[1])), indent=1) + "\n")
