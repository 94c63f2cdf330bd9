"""write_charts: every chart of a report is written as a PNG (a stand-in report with the fields it reads)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from evaluation.charts import write_charts
from evaluation.kpis import COST_PARTS

POLICIES = ["legacy", "ml_rank"]


def _report(with_storm: bool) -> SimpleNamespace:
    runs = pd.DataFrame(
        [
            {
                "policy": p,
                "seed": s,
                "mean_turnaround_h": 1.0 + s,
                "p90_turnaround_h": 3.0 + s,
                "sla_attainment": 0.9,
                "qa_pass_rate": 0.8 + 0.01 * s,
                "complaint_rate": 0.01,
            }
            for p in POLICIES
            for s in range(3)
        ]
    )
    util = pd.DataFrame(
        [
            {"policy": p, "province_id": f"P{i:02d}", "utilisation": 0.5 + 0.01 * i}
            for p in POLICIES
            for i in range(4)
        ]
    )
    summary = pd.DataFrame({c: [1.0, 2.0] for c in COST_PARTS}, index=POLICIES)
    storm = SimpleNamespace(
        summary=lambda: pd.DataFrame(
            {
                "policy": POLICIES,
                "storm_province_wait_h": [2.0, np.nan],
                "stranded": [3, 0],
                "national_sla_delta": [-0.01, 0.0],
            }
        )
    )
    return SimpleNamespace(
        runs=runs,
        policies=POLICIES,
        province_util=util,
        summary=lambda: summary,
        snowstorm=storm if with_storm else None,
    )


def test_write_charts_writes_one_png_per_chart(tmp_path: Path) -> None:
    charts = write_charts(_report(with_storm=True), tmp_path / "out")
    assert set(charts) == {"turnaround", "rates", "utilisation", "cost", "snowstorm"}
    for path in charts.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "snowstorm" not in write_charts(_report(with_storm=False), tmp_path / "plain")
