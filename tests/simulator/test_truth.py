"""Hidden worker heterogeneity exists, leaves a measurable trace in the history, and drives outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from opsmatch.events import read_table
from simulator.truth import expected_outcomes, load_truth


def test_truth_has_real_spread(small_workforce) -> None:
    t = small_workforce.truth
    elig = t.eligible
    log_speed = np.log(t.speed)[elig]
    assert log_speed.std() > 0.2
    assert t.quality[elig].std() > 0.5 and t.care[elig].std() > 0.4
    # some workers are clearly better at some types than at others (not one general factor only)
    within = np.array([np.ptp(np.log(t.speed[w, elig[w]])) for w in range(len(elig)) if elig[w].sum() > 1])
    assert np.median(within) > 0.2


def _per_worker(settings) -> pd.DataFrame:
    comp = read_table(settings.events_dir, "completions")
    qa = read_table(settings.events_dir, "qa_results")
    tt = pd.read_parquet(settings.truth_dir / "task_truth.parquet").set_index("task_id")
    truth = load_truth(settings.truth_dir)
    widx = {w: i for i, w in enumerate(truth.worker_ids)}
    kidx = {k: i for i, k in enumerate(truth.task_types)}
    c = comp.join(tt[["task_type", "complexity"]], on="task_id")
    w, k = c["worker_id"].map(widx).to_numpy(), c["task_type"].map(kidx).to_numpy()
    type_median = c.groupby("task_type")["handling_minutes"].transform("median")
    cx = np.asarray(truth.config.behaviour.complexity_minutes)[c["complexity"].to_numpy() - 1]
    c = c.assign(
        log_ratio=np.log(c["handling_minutes"] / type_median / cx),
        true_log_speed=np.log(truth.speed[w, k]),
        true_quality=truth.quality[w, k],
    )
    per = c.groupby("worker_id").agg(
        n=("task_id", "size"), log_ratio=("log_ratio", "mean"), true_log_speed=("true_log_speed", "mean")
    )
    q = qa.join(c.set_index("task_id")["true_quality"], on="task_id")
    per = per.join(
        q.groupby("worker_id").agg(
            qa_n=("passed", "size"), pass_rate=("passed", "mean"), true_quality=("true_quality", "mean")
        )
    )
    return per


def test_heterogeneity_leaves_a_trace_in_the_history(small_history) -> None:
    settings, _ = small_history
    per = _per_worker(settings)
    per = per[(per["n"] >= 30) & (per["qa_n"] >= 10)]
    assert len(per) >= 25
    rho, p = spearmanr(per["log_ratio"], per["true_log_speed"])
    assert rho > 0.6 and p < 1e-4, (rho, p)
    rho, p = spearmanr(per["pass_rate"], per["true_quality"])
    assert rho > 0.3 and p < 0.01, (rho, p)


def test_learning_shows_in_realised_minutes(small_outcomes, small, small_arrivals, small_workforce) -> None:
    """Novices (little experience on the type) are measurably slower than veterans, speed held fixed."""
    o = small_outcomes[small_outcomes["started"].notna()]
    k = small_arrivals.tasks["k"].to_numpy()[o.index]
    complexity = small_arrivals.tasks["complexity"].to_numpy()[o.index]
    cx = np.asarray(small.behaviour.complexity_minutes)[complexity - 1]
    median = np.array([t.median_minutes for t in small.task_types])[k]
    speed = small_workforce.truth.speed[o["worker"].to_numpy(dtype=int), k]
    thr = small.behaviour.fatigue_threshold
    resid = pd.Series(np.log(o["minutes"].to_numpy() / (median * cx * speed)), index=o.index)
    fresh = (o["shift_tasks_done"] <= thr).to_numpy()
    novice = fresh & (o["experience"] < 30).to_numpy()
    veteran = fresh & (o["experience"] > 600).to_numpy()
    assert novice.sum() > 30 and veteran.sum() > 300
    gap = resid[novice].mean() - resid[veteran].mean()
    se = np.sqrt(resid[novice].var() / novice.sum() + resid[veteran].var() / veteran.sum())
    assert gap > 3 * se and gap > 0.2, (gap, se)


def test_expected_outcomes_directions(small_history) -> None:
    settings, _ = small_history
    truth = load_truth(settings.truth_dir)
    w = truth.worker_ids[0]
    k = truth.task_types[int(np.flatnonzero(truth.eligible[0])[0])]
    base = {"worker_id": w, "task_type": k, "complexity": 3}
    rows = pd.DataFrame(
        [
            base,
            base | {"complexity": 5},
            base | {"shift_tasks_done": 20},
            base | {"experience": 0},
            base | {"hours_late": 24},
            base | {"vip": True, "prior_complaints": 3, "age_band": "60+"},
        ]
    )
    e = expected_outcomes(settings, rows)
    assert (e[["expected_minutes", "p_pass", "p_complaint"]].notna()).all().all()
    m, p, c = e["expected_minutes"].to_numpy(), e["p_pass"].to_numpy(), e["p_complaint"].to_numpy()
    assert m[1] > m[0] and p[1] < p[0]  # complexity
    assert m[2] > m[0] and p[2] < p[0]  # fatigue
    assert m[3] > m[0]  # a novice is slower
    assert c[4] > 2 * c[0]  # lateness beyond SLA
    assert c[5] > 2 * c[0]  # customer traits
    # the same answer from a Truth object, and by task_id for the worker who really did the task
    pd.testing.assert_frame_equal(expected_outcomes(truth, rows), e)
    tt = pd.read_parquet(settings.truth_dir / "task_truth.parquet").dropna(subset=["worker_id"]).head(500)
    by_id = expected_outcomes(settings, tt[["task_id", "worker_id"]])
    assert np.allclose(by_id["expected_minutes"], tt["true_expected_minutes"])
    assert np.allclose(by_id["p_pass"], tt["true_p_pass"])
    with pytest.raises(KeyError):
        expected_outcomes(truth, rows.assign(worker_id="W9999"))


def test_worker_care_lowers_complaints(small_outcomes, small_arrivals, small_workforce) -> None:
    o = small_outcomes[small_outcomes["started"].notna()]
    k = small_arrivals.tasks["k"].to_numpy()[o.index]
    care = small_workforce.truth.care[o["worker"].to_numpy(dtype=int), k]
    caring = care > np.median(care)
    assert o["p_complaint"][caring].mean() < 0.85 * o["p_complaint"][~caring].mean()
    assert 0.005 < o["complaint"].mean() < 0.06  # a few percent overall
