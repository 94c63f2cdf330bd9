"""``opsmatch uplift --live``: the service's arms read back from the assignments, other writers' rows
left out, the experiment's slices and settling used."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.field import estimate_uplift
from evaluation.live_uplift import live_uplift
from serving.config import Experiment
from tests.evaluation.test_field import synthetic_log


def live_like(**effects: float) -> dict[str, pd.DataFrame]:
    """A synthetic switchback whose arms are named as the service names them, plus three history
    (``legacy``) assignments per task of the same slices, which outvote the arms in every slice."""
    log = synthetic_log(**effects, seed=4)
    a = log["assignments"]
    a["policy"] = a["policy"].map({"on": "ml", "off": "least_busy"})
    legacy = [a.assign(assignment_id=a["assignment_id"] + f"-L{i}", policy="legacy") for i in range(3)]
    log["assignments"] = pd.concat([a, *legacy], ignore_index=True)
    return log


def test_live_uplift_reads_the_arms_and_ignores_other_writers() -> None:
    log = live_like(turnaround_cut_h=0.5, qa_gain=0.05)
    with pytest.raises(ValueError, match="decided no slice"):
        estimate_uplift(log, policy_on="ml", complaint_days=5)  # the history outvotes the arms
    exp = Experiment(enabled=True, baseline="least_busy", slice_minutes=60, settle_minutes=0)
    rep = live_uplift(log, exp, complaint_days=5)
    assert (rep.policy_on, rep.policy_off, rep.slice_minutes, rep.settle_minutes) == (
        "ml",
        "least_busy",
        60,
        0,
    )
    f = rep.frame().set_index("kpi")
    for kpi, injected in (("turnaround_h", -0.5), ("qa_pass", 0.05)):
        assert f.loc[kpi, "low"] <= injected <= f.loc[kpi, "high"], kpi
    assert f.loc["turnaround_h", "high"] < 0


def test_live_uplift_refuses_what_it_cannot_measure() -> None:
    log = live_like()
    with pytest.raises(ValueError, match="province-scoped"):
        live_uplift(log, Experiment(enabled=True, scope="province"))
    with pytest.raises(ValueError, match="no assignment decided by the arm.s. fifo"):
        live_uplift(log, Experiment(enabled=True, baseline="fifo"))
