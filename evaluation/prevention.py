"""Does the watchlist reach the complaints it can prevent? Uplift@k and the Qini curve on its holdout.

The team walks its ranked list and passes over a random ``holdout_share`` of the listed customers
(``simulator.risk_team``), so within the walked list the contacted and held-out customers are
exchangeable: the rate of "no complaint in the ``effect_days`` after the (would-be) contact" compared
between the arms is the contact's uplift, and ranking the units by the list's score (expected complaints
prevented) gives the Qini curve. Each customer counts once, at its first listing (as
``evaluation.contact_effect``). Metrics from ``scikit-uplift`` (``sklift.metrics``); ``uplift_at_capacity``
is the uplift over the whole walked list (the team's daily capacity), ``uplift_at_30`` over its top 30 %.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from simulator.clock import MINUTES_PER_DAY


def holdout_units(log: pd.DataFrame, outcomes: pd.DataFrame, window_days: float) -> pd.DataFrame:
    """One row per listed customer (first listing): ``score``, ``treated`` (contacted), ``prevented_y``
    (1 when no complaint was filed in ``[at, at + window)``)."""
    if log.empty:
        return pd.DataFrame({"score": [], "treated": [], "prevented_y": []})
    first = log.sort_values("at", kind="stable").drop_duplicates("customer").reset_index(drop=True)
    filed = outcomes[outcomes["complaint"].astype(bool) & outcomes["started"].notna()]
    m = (
        first[["customer", "at"]]
        .reset_index(names="unit")
        .merge(filed[["customer", "filed_at"]], on="customer", how="inner")
    )
    hit = (m["filed_at"] >= m["at"]) & (m["filed_at"] < m["at"] + window_days * MINUTES_PER_DAY)
    k = np.bincount(m.loc[hit, "unit"].to_numpy(dtype=int), minlength=len(first))
    return pd.DataFrame(
        {
            "score": first["score"].to_numpy(dtype=float),
            "treated": (~first["holdout"].astype(bool)).to_numpy().astype(int),
            "prevented_y": (k == 0).astype(int),
        }
    )


def uplift_figures(units: pd.DataFrame, top: float = 0.3) -> dict[str, float]:
    """``uplift_at_capacity``, ``uplift_at_30`` (top share ``top``) and ``qini_auc``; NaN when an arm is
    empty (and the last two when every unit has the same outcome)."""
    nan = {"uplift_at_capacity": np.nan, "uplift_at_30": np.nan, "qini_auc": np.nan}
    t = units["treated"].to_numpy(dtype=int)
    if len(units) < 4 or t.min() == t.max():
        return nan
    from sklift.metrics import qini_auc_score, uplift_at_k

    y, s = units["prevented_y"].to_numpy(dtype=int), units["score"].to_numpy(dtype=float)
    at_capacity = float(y[t == 1].mean() - y[t == 0].mean())  # the whole walked list
    if y.min() == y.max():  # every unit alike: no ranking to judge (sklift refuses a constant label)
        return nan | {"uplift_at_capacity": at_capacity}
    with warnings.catch_warnings():  # sklift 0.5.1 calls sklearn's deprecated stable_cumsum
        warnings.simplefilter("ignore", FutureWarning)
        return {
            "uplift_at_capacity": at_capacity,
            "uplift_at_30": float(uplift_at_k(y, s, t, strategy="overall", k=top)),
            "qini_auc": float(qini_auc_score(y, s, t)),
        }


def qini_points(units: pd.DataFrame, points: int = 11) -> list[dict[str, Any]]:
    """The Qini curve at ``points`` evenly spaced shares of the ranked list: share, incremental
    prevented (treated-scaled), random line."""
    t, y = units["treated"].to_numpy(dtype=int), units["prevented_y"].to_numpy(dtype=int)
    if len(units) < 4 or t.min() == t.max() or y.min() == y.max():
        return []
    from sklift.metrics import qini_curve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        x, q = qini_curve(y, units["score"].to_numpy(dtype=float), t)
    x, q = np.asarray(x, dtype=float), np.asarray(q, dtype=float)
    at = np.linspace(0, x[-1], points)
    curve = np.interp(at, x, q)
    return [
        {"share": float(a / x[-1]), "qini": float(c), "random": float(q[-1] * a / x[-1])}
        for a, c in zip(at, curve, strict=True)
    ]
