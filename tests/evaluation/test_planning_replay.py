"""The planning replay's control arm shares as much as the recommendations, elsewhere."""

from __future__ import annotations

from evaluation.planning_replay import Window, control_windows


def test_control_windows_share_as_much_at_random_hours_and_provinces() -> None:
    week = (10_080.0, 20_160.0)
    recs = [
        Window(10_200.0, 10_380.0, 3, frozenset({1, 2})),
        Window(12_000.0, 12_060.0, 5, frozenset({0})),
        Window(15_000.0, 15_240.0, 3, frozenset({4, 6, 7})),
    ]
    control = control_windows(recs, 8, week, seed=7)
    assert [w.t1 - w.t0 for w in control] == [w.t1 - w.t0 for w in recs]  # the same province-hours
    assert [len(w.lenders) for w in control] == [len(w.lenders) for w in recs]
    for w in control:
        assert week[0] <= w.t0 and w.t1 <= week[1] and (w.t0 - week[0]) % 60 == 0
        assert w.short not in w.lenders and all(0 <= p < 8 for p in w.lenders | {w.short})
    assert control != recs and control == control_windows(recs, 8, week, seed=7)  # seeded
