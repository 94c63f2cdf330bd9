"""The ``national`` scenario is the default centre at ten times its size, nothing else changed."""

from __future__ import annotations

from simulator.scenario import list_scenarios, load_scenario


def test_national_is_default_with_workers_and_arrivals_times_ten() -> None:
    assert "national" in list_scenarios()
    national, default = load_scenario("national"), load_scenario("default")
    assert national.workforce.workers == 10 * default.workforce.workers
    assert national.demand.tasks_per_day == 10 * default.demand.tasks_per_day
    assert [p.name for p in national.provinces] == [p.name for p in default.provinces]
    assert len(national.provinces) == 36
    # everything else is relative to those two totals and stays as in default
    same = {"workforce": {"workers"}, "demand": {"tasks_per_day"}, "name": None, "description": None}
    a, b = national.model_dump(), default.model_dump()
    for key in a:
        if key in same and same[key] is None:
            continue
        if key in same:
            assert {k: v for k, v in a[key].items() if k not in same[key]} == {
                k: v for k, v in b[key].items() if k not in same[key]
            }, key
        else:
            assert a[key] == b[key], key
