"""The switchback experiment's arm at time t: slices on the UTC grid, schedules, scope, settling."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from serving.config import Experiment, default_policy, merge_policy
from serving.matching.switchback import ML_ARM, arm_at

DAY0 = datetime(2026, 6, 1, tzinfo=UTC)


def exp(**kw: object) -> Experiment:
    return Experiment.model_validate({"enabled": True, **kw})


def arms(
    e: Experiment, start: datetime, n: int, step_minutes: float, province: str | None = None
) -> list[str]:
    return [arm_at(e, start + timedelta(minutes=i * step_minutes), province).arm for i in range(n)]


def test_without_an_experiment_ml_decides() -> None:
    got = arm_at(Experiment(), DAY0)
    assert got.arm == ML_ARM and not got.in_experiment and got.slice_index is None


def test_alternate_switches_every_slice_on_the_utc_grid() -> None:
    e = exp(slice_minutes=60, baseline="fifo")
    got = arm_at(e, DAY0 + timedelta(minutes=90))
    assert got.slice_start == DAY0 + timedelta(hours=1) and got.slice_end == DAY0 + timedelta(hours=2)
    assert got.slice_index == int((DAY0 + timedelta(hours=1)).timestamp() // 3600)
    seq = arms(e, DAY0 + timedelta(minutes=30), 24, 60)
    assert all(a != b for a, b in zip(seq, seq[1:], strict=False))
    assert set(seq) == {"ml", "fifo"}


def test_alternate_flips_its_phase_daily_so_every_hour_sees_both_arms() -> None:
    e = exp(slice_minutes=60)
    day1 = arms(e, DAY0 + timedelta(minutes=30), 24, 60)
    day2 = arms(e, DAY0 + timedelta(days=1, minutes=30), 24, 60)
    assert all(a != b for a, b in zip(day1, day2, strict=True))


def test_settling_flags_the_first_minutes_after_a_switch() -> None:
    e = exp(slice_minutes=60, settle_minutes=15)
    boundary = DAY0 + timedelta(hours=5)
    assert arm_at(e, boundary + timedelta(minutes=14)).settling
    assert not arm_at(e, boundary + timedelta(minutes=15)).settling
    assert arm_at(e, boundary).arm != arm_at(e, boundary - timedelta(seconds=1)).arm


def test_random_is_balanced_each_day_reproducible_and_seeded() -> None:
    e = exp(slice_minutes=60, schedule="random", seed=4)
    day = arms(e, DAY0 + timedelta(minutes=1), 24, 60)
    assert Counter(day) == {"ml": 12, "least_busy": 12}
    assert day == arms(e, DAY0 + timedelta(minutes=1), 24, 60)
    other = arms(exp(slice_minutes=60, schedule="random", seed=5), DAY0 + timedelta(minutes=1), 24, 60)
    assert other != day
    # no switch between two slices of the same arm: no settling there
    for i in range(1, 24):
        d = arm_at(e, DAY0 + timedelta(hours=i, minutes=1))
        assert d.settling == (day[i] != day[i - 1])


def test_province_scope_gives_each_province_its_own_schedule() -> None:
    e = exp(slice_minutes=30, scope="province")
    provinces = [f"P{i:02d}" for i in range(1, 37)]
    now = DAY0 + timedelta(hours=9, minutes=10)
    split = Counter(arm_at(e, now, p).arm for p in provinces)
    assert split["ml"] >= 10 and split["least_busy"] >= 10  # both arms run somewhere at once
    assert arms(e, now, 6, 30, "P07") == arms(e, now, 6, 30, "P07")
    national = exp(slice_minutes=30)
    assert len({arm_at(national, now, p).arm for p in provinces}) == 1
    with pytest.raises(ValueError, match="needs the task's province"):
        arm_at(e, now)


def test_the_experiment_is_set_through_the_policy_merge_and_validated() -> None:
    policy = merge_policy(default_policy(), {"experiment": {"enabled": True, "baseline": "fifo"}})
    assert policy.experiment.enabled and policy.experiment.slice_minutes == 60
    with pytest.raises(ValidationError, match="settle_minutes must be shorter"):
        merge_policy(policy, {"experiment": {"slice_minutes": 10, "settle_minutes": 10}})
    with pytest.raises(ValidationError):
        merge_policy(policy, {"experiment": {"baseline": "random_walk"}})
    with pytest.raises(ValueError, match="time zone"):
        arm_at(policy.experiment, datetime(2026, 6, 1))


def _batch() -> tuple:
    from tests.factories.fakes import NOW, make_pool, make_task

    pool = make_pool(m=6, provinces=("P01", "P02"), skill_level=3, capacity=2, open_tasks=0)
    pool.open_tasks[:] = [1, 0, 1, 0, 0, 1]  # P01: W0, W2, W4; P02: W1, W3, W5
    tasks = [
        make_task("T-new", "renewal", "P01", now=NOW + timedelta(minutes=30)),
        make_task("T-old", "renewal", "P02", now=NOW),
        make_task("T-mid", "renewal", "P01", now=NOW + timedelta(minutes=10)),
    ]
    return pool, tasks


def test_least_busy_takes_tasks_oldest_first_to_the_least_loaded_eligible_worker() -> None:
    import numpy as np

    from serving.matching.baselines import baseline_assign

    pool, tasks = _batch()
    eligible = np.ones((3, 6), dtype=bool)
    got = baseline_assign("least_busy", tasks, pool, eligible, pool.capacity)
    # T-old first -> W1 (load 0, first in pool order), T-mid -> W3, T-new -> W4
    assert [str(pool.worker_ids[w]) for w in got] == ["W0004", "W0001", "W0003"]
    eligible[:, 4] = False  # W4 cannot take renewals: T-new goes to the next least loaded, W0 (1/2)
    got = baseline_assign("least_busy", tasks, pool, eligible, pool.capacity)
    assert str(pool.worker_ids[got[0]]) == "W0000"


def test_fifo_stays_in_the_tasks_province_and_leaves_what_it_cannot_place() -> None:
    import numpy as np

    from serving.matching.baselines import baseline_assign

    pool, tasks = _batch()
    eligible = np.ones((3, 6), dtype=bool)
    got = baseline_assign("fifo", tasks, pool, eligible, pool.capacity)
    assert [pool.province_ids[w] for w in got] == ["P01", "P02", "P01"]
    eligible[[0, 2]] = pool.province_ids != "P01"  # P01 closed: its workers are not eligible
    got = baseline_assign("fifo", tasks, pool, eligible, pool.capacity)
    assert got[0] == -1 and got[2] == -1 and got[1] >= 0
    with pytest.raises(ValueError, match="unknown baseline arm"):
        baseline_assign("random", tasks, pool, eligible, pool.capacity)
