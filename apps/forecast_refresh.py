"""The daily forecast refresh: backtest, make, store and log to MLflow (the retrain loop calls it)."""

from __future__ import annotations

import logging
from dataclasses import replace

from opsmatch.settings import Settings
from training.forecast import ForecastSpec
from training.forecast_run import Made, is_stale, log_run, make_and_store

log = logging.getLogger("opsmatch.forecast")


def refresh(
    settings: Settings, *, horizon_days: int = 14, with_backtest: bool = True, windows: int = 3
) -> tuple[Made, str]:
    """Make and store the forecast; with the backtest (and the twin's truth where it exists) logged."""
    from evaluation.arrival_truth import backtest_with_truth
    from training.arrival_counts import read_counts

    spec = replace(ForecastSpec(), horizon_days=horizon_days)
    result = None
    if with_backtest:
        history = read_counts(settings, days=max(56, windows * 7 + 28))
        result, _ = backtest_with_truth(settings, history, spec, windows=windows, horizon_days=7)
    made = make_and_store(settings, spec)
    return made, log_run(settings, made, result)


def refresh_if_stale(settings: Settings) -> str | None:
    """The daily refresh when a whole day of arrivals came since the stored forecast; its run id."""
    if not is_stale(settings):
        return None
    try:
        return refresh(settings)[1]
    except Exception:  # noqa: BLE001 - a failed forecast must not fail the retrain loop
        log.exception("forecast refresh failed")
        return None
