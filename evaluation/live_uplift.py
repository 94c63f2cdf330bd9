"""``opsmatch uplift --live``: the field uplift of the service's own switchback experiment, from the live
event log.

The service records the deciding arm as ``assignments.policy`` (``ml`` or the baseline's name) of every
committed assignment (``serving.tasks.assign``); the rows of the history and of other writers
(``legacy``, ...) are left out, so a slice's policy is the arm that decided it. The slice length and the
settling window are the experiment's in force (``PUT /policy``, read from the service's state store)
unless given. A province-scoped experiment switches each province on its own grid, which the national
slice estimator (``evaluation.field``) cannot separate: refused with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evaluation.field import UpliftReport, estimate_uplift, load_log
from serving.config import Experiment
from serving.matching.switchback import ML_ARM

if TYPE_CHECKING:
    from opsmatch.settings import Settings


def experiment_in_force(settings: Settings) -> Experiment:
    """The experiment of the service's policy in force (its defaults when none was ever set)."""
    from serving.state.store import StateStore

    store = StateStore(settings.resolved_state_db_url)
    try:
        return store.current_policy()[1].experiment
    finally:
        store.close()


def live_log(
    source: Path | str | Mapping[str, pd.DataFrame], arms: tuple[str, ...]
) -> dict[str, pd.DataFrame]:
    """The estimator's tables with only the assignments the experiment's ``arms`` decided."""
    log = load_log(source)
    a = log["assignments"]
    log["assignments"] = a[a["policy"].astype(str).isin(arms)].reset_index(drop=True)
    missing = [arm for arm in arms if arm not in set(log["assignments"]["policy"].astype(str))]
    if missing:
        raise ValueError(f"no assignment decided by the arm(s) {', '.join(missing)} in the event log yet")
    return log


def live_uplift(
    source: Path | str | Mapping[str, pd.DataFrame],
    experiment: Experiment,
    *,
    slice_minutes: float | None = None,
    settle_minutes: float | None = None,
    **kwargs: Any,
) -> UpliftReport:
    """Lift of the ML arm over the experiment's baseline arm (see the module docstring)."""
    if experiment.scope != "national":
        raise ValueError(
            "the experiment is province-scoped: each province switches on its own grid, which the "
            "national slice estimator cannot separate; run a national experiment to measure it here"
        )
    return estimate_uplift(
        live_log(source, (ML_ARM, experiment.baseline)),
        policy_on=ML_ARM,
        policy_off=experiment.baseline,
        slice_minutes=experiment.slice_minutes if slice_minutes is None else slice_minutes,
        settle_minutes=experiment.settle_minutes if settle_minutes is None else settle_minutes,
        **kwargs,
    )
