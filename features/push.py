"""Push live rows (worker status, QA outcomes) into Feast through the repo's push sources.

The event log stays the source of truth: the pipeline rewrites each push view's batch Parquet from it,
so pushing online only (the default) is enough when the same rows are also ingested into the log.
``to_offline=True`` appends to the batch Parquet too (Feast rewrites the whole file: slow when large).
"""

from __future__ import annotations

import pandas as pd
from feast import FeatureStore
from feast.data_source import PushMode

from features.definitions import PUSH_SOURCES
from features.entity_features import build_worker_last_qa, build_worker_status


def push_worker_status(store: FeatureStore, status: pd.DataFrame, to_offline: bool = False) -> int:
    """Push contract ``worker_status`` rows (worker_id, at, on_shift, open_tasks); returns rows pushed."""
    return _push(store, "worker_status", build_worker_status(status), to_offline)


def push_qa_outcomes(store: FeatureStore, qa_results: pd.DataFrame, to_offline: bool = False) -> int:
    """Push contract ``qa_results`` rows as each worker's latest QA outcome; returns rows pushed."""
    return _push(store, "worker_last_qa", build_worker_last_qa(qa_results), to_offline)


def _push(store: FeatureStore, view: str, frame: pd.DataFrame, to_offline: bool) -> int:
    if frame.empty:
        return 0
    mode = PushMode.ONLINE_AND_OFFLINE if to_offline else PushMode.ONLINE
    store.push(PUSH_SOURCES[view], frame, to=mode)
    return len(frame)
