"""The arrivals alert's band: the forecast's interval for a window as a whole, not the sum of its
half hours' bounds (which is wider)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import poisson

from opsmatch.settings import Settings
from serving.planning import reads as planning
from training.forecast import poisson_band


def _store(data_dir: Path, rows: pd.DataFrame) -> Settings:
    folder = data_dir / "planning"
    folder.mkdir(parents=True)
    rows.to_parquet(folder / planning.FORECAST_FILE, index=False)
    inputs = {"zone": "UTC", "origin": "2026-12-07T00:00:00+00:00", "spec": {"level": 80}}
    (folder / planning.INPUTS_FILE).write_text(json.dumps(inputs))
    return Settings(data_dir=data_dir)


def test_a_windows_band_is_the_interval_of_its_summed_rates(tmp_path: Path) -> None:
    start = pd.Timestamp("2026-12-07 09:00", tz="UTC")
    half = pd.Timedelta(minutes=30)
    rate = {"expected": 5.0, "low_rate": 4.0, "high_rate": 6.5}
    low, high = poisson_band(5.0, 4.0, 6.5, 80)
    rows = pd.DataFrame(
        [
            {
                "start": start + i * half,
                "province_id": "P01",
                "task_type": "all",
                "low": low,
                "high": high,
                **rate,
            }
            for i in range(3)
        ]
    )
    settings = _store(tmp_path / "data", rows)
    expected, lo, hi = planning.window_band(settings, "P01", start, start + 2 * half)  # type: ignore[misc]
    assert (expected, lo, hi) == (10.0, poisson.ppf(0.1, 8.0), poisson.ppf(0.9, 13.0)) == (10.0, 5.0, 18.0)
    assert 2 * low < lo and hi < 2 * high  # the half hours' bounds summed: 4 and 20
    assert planning.window_band(settings, "P02", start, start + half) is None
    assert planning.window_band(settings, "P01", start + 3 * half, start + 4 * half) is None
    cols = planning.forecast_rows(settings, "P01", None, start, start + half).columns  # no rates on /forecast
    assert not [c for c in cols if c.endswith("_rate")]


def test_no_forecast_no_band(tmp_path: Path) -> None:
    at = pd.Timestamp("2026-12-07 09:00", tz="UTC")
    assert planning.window_band(Settings(data_dir=tmp_path), "P01", at, at + pd.Timedelta(hours=1)) is None
    with pytest.raises(planning.ApiError):
        planning.stored(Settings(data_dir=tmp_path))
