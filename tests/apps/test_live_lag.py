"""The live twin says how far behind the service's clock it runs, and says so loudly past 5 minutes."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from apps.live import LivePlayer
from opsmatch.clock import OpsClock

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def _player(lag_minutes: float) -> tuple[LivePlayer, list[str]]:
    said: list[str] = []
    player = LivePlayer.__new__(LivePlayer)  # the progress line only: no world, no service
    player.counts = dict.fromkeys(("tasks", "assigned", "rejected", "done", "qa", "complaints", "refused"), 0)
    player.world = SimpleNamespace(worker_ids=[], open_tasks=lambda _w: 0)  # type: ignore[assignment]
    player.clock = OpsClock(anchor=NOW, speed=60.0)
    player.max_lag = timedelta(minutes=lag_minutes)
    player.say = said.append
    return player, said


def test_the_progress_line_gives_the_lag_and_a_twin_far_behind_says_so() -> None:
    player, said = _player(0.5)
    player.progress(NOW)
    assert len(said) == 1 and said[0].endswith("behind the clock by up to 0.5 operation min")
    player, said = _player(7.0)
    player.progress(NOW)
    assert "fell up to 7 operation minutes behind the service's clock (x60" in said[1]
    assert player.max_lag == timedelta(0)  # counted again for the next hour
