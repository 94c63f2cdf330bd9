"""Training frames: assignment events -> point-in-time features from Feast + labels from the event log.

Returned columns, in order: ``ENTITY_COLUMNS``, ``event_timestamp`` (= assigned_at), ``LABELS``, then
``feature_columns(model)`` (the feature service's features in service order, minus identifiers and raw
timestamps; see ``features.spec``). Labels belong to the assignment that completed the task (the task's
last assignment before its completion, to the completing worker); other rows get NaN labels:

- ``handling_minutes``: the completion's hands-on minutes;
- ``qa_passed``: 1.0/0.0 from the task's first QA result; NaN if never checked;
- ``complaint_30d``: 1.0 if a complaint on the task was filed by completed_at + 30 days, 0.0 if none was
  and those 30 days lie within the event log, NaN while the window is still open (censored).

``SNAPSHOT_MODELS`` (``complaint_pre``) train on open-task snapshots instead (``features.snapshots``):
one row per completed task and age while it was open, ``event_timestamp`` = ``now`` = the snapshot time,
``assignment_id`` = ``"<task_id>@<age>h"``, ``worker_id`` = who completed it (for oracle figures only),
and the task's ``complaint_30d`` as label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from feast import FeatureStore

from features.offline_join import historical_features
from features.pipeline import event_time_range, read_manifest
from features.snapshots import snapshot_entities
from features.spec import COMPLAINT_LABEL_DAYS, EVENT_TS, SERVICES, feature_columns, view_features
from features.windows import DAY, to_us
from opsmatch.events import read_table
from opsmatch.settings import Settings

ENTITY_COLUMNS = ["assignment_id", "task_id", "worker_id", "task_type", "customer_id", "province_id"]
LABELS = ["handling_minutes", "qa_passed", "complaint_30d"]
LABEL_OF = {
    "handling_time": "handling_minutes",
    "qa_pass": "qa_passed",
    "complaint": "complaint_30d",
    "complaint_pre": "complaint_30d",
}
_TABLES = ("tasks", "assignments", "completions", "qa_results", "complaints", "worker_status")


def entity_frame(assignments: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    """Assignment rows -> Feast entity frame (join keys, ``event_timestamp`` = ``now`` = assigned_at)."""
    t = tasks[["task_id", "task_type", "customer_id", "province_id"]].astype(str)
    a = assignments[["assignment_id", "task_id", "worker_id", "assigned_at"]].copy()
    for c in ("assignment_id", "task_id", "worker_id"):
        a[c] = a[c].astype(str)
    ent = a.merge(t, on="task_id", how="inner", validate="many_to_one")
    ts = pd.to_datetime(ent["assigned_at"], utc=True).astype("datetime64[us, UTC]")
    ent = ent.drop(columns="assigned_at").assign(**{EVENT_TS: ts, "now": ts})
    return ent[[*ENTITY_COLUMNS, EVENT_TS, "now"]].reset_index(drop=True)


def label_frame(ent: pd.DataFrame, events: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The three labels for each entity row (NaN where the row has no label)."""
    comp = events["completions"].assign(
        task_id=lambda d: d["task_id"].astype(str), worker_id=lambda d: d["worker_id"].astype(str)
    )
    comp = comp.drop_duplicates("task_id", keep="last")
    rows = ent[["assignment_id", "task_id", "worker_id", EVENT_TS]].merge(
        comp[["task_id", "worker_id", "completed_at", "handling_minutes"]],
        on="task_id",
        how="left",
        suffixes=("", "_done"),
    )
    # The completing assignment: same worker, the task's last assignment at or before completion.
    eligible = (rows["worker_id"] == rows["worker_id_done"]) & (rows[EVENT_TS] <= rows["completed_at"])
    last = rows[eligible].sort_values(EVENT_TS, kind="stable").drop_duplicates("task_id", keep="last")
    owner = rows["assignment_id"].isin(last["assignment_id"]).to_numpy()

    out = pd.DataFrame(index=ent.index)
    out["handling_minutes"] = np.where(owner, rows["handling_minutes"].astype(float), np.nan)

    qa = events["qa_results"].assign(task_id=lambda d: d["task_id"].astype(str))
    qa = qa.sort_values("checked_at", kind="stable").drop_duplicates("task_id", keep="first")
    passed = rows["task_id"].map(qa.set_index("task_id")["passed"].astype(float))
    out["qa_passed"] = np.where(owner, passed.astype(float), np.nan)

    out["complaint_30d"] = np.where(
        owner, complaint_label(rows["task_id"], rows["completed_at"], events), np.nan
    )
    return out


def complaint_label(
    task_id: pd.Series, completed_at: pd.Series, events: dict[str, pd.DataFrame]
) -> np.ndarray:
    """``complaint_30d`` of each task: 1.0 if a complaint on it was filed by its completion + 30 days,
    0.0 if none was and those days lie within the event log, NaN while the window is open (censored)."""
    done_us = np.where(
        completed_at.notna(),
        to_us(completed_at.fillna(pd.Timestamp(0, tz="UTC"))),
        np.iinfo(np.int64).max // 2,
    )
    deadline = done_us + COMPLAINT_LABEL_DAYS * DAY
    cp = events["complaints"].assign(
        task_id=lambda d: d["task_id"].astype(str), _t=lambda d: to_us(d["filed_at"])
    )
    first_cp = task_id.astype(str).map(cp.groupby("task_id")["_t"].min()).to_numpy(dtype=float)
    rng = event_time_range(events)
    horizon = rng[1] if rng else 0
    complained = ~np.isnan(first_cp) & (first_cp <= deadline)
    return np.where(complained, 1.0, np.where(deadline <= horizon, 0.0, np.nan))


