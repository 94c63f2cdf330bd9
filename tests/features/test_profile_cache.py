"""ProfileCache: bulk rows equal the latest offline snapshot; pushes are visible; staleness reported."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from features.outcomes import shrunk_pair_features, shrunk_worker_features
from features.pipeline import build_features
from features.profile_cache import PAIR_COLUMNS, WORKER_COLUMNS, ProfileCache
from features.request_time import LIVE_COLUMNS
from features.spec import PSEUDO_COUNTS
from opsmatch.contract import TASK_TYPES
from opsmatch.events import read_table
from opsmatch.settings import Settings
from tests.factories.events import latest_offline, make_events, write_events


@pytest.fixture
def cache_settings(tmp_path) -> Settings:
    s = Settings(data_dir=tmp_path / "data")
    write_events(s, make_events(days=6, seed=4))
    build_features(s)
    return s


def test_lookup_rows_equal_latest_offline_snapshot(cache_settings: Settings) -> None:
    cache = ProfileCache(cache_settings, refresh_seconds=None)
    wp = latest_offline(cache_settings, "worker_profile").set_index("worker_id")
    wt = latest_offline(cache_settings, "worker_type_perf").set_index(["worker_id", "task_type"])
    ids = ["W0003", "W0011", "W0001"]
    idx = cache.indices(ids)
    assert (idx >= 0).all() and cache.indices(["nobody"]).tolist() == [-1]
    for task_type in TASK_TYPES:
        rows, live = cache.lookup(task_type, idx)
        assert rows.shape == (3, len(WORKER_COLUMNS) + len(PAIR_COLUMNS)) and live.shape == (
            3,
            len(LIVE_COLUMNS),
        )
        for r, wid in enumerate(ids):
            np.testing.assert_allclose(
                rows[r, : len(WORKER_COLUMNS)], wp.loc[wid, list(WORKER_COLUMNS)].astype(float)
            )
            pair = rows[r, len(WORKER_COLUMNS) :]
            if (wid, task_type) in wt.index:
                np.testing.assert_allclose(pair, wt.loc[(wid, task_type), list(PAIR_COLUMNS)].astype(float))
            else:
                assert np.isnan(pair).all()
    full, _ = cache.lookup("renewal")
    assert full.shape[0] == len(wp) and np.shares_memory(full, cache.snapshot.matrices["renewal"])


def test_raw_sums_reproduce_the_offline_shrunk_features(cache_settings: Settings) -> None:
    snap = ProfileCache(cache_settings, refresh_seconds=None).snapshot
    feats = shrunk_worker_features(snap.worker_sums, snap.type_stats)
    m = snap.matrices["renewal"]
    for name, values in feats.items():
        np.testing.assert_allclose(m[:, WORKER_COLUMNS.index(name)], values, err_msg=name)
    j = TASK_TYPES.index("renewal")
    pf = shrunk_pair_features(snap.pair_sums[:, j], snap.type_stats.loc["renewal"])
    has = ~np.isnan(m[:, len(WORKER_COLUMNS)])
    for name, values in pf.items():
        np.testing.assert_allclose(
            m[has, len(WORKER_COLUMNS) + PAIR_COLUMNS.index(name)], values[has], err_msg=name
        )


def test_live_status_from_log_then_push_newer_only(cache_settings: Settings) -> None:
    cache = ProfileCache(cache_settings, refresh_seconds=None)
    status = read_table(cache_settings.events_dir, "worker_status")
    last = status.sort_values("at").groupby("worker_id").tail(1).set_index("worker_id")
    i = cache.indices(["W0005"])
    _, live = cache.lookup("renewal", i)
    assert live[0, 1] == last.loc["W0005", "open_tasks"]
    cap = cache.snapshot.capacity[i[0]]
    assert cache.update_worker_status(["W0005"], [True], [6], at=[pd.Timestamp.now(tz="UTC")]) == 1
    _, live = cache.lookup("renewal", i)
    assert live[0].tolist() == pytest.approx([1.0, 6.0, 6.0 / cap])
    old = last.loc["W0005", "at"] - pd.Timedelta(hours=1)
    assert cache.update_worker_status(["W0005", "ghost"], [False, True], [0, 1], at=[old, old]) == 0
    assert cache.lookup("renewal", i)[1][0, 1] == 6.0


def test_apply_outcomes_updates_counts_and_shrunk_rates(cache_settings: Settings) -> None:
    cache = ProfileCache(cache_settings, refresh_seconds=None)
    i = cache.indices(["W0002"])
    before = cache.lookup("claims_review", i)[0][0].copy()
    sums_before = cache.snapshot.worker_sums[i[0]].copy()
    prior = cache.snapshot.type_stats.loc["__all__", "prior_qa"]
    now = pd.Timestamp.now(tz="UTC")
    cache.apply_outcomes(
        qa_results=pd.DataFrame(
            {
                "worker_id": ["W0002"] * 4,
                "task_type": ["claims_review"] * 4,
                "checked_at": [now] * 4,
                "passed": [False] * 4,
                "satisfaction": [1, 1, None, None],
            }
        )
    )
    after = cache.lookup("claims_review", i)[0][0]
    col = {c: k for k, c in enumerate(WORKER_COLUMNS + PAIR_COLUMNS)}
    assert after[col["worker_qa_checked_90d"]] == before[col["worker_qa_checked_90d"]] + 4
    qa_n, qa_pass = sums_before[5] + 4, sums_before[6]
    assert after[col["worker_qa_pass_rate"]] == pytest.approx(
        (qa_pass + PSEUDO_COUNTS["qa"] * prior) / (qa_n + PSEUDO_COUNTS["qa"])
    )
    assert after[col["worker_qa_pass_rate"]] < before[col["worker_qa_pass_rate"]]
    assert after[col["wt_qa_checked_90d"]] == np.nan_to_num(before[col["wt_qa_checked_90d"]]) + 4
    other = cache.lookup("renewal", i)[0][0]  # worker columns change in every type's matrix
    assert other[col["worker_qa_checked_90d"]] == after[col["worker_qa_checked_90d"]]
    untouched = cache.lookup("claims_review", cache.indices(["W0003"]))[0][0]
    assert np.array_equal(
        untouched,
        ProfileCache(cache_settings, refresh_seconds=None).lookup("claims_review", cache.indices(["W0003"]))[
            0
        ][0],
        equal_nan=True,
    )

    cache.apply_outcomes(
        completions=pd.DataFrame(
            {
                "worker_id": ["W0002"],
                "task_type": ["claims_review"],
                "completed_at": [now],
                "handling_minutes": [1000.0],
            }
        )
    )
    done = cache.lookup("claims_review", i)[0][0]
    assert done[col["worker_done_7d"]] == before[col["worker_done_7d"]] + 1
    assert done[col["worker_handling_ratio"]] > before[col["worker_handling_ratio"]]


def test_reload_keeps_newer_pushes_and_reports_staleness(cache_settings: Settings) -> None:
    cache = ProfileCache(cache_settings, refresh_seconds=None)
    loaded = cache.loaded_at
    assert 0 <= cache.age_seconds < 60 and cache.data_age_seconds > 0
    future = pd.Timestamp.now(tz="UTC")
    cache.update_worker_status(["W0001"], [True], [9], at=[future])
    cache.apply_outcomes(
        complaints=pd.DataFrame({"worker_id": ["W0001"], "task_type": ["renewal"], "filed_at": [future]})
    )
    i = cache.indices(["W0001"])
    col = WORKER_COLUMNS.index("worker_complaints_90d")
    pushed = cache.lookup("renewal", i)[0][0, col]
    time.sleep(0.01)
    cache.load()  # same tables: pushed state newer than as_of survives the reload
    assert cache.loaded_at > loaded
    assert cache.lookup("renewal", i)[1][0, 1] == 9
    assert cache.lookup("renewal", i)[0][0, col] == pushed
    assert cache.refresh() is False  # nothing rebuilt


def test_background_refresh_picks_up_a_rebuild(cache_settings: Settings, tmp_path) -> None:
    cache = ProfileCache(cache_settings, refresh_seconds=0.05).start()
    try:
        as_of = cache.snapshot.as_of
        write_events(cache_settings, make_events(days=7, seed=4))
        build_features(cache_settings)
        deadline = time.time() + 10
        while cache.snapshot.as_of == as_of and time.time() < deadline:
            time.sleep(0.05)
        assert cache.snapshot.as_of > as_of
    finally:
        cache.stop()
    assert cache._thread is None
