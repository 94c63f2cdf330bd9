"""The twin's output is pinned: refactors of the engine must not change what it writes.

``default``, seed 7, 90 days: every contract table the twin writes and every hidden-truth file, pinned by
``tests.factories.pin`` against ``history_pin.json`` beside this file.

What a data scientist can expect to reproduce on any x86-64 machine (same code, scenario, days, seed):
- exactly: every discrete event -- which tasks arrive, their ids, types, provinces and customers, who is
  assigned what and when it is dispatched, every QA verdict, every complaint and who filed it, the row
  counts, and every figure counted from them;
- within the last bits: the continuous values (handling minutes, the hidden truth's probabilities and
  expected minutes, lateness). numpy's SIMD exp/log differ between the AVX2 and AVX-512 paths by ~1e-15
  relative (here 7.7e-16 at most), and a nanosecond timestamp of the truth derived from them by 1 us.
  The pin's tolerance is 1e-9 of a column's mass for floats and 10 ms for timestamps.
So a byte hash of the files, or a model trained on them, is not bit-identical across machines; a metric
computed on them agrees to far more digits than its sampling error.

A deliberate change of the twin re-records the pin: ``python -m tests.simulator.test_history_fingerprint``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from opsmatch import events
from opsmatch.contract import LIFECYCLE_TABLES, TABLES
from opsmatch.settings import Settings
from simulator.run import generate_history
from tests.factories.pin import differences, pin_frame

PIN = Path(__file__).with_name("history_pin.json")
SCENARIO, DAYS, SEED = "default", 90, 7


def history_pins(settings: Settings) -> dict[str, Any]:
    """The pin of each contract table the twin writes and of each truth file of a generated history."""
    twin_tables = [name for name in TABLES if name not in LIFECYCLE_TABLES]  # the service writes the rest
    pins = {name: pin_frame(events.read_table(settings.events_dir, name)) for name in twin_tables}
    for path in sorted(Path(settings.truth_dir).glob("*.parquet")):
        pins[path.name] = pin_frame(pd.read_parquet(path))
    return pins


@pytest.mark.slow
def test_default_seed7_90_days_history_is_unchanged(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    generate_history(settings, SCENARIO, DAYS, seed=SEED)
    expected, got = json.loads(PIN.read_text()), history_pins(settings)
    assert sorted(got) == sorted(expected)
    diffs = {name: d for name in expected if (d := differences(expected[name], got[name]))}
    assert not diffs, diffs


def record(data_dir: Path | None = None) -> None:
    """Write ``history_pin.json`` from a history in ``data_dir`` (generated here when not given)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=data_dir or Path(tmp) / "data")
        if data_dir is None:
            generate_history(settings, SCENARIO, DAYS, seed=SEED)
        PIN.write_text(json.dumps(history_pins(settings), indent=1) + "\n")


if __name__ == "__main__":
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
