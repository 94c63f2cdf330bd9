"""The risk team's daily watchlist: pure sizing, ranking and holdout (``serving/risk/desk.py`` does I/O).

Customers are ranked by the complaints a contact is expected to prevent today: the contact effect x the
sum of P(complaint) over their open tasks (one row per customer, its top task the riskiest one). The team
walks the ranking; a customer held out for field measurement (a fixed share, by a hash of customer and
date, so the same customer is held out all day whoever asks and a fresh draw every day) is listed,
marked ``held_out`` and not counted against the team's capacity; the list ends when the capacity's
contacts are listed. Capacity: the province's own team when it has one, else the national team
(``calls_per_day``, or ``capacity_share`` x the expected daily arrivals) pro rata to the province's share
of the arrivals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from serving.config import RiskTeam


def holdout_draw(customer_id: str, day: date) -> float:
    """A uniform number in [0, 1) fixed by customer and date (SHA-256: the same in every process)."""
    digest = hashlib.sha256(f"watchlist-holdout|{customer_id}|{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_out(customer_ids: list[str], day: date, share: float) -> np.ndarray:
    """Whether each customer is in the day's random holdout."""
    return np.array([holdout_draw(c, day) < share for c in customer_ids], dtype=bool)


def daily_capacity(
    team: RiskTeam, province_id: str | None, national_arrivals: float, province_arrivals: float
) -> int:
    """Contacts the team makes today for the country (``province_id`` None) or one province."""
    if province_id is not None and province_id in team.province_calls_per_day:
        return int(team.province_calls_per_day[province_id])
    national = (
        float(team.calls_per_day)
        if team.calls_per_day is not None
        else team.capacity_share * max(national_arrivals, 0.0)
    )
    if province_id is None:
        return int(round(national))
    share = province_arrivals / national_arrivals if national_arrivals > 0 else 0.0
    return int(round(national * share))


def rank_customers(scored: pd.DataFrame, effect: float) -> pd.DataFrame:
    """One row per customer from open tasks with ``customer_id``, ``task_id``, ``p_complaint``: expected
    complaints (sum of P), P(at least one), complaints a contact prevents (effect x expected), the
    riskiest task and how many open tasks; best first (ties by customer id, so the order is stable).
    Numpy over customer codes: the national list ranks thousands of open tasks per request."""
    cols = ["customer_id", "task_id", "p_complaint", "expected", "p_any", "prevented", "n_tasks"]
    if scored.empty:
        return pd.DataFrame(columns=cols)
    codes, customers = pd.factorize(scored["customer_id"].astype(str), sort=True)
    tasks = scored["task_id"].astype(str).to_numpy()
    p = scored["p_complaint"].to_numpy(dtype=float)
    k = len(customers)
    expected = np.bincount(codes, weights=p, minlength=k)
    log_none = np.bincount(codes, weights=np.log1p(-np.clip(p, 0.0, 1.0 - 1e-12)), minlength=k)
    order = np.lexsort((tasks, -p))  # riskiest first, ties by task id
    _, first = np.unique(codes[order], return_index=True)  # each customer's first row in that order
    top = order[first]
    prevented = effect * expected
    rank = np.lexsort((np.asarray(customers, dtype=str), -prevented))
    out = pd.DataFrame(
        {
            "customer_id": np.asarray(customers, dtype=object)[rank],
            "task_id": tasks[top][rank],
            "p_complaint": p[top][rank],
            "expected": expected[rank],
            "p_any": 1.0 - np.exp(log_none[rank]),
            "prevented": prevented[rank],
            "n_tasks": np.bincount(codes, minlength=k)[rank],
        }
    )
    return out[cols]


def walk(ranked: pd.DataFrame, capacity: int, holdout: np.ndarray) -> pd.DataFrame:
    """The ranked rows down to the ``capacity``-th contact, each marked ``held_out`` (held-out rows are
    listed but not counted); ``rank`` numbers the listed rows from 1."""
    holdout = np.asarray(holdout, dtype=bool)
    contacts = np.cumsum(~holdout)
    # Rows before the (capacity + 1)-th contact; with capacity 0 the list is empty.
    keep = (contacts <= capacity) & (capacity > 0)
    if capacity > 0 and len(ranked):
        last = np.flatnonzero(contacts == capacity)
        keep &= np.arange(len(ranked)) <= (last[0] if len(last) else len(ranked) - 1)
    out = ranked.loc[keep].copy()
    out["held_out"] = holdout[keep]
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def walk_drawn(ranked: pd.DataFrame, capacity: int, draw: Callable[[list[str]], np.ndarray]) -> pd.DataFrame:
    """``walk`` with the holdout drawn (``draw(customer_ids)``) only for the ranked rows the list can
    reach: the first rows, doubled until they hold ``capacity`` contacts (the same list as drawing all)."""
    n, k = len(ranked), min(len(ranked), max(2 * capacity, 16))
    ids = ranked["customer_id"].astype(str).tolist() if n else []
    while True:
        hold = np.asarray(draw(ids[:k]), dtype=bool)
        if k >= n or int((~hold).sum()) >= capacity:
            break
        k = min(n, 2 * k)
    return walk(ranked, capacity, np.concatenate([hold, np.zeros(n - k, dtype=bool)]))
