"""Field measurement of the risk team's contact effect: contacted vs held-out watchlist customers.

The watchlist holds out a random share of the eligible customers and marks them; the team walks the
list and passes over them. So the contacted customers and the held-out ones are random samples of the
same listed population, and the contact's effect on the complaint hazard is

    effect = 1 - E[complaints filed in [t, t + window) | contacted at t]
               / E[complaints filed in [t, t + window) | held out at t]

with ``t`` the contact time (``interventions.at``) or the time the held-out customer was passed over.
Units whose window is not over by ``as_of`` are left out (censored), and each customer counts once, at
its first listing: later listings are not exchangeable between the arms (a contact that prevented a
complaint leaves the customer's task on the list, a filed complaint takes it off). The interval is the
exact conditional one for a ratio of Poisson rates: given the K complaints of both arms, the contacted
arm's share is binomial with p = n_c r / (n_c r + n_h) (n: units, r: the rate ratio), and the
Clopper-Pearson interval of that share maps to one for r (conservative for sums of rare Bernoulli
draws; small counts are the rule here). Only ``proactive`` interventions count by default: a callback
answers a complaint already filed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from opsmatch.events import read_table

HOLDOUT_FILE = "watchlist_holdout.parquet"


@dataclass(frozen=True)
class ContactEffect:
    """Estimated hazard cut of a contact with its interval, and the units behind it."""

    effect: float
    low: float
    high: float
    contacted: int
    held_out: int
    complaints_contacted: int
    complaints_held_out: int
    window_days: float
    level: float = 0.95

    def contains(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)

    def to_text(self) -> str:
        return (
            f"contact effect on the complaint hazard ({self.window_days:g} days after the contact): "
            f"{self.effect:+.3f} [{self.low:+.3f}, {self.high:+.3f}] ({self.level:.0%} CI); "
            f"{self.contacted} contacted ({self.complaints_contacted} complaints), "
            f"{self.held_out} held out ({self.complaints_held_out} complaints)"
        )


def _counts(units: pd.DataFrame, complaints: pd.DataFrame, window: pd.Timedelta) -> np.ndarray:
    """Complaints each unit's customer filed in [at, at + window)."""
    if units.empty:
        return np.zeros(0)
    c = complaints[["customer_id", "filed_at"]].copy()
    u = units[["customer_id", "at"]].reset_index(drop=True).reset_index(names="unit")
    m = u.merge(c, on="customer_id", how="inner")
    hit = (m["filed_at"] >= m["at"]) & (m["filed_at"] < m["at"] + window)
    return np.bincount(m.loc[hit, "unit"].to_numpy(dtype=int), minlength=len(u)).astype(float)


def _first(units: pd.DataFrame) -> pd.DataFrame:
    """Each customer's first unit."""
    return units.sort_values("at", kind="stable").drop_duplicates("customer_id")


def rate_ratio_interval(kt: int, nt: int, kc: int, nc: int, level: float = 0.95) -> tuple[float, float]:
    """Exact conditional interval of (kt / nt) / (kc / nc) for Poisson counts (Clopper-Pearson)."""
    k, a = kt + kc, 1 - level
    lo = stats.beta.ppf(a / 2, kt, kc + 1) if kt > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, kt + 1, kc) if kc > 0 else 1.0
    if k == 0:
        return 0.0, float("inf")

    def to_ratio(p: float) -> float:
        return float("inf") if p >= 1 else float(p / (1 - p) * nc / nt)

    return to_ratio(float(lo)), to_ratio(float(hi))


def estimate_contact_effect(
    interventions: pd.DataFrame,
    holdouts: pd.DataFrame,
    complaints: pd.DataFrame,
    *,
    window_days: float = 7.0,
    as_of: pd.Timestamp | None = None,
    kinds: tuple[str, ...] = ("proactive",),
    level: float = 0.95,
) -> ContactEffect:
    """The contact effect with its interval (see the module docstring). ``interventions``: contract rows
    (customer_id, at, kind); ``holdouts``: customer_id, at; ``complaints``: customer_id, filed_at;
    ``as_of`` defaults to the last complaint filed."""
    for name, frame, cols in (
        ("interventions", interventions, ("customer_id", "at", "kind")),
        ("holdouts", holdouts, ("customer_id", "at")),
        ("complaints", complaints, ("customer_id", "filed_at")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name}: missing column(s) {missing}")
    window = pd.Timedelta(days=window_days)
    comp = complaints.assign(filed_at=pd.to_datetime(complaints["filed_at"], utc=True))
    end = pd.Timestamp(as_of) if as_of is not None else comp["filed_at"].max()
    treated = interventions[interventions["kind"].isin(kinds)].assign(
        at=lambda d: pd.to_datetime(d["at"], utc=True)
    )
    control = holdouts.assign(at=pd.to_datetime(holdouts["at"], utc=True))
    treated = _first(treated[treated["at"] + window <= end])
    control = _first(control[control["at"] + window <= end])
    if treated.empty or control.empty:
        raise ValueError(
            f"need contacted and held-out customers whose {window_days:g}-day window is over "
            f"(got {len(treated)} contacted, {len(control)} held out)"
        )
    yt, yc = _counts(treated, comp, window), _counts(control, comp, window)
    kt, kc, nt, nc = int(yt.sum()), int(yc.sum()), len(yt), len(yc)
    ratio = (kt / nt) / (kc / nc) if kc > 0 else float("nan")
    r_lo, r_hi = rate_ratio_interval(kt, nt, kc, nc, level)
    return ContactEffect(1 - ratio, 1 - r_hi, 1 - r_lo, nt, nc, kt, kc, window_days, level)


def holdouts_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Held-out rows (customer_id, at) from the service's ``watchlist_holdout`` audit records (detail
    ``{"at": ..., "customers": [...]}``, one record per served list)."""
    rows = [(c, r["detail"]["at"]) for r in records for c in r["detail"].get("customers", [])]
    out = pd.DataFrame(rows, columns=["customer_id", "at"])
    return out.assign(at=pd.to_datetime(out["at"], utc=True, format="ISO8601"))


def estimate_from_events(
    events_dir: Path | str, *, window_days: float = 7.0, holdouts: pd.DataFrame | None = None
) -> ContactEffect:
    """``estimate_contact_effect`` over an event store: ``interventions`` and ``complaints`` tables and
    the watchlist's held-out rows (``holdouts``, e.g. the service's records, else the twin's
    ``watchlist_holdout.parquet``: customer_id, at)."""
    events_dir = Path(events_dir)
    if holdouts is None:
        path = events_dir / HOLDOUT_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path}: no held-out watchlist rows (customer_id, at) to compare with")
        holdouts = pd.read_parquet(path)
    return estimate_contact_effect(
        read_table(events_dir, "interventions"),
        holdouts,
        read_table(events_dir, "complaints"),
        window_days=window_days,
    )
