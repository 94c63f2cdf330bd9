"""Request-time formulas: one set of functions, the same values on scalars, frames and Feast's UDF inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from features.definitions import hours_to_sla_udf, load_ratio_udf
from features.request_time import (
    LAST_QA_COLUMNS,
    LIVE,
    LIVE_COLUMNS,
    NEVER,
    REQUEST_TIME,
    expired,
    hours_to_sla,
    last_qa_values,
    live_rows,
    load_ratio,
    sla_urgency,
    task_age_hours,
)
from features.spec import ODFV_FEATURES, SERVICES, WORKER_LAST_QA, WORKER_STATUS, service_features

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_scalar_and_series_forms_agree_and_match_the_feast_udf() -> None:
    due = [NOW + timedelta(hours=h) for h in (-3.5, 0.0, 2.25, 48.0)]
    created = [NOW - timedelta(minutes=m) for m in (0, 30, 90, 600)]
    scalar = [sla_urgency(d, c, NOW) for d, c in zip(due, created, strict=True)]
    assert [r["hours_to_sla"] for r in scalar] == [-3.5, 0.0, 2.25, 48.0]
    assert [r["task_age_hours"] for r in scalar] == [0.0, 0.5, 1.5, 10.0]

    frame = pd.DataFrame({"now": [NOW] * 4, "task_sla_due_at": due, "task_created_at": created})
    udf = hours_to_sla_udf(frame)
    assert list(udf.columns) == [n for n, _ in ODFV_FEATURES["sla_urgency"]]
    assert udf["hours_to_sla"].tolist() == [r["hours_to_sla"] for r in scalar]
    assert udf["task_age_hours"].tolist() == [r["task_age_hours"] for r in scalar]
    assert udf.dtypes.eq("float64").all()
    series = hours_to_sla(pd.Series(due), pd.Series([NOW] * 4))
    assert series.tolist() == udf["hours_to_sla"].tolist()
    assert task_age_hours(created[2], NOW) == 1.5


def test_load_ratio_is_nan_without_a_positive_capacity_in_every_form() -> None:
    open_tasks, capacity = [3, 0, 5, 2, None], [6, 4, 0, None, 5]
    expected = [0.5, 0.0, np.nan, np.nan, np.nan]
    np.testing.assert_array_equal(
        load_ratio(np.array(open_tasks[:3], float), np.array(capacity[:3])), expected[:3]
    )
    udf = load_ratio_udf(pd.DataFrame({"open_tasks": open_tasks, "worker_daily_capacity": capacity}))
    np.testing.assert_array_equal(udf["load_ratio"].to_numpy(), expected)
    assert list(udf.columns) == [n for n, _ in ODFV_FEATURES["worker_load"]]


def test_live_rows_follow_the_live_columns() -> None:
    rows = live_rows([1, 0, np.nan], [2, 0, np.nan], [4, 0, 5])
    assert rows.shape == (3, len(LIVE_COLUMNS))
    np.testing.assert_array_equal(rows[:, LIVE["on_shift"]], [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(rows[:, LIVE["open_tasks"]], [2.0, 0.0, np.nan])
    np.testing.assert_array_equal(rows[:, LIVE["load_ratio"]], [0.5, np.nan, np.nan])
    assert live_rows([], [], []).shape == (0, len(LIVE_COLUMNS))


def test_columns_come_from_the_views() -> None:
    assert LIVE_COLUMNS[:-1] == tuple(WORKER_STATUS.feature_names)
    assert tuple(WORKER_LAST_QA.feature_names) == LAST_QA_COLUMNS
    served = {f for model in SERVICES for f in service_features(model)}
    assert set(REQUEST_TIME) <= served and "load_ratio" in REQUEST_TIME


def test_last_qa_values_take_the_qa_columns_and_nan_for_missing_ones() -> None:
    qa = pd.DataFrame({"passed": [True, False], "score": [90.0, 40.5], "satisfaction": [5, None]})
    values = last_qa_values(qa)
    assert list(values) == list(LAST_QA_COLUMNS)
    np.testing.assert_array_equal(values["last_qa_passed"], [1.0, 0.0])
    np.testing.assert_array_equal(values["last_qa_satisfaction"], [5.0, np.nan])
    np.testing.assert_array_equal(
        last_qa_values(qa.drop(columns="satisfaction"))["last_qa_satisfaction"], [np.nan] * 2
    )


def test_expired_rows_are_missing_old_or_future() -> None:
    now, ttl = 10_000_000, 1_000_000
    at = np.array([NEVER, now - ttl - 1, now - ttl, now, now + 1], dtype=np.int64)
    assert expired(at, now, ttl).tolist() == [True, True, False, False, True]
