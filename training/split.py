"""Label hygiene and the time-ordered train / validation / test split (the test is the most recent slice)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.specs import TIMESTAMP_COL, ModelSpec


@dataclass(frozen=True)
class TimeSplit:
    """Three time-ordered slices and the cut points between them (``valid_from`` <= valid < ``test_from``)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    valid_from: pd.Timestamp
    test_from: pd.Timestamp

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}

    def ranges(self) -> dict[str, tuple[str, str]]:
        """ISO first/last timestamp of each slice (for lineage)."""
        return {
            name: (str(df[TIMESTAMP_COL].min()), str(df[TIMESTAMP_COL].max()))
            for name, df in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }


def labelled_rows(
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    positive_only: bool = False,
    maturity_days: float = 0.0,
    as_of: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows usable for ``spec``: label known, positive when required, label window matured.

    Returns the rows sorted by time (stable) and how many were dropped for each reason. A row is
    censored when ``event_timestamp > as_of - maturity_days`` (``as_of`` defaults to the newest row).
    """
    if TIMESTAMP_COL not in frame or spec.label not in frame:
        raise KeyError(f"frame needs {TIMESTAMP_COL!r} and label {spec.label!r}")
    y = pd.to_numeric(frame[spec.label].astype("Float64"), errors="coerce").astype(float)
    keep = np.isfinite(y.to_numpy())
    dropped = {"label_missing": int((~keep).sum())}
    if positive_only:
        bad = keep & (y.to_numpy() <= 0)
        dropped["label_not_positive"] = int(bad.sum())
        keep &= ~bad
    if maturity_days > 0:
        ts = frame[TIMESTAMP_COL]
        horizon = (as_of if as_of is not None else ts.max()) - pd.Timedelta(days=maturity_days)
        young = keep & (ts > horizon).to_numpy()
        dropped["label_censored"] = int(young.sum())
        keep &= ~young
    out = frame.loc[keep].copy()
    out[spec.label] = y[keep].to_numpy()
    return out.sort_values(TIMESTAMP_COL, kind="stable").reset_index(drop=True), dropped


def time_split(frame: pd.DataFrame, fractions: dict[str, float]) -> TimeSplit:
    """Cut a time-sorted frame at the ``train`` and ``train + valid`` quantiles of its timestamps.

    Rows sharing a timestamp never straddle a cut, so no slice sees another slice's instant; nor does a
    later slice see a task of an earlier one (its later rows are dropped: one label, one slice).
    """
    ts = frame[TIMESTAMP_COL]
    if not ts.is_monotonic_increasing:
        frame = frame.sort_values(TIMESTAMP_COL, kind="stable").reset_index(drop=True)
        ts = frame[TIMESTAMP_COL]
    n = len(frame)
    i_valid = int(n * fractions["train"])
    i_test = int(n * (fractions["train"] + fractions["valid"]))
    if not 0 < i_valid < i_test < n:
        raise ValueError(f"{n} rows are too few for a {fractions} split")
    valid_from, test_from = ts.iloc[i_valid], ts.iloc[i_test]
    train = frame[ts < valid_from]
    valid = frame[(ts >= valid_from) & (ts < test_from)]
    test = frame[ts >= test_from]
    if "task_id" in frame:  # several rows of a task (open-task snapshots): it stays in its first slice
        valid = valid[~valid["task_id"].isin(train["task_id"])]
        test = test[~test["task_id"].isin(train["task_id"]) & ~test["task_id"].isin(valid["task_id"])]
    if min(len(train), len(valid), len(test)) == 0:
        raise ValueError("a time slice is empty: timestamps are too coarse for this split")
    return TimeSplit(
        train.reset_index(drop=True),
        valid.reset_index(drop=True),
        test.reset_index(drop=True),
        valid_from,
        test_from,
    )


def day_index(ts: pd.Series) -> np.ndarray:
    """UTC calendar day of each timestamp as an integer (days since the epoch)."""
    t = pd.to_datetime(ts, utc=True).dt.tz_localize(None)
    return t.to_numpy().astype("datetime64[D]").astype(np.int64)
