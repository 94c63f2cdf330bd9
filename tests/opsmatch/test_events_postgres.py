"""The event store's at-scale engine: the same API on a real PostgreSQL server (started here), with
processes appending at once, conflicts refused whole, versions and the feature build's reader."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from opsmatch import event_admin, events
from opsmatch.event_store import StoreConflict, forget_stores
from opsmatch.settings import PROJECT_ROOT, Settings
from tests import factories
from tests.opsmatch.pg_server import postgres_server

pytestmark = [pytest.mark.integration]

WRITER = """
import sys, pandas as pd
from opsmatch import events
url, who = sys.argv[1], sys.argv[2]
t0 = pd.Timestamp("2024-01-01", tz="UTC")
new = 0
for i in range(30):
    rows = pd.DataFrame({"worker_id": [f"S{i}", f"{who}-{i}"], "at": t0, "on_shift": True, "open_tasks": i})
    new += events.append_rows(url, "worker_status", rows)
print(new)
"""


@pytest.fixture(scope="module")
def pg_url():  # noqa: ANN201
    with postgres_server() as url:
        yield url
    forget_stores()


def test_tables_round_trip_and_appends_are_idempotent(pg_url: str) -> None:
    for name, df in factories.event_tables().items():
        assert events.append_rows(pg_url, name, df) == len(df)
        pd.testing.assert_frame_equal(events.read_table(pg_url, name), df)
        assert events.append_rows(pg_url, name, df) == 0
    tasks = factories.event_tables()["tasks"]
    with pytest.raises(StoreConflict, match="tasks: key \\(task_id=T0001\\).*amount"):
        events.append_rows(
            pg_url, "tasks", pd.concat([tasks.assign(task_id="NEW1").head(1), tasks.assign(amount=1.0)])
        )
    assert events.row_count(pg_url, "tasks") == len(tasks)  # nothing of the refused append


def test_processes_appending_at_once_store_each_row_once(pg_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, f"P{k}"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(3)
    ]
    news = [int(p.communicate(timeout=180)[0].strip()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    stored = events.read_table(pg_url, "worker_status")
    ours = stored[stored["at"] == pd.Timestamp("2024-01-01", tz="UTC")]
    assert len(ours) == sum(news) == 30 + 3 * 30 and not ours.duplicated(["worker_id", "at"]).any()
    event_admin.check(pg_url)


def test_versions_stats_and_compaction(pg_url: str) -> None:
    v = events.current_version(pg_url)
    events.append_rows(pg_url, "complaints", factories.event_tables()["complaints"].assign(complaint_id="CX"))
    assert events.current_version(pg_url) == v + 1
    assert "CX" not in set(events.read_table(pg_url, "complaints", version=v)["complaint_id"])
    assert "CX" in set(events.read_table(pg_url, "complaints", version=v + 1)["complaint_id"])
    got = event_admin.stats(pg_url)
    assert got["engine"] == "postgresql" and got["version"] == v + 1
    assert got["tables"]["complaints"]["rows"] == got["tables"]["complaints"]["distinct_keys"] == 2
    assert got["tables"]["complaints"]["bytes"] > 0
    assert event_admin.compact(pg_url).rows == {n: t["rows"] for n, t in got["tables"].items()}


def test_feature_build_reads_the_postgres_store(pg_url: str, tmp_path) -> None:
    from features.pipeline import build_features

    settings = Settings(data_dir=tmp_path / "data", events_url=pg_url)
    built = build_features(settings)
    assert built["events_version"] == events.current_version(pg_url)
    assert built["rows"]["task_profile"] == events.row_count(pg_url, "tasks")
