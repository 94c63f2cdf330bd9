"""Scenarios parse; arrivals are time-varying Poisson with the configured shape; the default is national."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from opsmatch.contract import TASK_TYPES
from simulator.arrivals import generate_arrivals
from simulator.scenario import list_scenarios, load_scenario
from simulator.workforce import build_workforce


def test_bundled_scenarios_load_by_name_and_path() -> None:
    assert {"default", "small", "mmc", "snowstorm"} <= set(list_scenarios())
    snow = load_scenario("snowstorm")
    default = load_scenario("default")
    assert snow.provinces == default.provinces and snow.disruptions and not default.disruptions
    path = load_scenario.__globals__["SCENARIO_DIR"] / "small.yaml"
    assert load_scenario(path) == load_scenario("small")
    for name in ("default", "small", "snowstorm"):
        cfg = load_scenario(name)
        assert cfg.start.weekday() == 0 and cfg.start.tzinfo is not None
        assert [t.name for t in cfg.task_types] == list(TASK_TYPES)
    with pytest.raises(FileNotFoundError):
        load_scenario("no_such_scenario")


def test_scenario_validation_rejects_nonsense(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: small\nname: bad\ndemand: {hour_profile: [1, 2, 3]}\n")
    with pytest.raises(ValidationError):
        load_scenario(bad)
    bad.write_text(
        "extends: small\nname: bad\ndisruptions: [{province: Atlantis, day: 1, hour: 1, duration_hours: 2}]\n"
    )
    with pytest.raises(ValidationError, match="Atlantis"):
        load_scenario(bad)


def test_default_is_a_national_centre_with_unequal_provinces() -> None:
    cfg = load_scenario("default")
    wf = build_workforce(cfg, 7)
    assert len(cfg.provinces) == 36 and 550 <= len(wf.workers) <= 650
    demand = np.array([p.demand for p in cfg.provinces])
    staff = np.bincount(wf.province, minlength=36)
    per_head = demand / demand.sum() / (staff / staff.sum())
    assert per_head.max() / per_head.min() > 2  # some provinces understaffed, others idle
    assert len({cfg.utc_offset_minutes(i) for i in range(36)}) > 1  # Xinjiang on Urumqi time
    assert len({p.peak_shift for p in cfg.provinces}) > 2  # demand peaks do not line up
    medians = {t.name: t.median_minutes for t in cfg.task_types}
    assert len(set(medians.values())) > 4 and len({t.sla_hours for t in cfg.task_types}) > 1
    arrivals = generate_arrivals(cfg, 7, 7)
    assert 3_000 * 7 < len(arrivals.tasks) < 5_000 * 7  # ~4,000 a day -> ~350k in 90 days


def test_arrivals_follow_hour_and_weekday_profiles(small) -> None:
    a = generate_arrivals(small, 28, 1)
    tk = a.tasks
    assert tk["t"].is_monotonic_increasing and tk["t"].between(0, 28 * 1440).all()
    local = tk["created_at"].dt.tz_convert("Asia/Shanghai")
    by_hour = np.bincount(local.dt.hour, minlength=24)
    assert by_hour[10] > 5 * by_hour[3]
    by_day = np.bincount(local.dt.dayofweek, minlength=7)
    assert by_day[0] > 2 * by_day[6]
    # the mean count matches the configured rate (within Poisson + surge noise)
    assert len(tk) == pytest.approx(small.demand.tasks_per_day * 28, rel=0.15)
    assert (tk["sla_due_at"] > tk["created_at"]).all() and tk["complexity"].between(1, 5).all()
    assert set(tk["customer_id"]) == set(a.customers["customer_id"])


def test_constant_rate_arrivals_are_poisson() -> None:
    cfg = load_scenario("mmc")
    t = generate_arrivals(cfg, 20, 2).tasks["t"].to_numpy()
    gaps = np.diff(t)
    assert gaps.mean() == pytest.approx(1.0, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential gaps
    counts = np.bincount((t // 60).astype(int))
    assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.15)  # Poisson: variance = mean


def test_arrivals_depend_only_on_the_seed(small) -> None:
    a, b, c = (generate_arrivals(small, 3, s).tasks for s in (4, 4, 5))
    assert a.equals(b) and not a["t"].equals(c["t"])
