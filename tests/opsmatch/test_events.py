"""`opsmatch.events.append_rows` (the store the pipeline reads): idempotent by key, same file as a rewrite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from opsmatch import events
from tests import factories

NOW = pd.Timestamp("2024-03-04 10:00", tz="UTC")


def _status(workers: list[str], minutes: list[int], open_tasks: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "worker_id": workers,
            "at": [NOW + pd.Timedelta(minutes=m) for m in minutes],
            "on_shift": True,
            "open_tasks": open_tasks,
        }
    )


@pytest.mark.parametrize("name", ["worker_status", "qa_results"])
def test_append_writes_the_same_file_as_a_full_rewrite(tmp_path: Path, name: str) -> None:
    if name == "worker_status":
        base, more = _status(["W1", "W2", "W1"], [0, 0, 5]), _status(["W1", "W3", "W3"], [5, 1, 1], 7)
    else:
        base = factories.event_tables()["qa_results"]
        more = pd.concat([base.tail(1), base.head(2).assign(qa_id=["Qnew", "Qnew"])], ignore_index=True)
    events.write_table(tmp_path / "a", name, base)
    added = events.append_rows(tmp_path / "a", name, more)
    # The stored key, then a key repeated within the batch: one new row.
    assert added == 1
    expected = pd.concat([events.read_table(tmp_path / "a", name).iloc[: len(base)], more.iloc[[1]]])
    events.write_table(tmp_path / "b", name, expected)
    path = events.table_path(tmp_path / "a", name)
    assert path.read_bytes() == events.table_path(tmp_path / "b", name).read_bytes()
    assert events.append_rows(tmp_path / "a", name, more) == 0
    assert path.read_bytes() == events.table_path(tmp_path / "b", name).read_bytes()


def test_append_creates_the_table_and_normalises_a_foreign_file(tmp_path: Path) -> None:
    assert events.append_rows(tmp_path, "worker_status", _status(["W1"], [0])) == 1
    assert len(events.read_table(tmp_path, "worker_status")) == 1
    # Written by plain pandas with other dtypes (int32, ns timestamps): still appendable.
    raw = _status(["W1", "W2"], [0, 0]).astype({"open_tasks": "int32"})
    raw["at"] = raw["at"].astype("datetime64[ns, UTC]")
    raw.to_parquet(events.table_path(tmp_path, "worker_status"), index=False)
    assert events.append_rows(tmp_path, "worker_status", _status(["W2", "W3"], [0, 0])) == 1
    out = events.read_table(tmp_path, "worker_status")
    assert out["worker_id"].tolist() == ["W1", "W2", "W3"]
    assert out.dtypes.equals(events.empty_frame("worker_status").dtypes)