def snapshot_frame(
    events: dict[str, pd.DataFrame], at: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entity rows (``now`` = the snapshot time) and labels of the open-task snapshots of the completed
    tasks (``features.snapshots``), or of the given ``(task_id, worker_id, assigned_at)`` rows (a task
    seen at that time, in that order).

    ``complaint_30d`` of a snapshot: 1.0 if a complaint on the task is filed within 30 days after it,
    0.0 if none is and those days lie within the event log, NaN while they do not (censored) and NaN
    once a complaint on the task was filed before the snapshot (that customer has already complained).
    """
    if at is None:
        snap = snapshot_entities(events["tasks"], events["completions"])
    else:
        t = events["tasks"][["task_id", "task_type", "customer_id", "province_id"]].astype(str)
        snap = at[["task_id", "worker_id", "assigned_at"]].astype({"task_id": str, "worker_id": str})
        snap = snap.rename(columns={"assigned_at": "at"}).merge(t, on="task_id", how="left")
        snap["age_hours"] = np.nan
    when = to_us(pd.to_datetime(snap["at"], utc=True))
    cp = events["complaints"].assign(
        task_id=lambda d: d["task_id"].astype(str), _t=lambda d: to_us(d["filed_at"])
    )
    first = snap["task_id"].map(cp.groupby("task_id")["_t"].min()).to_numpy(dtype=float)
    rng = event_time_range(events)
    end = when + COMPLAINT_LABEL_DAYS * DAY
    label = np.where(first <= end, 1.0, np.where(end <= (rng[1] if rng else 0), 0.0, np.nan))
    label[first <= when] = np.nan  # complained already: not an open risk any more
    ts = pd.to_datetime(snap["at"], utc=True).astype("datetime64[us, UTC]")
    if at is None:
        ids = snap["task_id"] + "@" + snap["age_hours"].map("{:g}h".format)
    else:
        ids = at["assignment_id"].astype(str).to_numpy()
    ent = snap.assign(assignment_id=ids, **{EVENT_TS: ts, "now": ts})
    for c in ("worker_id", "task_type", "customer_id", "province_id"):
        ent[c] = ent[c].astype(str)
    ent = ent[[*ENTITY_COLUMNS, EVENT_TS, "now"]].reset_index(drop=True)
    labels = pd.DataFrame({c: np.nan for c in LABELS}, index=ent.index)
    labels["complaint_30d"] = label
    return ent, labels


def _fetch(store: FeatureStore, ent: pd.DataFrame, features) -> pd.DataFrame:
    """Historical features for ``ent`` in its row order: Feast's point-in-time semantics on DuckDB in
    time-ordered chunks (``features.offline_join``), not a whole-table ``get_historical_features``."""
    return historical_features(store, ent, features)


def _assemble(ent: pd.DataFrame, labels: pd.DataFrame, feats: pd.DataFrame, model: str) -> pd.DataFrame:
    cols = feature_columns(model)
    return pd.concat([ent[[*ENTITY_COLUMNS, EVENT_TS]], labels, feats[cols].reset_index(drop=True)], axis=1)


SNAPSHOT_MODELS: frozenset[str] = frozenset({"complaint_pre"})
"""Models trained on open-task snapshots (``features.snapshots``) rather than on assignment events."""


def _events(settings: Settings) -> dict[str, pd.DataFrame]:
    version = read_manifest(settings.feature_data_dir).get("events_version")  # the features' own version
    return {name: read_table(settings, name, version=version) for name in _TABLES}


def _inputs(
    events: dict[str, pd.DataFrame], assignments: pd.DataFrame | None, snapshots: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entity rows and labels: assignment events, or open-task snapshots (at the given rows' times)."""
    if snapshots:
        return snapshot_frame(events, assignments)
    ent = entity_frame(events["assignments"] if assignments is None else assignments, events["tasks"])
    return ent, label_frame(ent, events)


def build_training_frame(
    store: FeatureStore, settings: Settings, model: str, assignments: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Point-in-time training frame for ``model`` over ``assignments`` (default: the whole log).

    Features are the model's feature service, point in time (``features.offline_join``).
    """
    if model not in SERVICES:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(SERVICES)}")
    ent, labels = _inputs(_events(settings), assignments, model in SNAPSHOT_MODELS)
    return _assemble(ent, labels, _fetch(store, ent, store.get_feature_service(model)), model)


def build_training_frames(
    store: FeatureStore,
    settings: Settings,
    models: tuple[str, ...] = tuple(SERVICES),
    assignments: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Training frames for several models with one historical retrieval per kind of entity row
    (assignment events; open-task snapshots) over the union of their models' views.

    Same values as ``build_training_frame`` per model (the services share their views), at the cost of
    one point-in-time join per kind instead of one per model.
    """
    unknown = [m for m in models if m not in SERVICES]
    if unknown:
        raise KeyError(f"unknown models {unknown}; known: {', '.join(SERVICES)}")
    events = _events(settings)
    out: dict[str, pd.DataFrame] = {}
    for snapshots in (False, True):
        group = [m for m in models if (m in SNAPSHOT_MODELS) == snapshots]
        if not group:
            continue
        views = list(dict.fromkeys(v for m in group for v in SERVICES[m]))
        refs = [f"{v}:{n}" for v in views for n in view_features(v)]
        ent, labels = _inputs(events, assignments, snapshots)
        feats = _fetch(store, ent, refs)
        out.update({m: _assemble(ent, labels, feats, m) for m in group})
    return {m: out[m] for m in models}
