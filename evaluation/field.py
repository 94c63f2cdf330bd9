"""Uplift in the field: a real event log where dispatch alternated between two policies by time slice.

Slices are ``slice_minutes`` windows on a grid aligned to the epoch (UTC). A slice's policy is the one
that decided its assignments (``assignments.policy`` of the assignments made in it, by majority; slices
without assignments are dropped). Each task belongs to the slice of its creation (``attribution=
"created"``) or of its first assignment (``"assigned"``: the decision the policy made); tasks whose time
falls within ``settle_minutes`` after a switch are left out (the previous policy's state still weighs).

Per task: turnaround (hours, completed tasks), SLA met (completed by the due time; not completed and
overdue at the log's end counts as missed), QA pass (first QA result), complaint (filed within
``complaint_days`` of completion; only tasks whose window lies inside the log), handling minutes of the
completion. Lift = on minus off. Default KPIs: the first four (``KPIS`` adds handling minutes).

Interference: both policies share one backlog. When tasks wait longer than a slice (hours here, against
seconds in a call centre), queue KPIs (turnaround, SLA) of a slice depend on the other policy's slices
too and the switchback estimate is biased toward zero; decision KPIs (handling minutes, QA, complaint of
the tasks a policy assigned: ``attribution="assigned"``) are not. See ``validate.py``.
Default interval (``method="day"``): task-weighted means per (day, policy), the difference per day where
both policies ran, a Student t interval over those days (pairing by day removes day-to-day load
swings); ``"welch"``: Welch t over slice means; ``"bootstrap"``: slices resampled within each policy.
``"auto"`` takes ``day`` with at least 3 paired days, else ``welch``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.stats import Interval, bootstrap_interval, t_interval, welch_difference

KPIS: tuple[str, ...] = ("turnaround_h", "sla_met", "qa_pass", "complaint", "handling_min")
TABLES: tuple[str, ...] = ("tasks", "assignments", "completions", "qa_results", "complaints")
METHODS = ("auto", "day", "welch", "bootstrap")


@dataclass(frozen=True)
class KPILift:
    """One KPI: means under each policy, the lift (on - off) with its interval, relative lift."""

    kpi: str
    on: float
    off: float
    lift: Interval
    relative: float
    tasks_on: int
    tasks_off: int


@dataclass
class UpliftReport:
    """Per-KPI lifts, the slice table and what was left out."""

    policy_on: str
    policy_off: str
    slice_minutes: float
    settle_minutes: float
    method: str
    lifts: dict[str, KPILift]
    slices: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The lifts as a Markdown table with the design in one line."""
        head = (
            f"Uplift of `{self.policy_on}` over `{self.policy_off}`: {self.slice_minutes:g}-minute "
            f"slices, {self.settle_minutes:g}-minute settling window, intervals: {self.method}; "
            "left out: " + ", ".join(f"{k} {v}" for k, v in self.excluded.items())
        )
        rows = [
            "| KPI | on | off | lift (on - off) | 95 % CI | relative | tasks on / off |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        rows += [
            f"| {k.kpi} | {k.on:.4g} | {k.off:.4g} | {k.lift.estimate:+.4g} | [{k.lift.low:+.4g}, "
            f"{k.lift.high:+.4g}] | {k.relative:+.1%} | {k.tasks_on} / {k.tasks_off} |"
            for k in self.lifts.values()
        ]
        return head + "\n\n" + "\n".join(rows) + "\n"

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "kpi": k.kpi,
                    "on": k.on,
                    "off": k.off,
                    "lift": k.lift.estimate,
                    "low": k.lift.low,
                    "high": k.lift.high,
                    "relative": k.relative,
                    "method": k.lift.method,
                    "n": k.lift.n,
                    "tasks_on": k.tasks_on,
                    "tasks_off": k.tasks_off,
                }
                for k in self.lifts.values()
            ]
        )


def load_log(source: Path | str | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The five tables the estimator needs, from an events dir (contract Parquet) or a mapping."""
    if isinstance(source, Mapping):
        missing = [t for t in TABLES if t not in source]
        if missing:
            raise KeyError(f"event log lacks tables: {', '.join(missing)}")
        return {t: source[t] for t in TABLES}
    from opsmatch.events import read_table

    return {t: read_table(Path(source), t) for t in TABLES}


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True)


def task_table(log: Mapping[str, pd.DataFrame], complaint_days: float = 30.0) -> pd.DataFrame:
    """One row per task: times, first assignment (time, policy) and the four per-task KPIs."""
    tk = log["tasks"][["task_id", "created_at", "sla_due_at"]].copy()
    tk["task_id"] = tk["task_id"].astype(str)
    tk["created_at"], tk["sla_due_at"] = _utc(tk["created_at"]), _utc(tk["sla_due_at"])
    a = log["assignments"].assign(
        task_id=lambda d: d["task_id"].astype(str), at=lambda d: _utc(d["assigned_at"])
    )
    first = a.sort_values("at", kind="stable").drop_duplicates("task_id")[["task_id", "at", "policy"]]
    c = log["completions"].assign(task_id=lambda d: d["task_id"].astype(str))
    c = c.assign(completed_at=_utc(c["completed_at"])).drop_duplicates("task_id", keep="last")
    q = log["qa_results"].assign(
        task_id=lambda d: d["task_id"].astype(str), checked_at=lambda d: _utc(d["checked_at"])
    )
    q = q.sort_values("checked_at", kind="stable").drop_duplicates("task_id")
    k = log["complaints"].assign(
        task_id=lambda d: d["task_id"].astype(str), filed_at=lambda d: _utc(d["filed_at"])
    )
    k = k.groupby("task_id")["filed_at"].min()
    ends = [tk["created_at"].max(), a["at"].max(), c["completed_at"].max(), q["checked_at"].max(), k.max()]
    end = max(t for t in ends if pd.notna(t))
    out = tk.merge(first.rename(columns={"at": "assigned_at"}), on="task_id", how="left")
    out = out.merge(c[["task_id", "completed_at", "handling_minutes"]], on="task_id", how="left")
    out["handling_min"] = out.pop("handling_minutes").astype(float)
    out["turnaround_h"] = (out["completed_at"] - out["created_at"]).dt.total_seconds() / 3600
    done = out["completed_at"].notna()
    overdue = out["sla_due_at"] < end
    out["sla_met"] = np.where(
        done, (out["completed_at"] <= out["sla_due_at"]).astype(float), np.where(overdue, 0.0, np.nan)
    )
    out["qa_pass"] = out["task_id"].map(q.set_index("task_id")["passed"].astype(float))
    window = pd.Timedelta(days=complaint_days)
    filed = out["task_id"].map(k)
    observed = done & (out["completed_at"] + window <= end)
    hit = filed.notna() & (filed <= out["completed_at"] + window)
    out["complaint"] = np.where(hit & done, 1.0, np.where(observed, 0.0, np.nan))
    return out


def slice_policies(assignments: pd.DataFrame, slice_minutes: float) -> pd.DataFrame:
    """Per slice start: the deciding policy (majority of its assignments) and that majority's share."""
    freq = pd.Timedelta(minutes=slice_minutes)
    at = _utc(assignments["assigned_at"])
    start = at.dt.floor(freq)
    counts = pd.crosstab(start, assignments["policy"].astype(str))
    out = pd.DataFrame(
        {
            "policy": counts.idxmax(axis=1),
            "share": counts.max(axis=1) / counts.sum(axis=1),
            "assignments": counts.sum(axis=1),
        }
    )
    out.index.name = "slice_start"
    return out.sort_index()


def _switch_times(slices: pd.DataFrame, slice_minutes: float) -> pd.DatetimeIndex:
    """Slice starts where the policy differs from the previous slice (or follows a gap)."""
    prev = slices["policy"].shift()
    gap = slices.index.to_series().diff() != pd.Timedelta(minutes=slice_minutes)
    return slices.index[(slices["policy"] != prev) | gap.to_numpy()]


def _lift(
    tasks: pd.DataFrame, slices: pd.DataFrame, kpi: str, on: str, off: str, method: str, level: float
) -> KPILift:
    t = tasks[tasks[kpi].notna()]
    m_on, m_off = t.loc[t["policy_slice"] == on, kpi], t.loc[t["policy_slice"] == off, kpi]
    on_mean, off_mean = float(m_on.mean()), float(m_off.mean())
    by_day = t.groupby(["day", "policy_slice"])[kpi].mean().unstack()
    paired = by_day.dropna(subset=[c for c in (on, off) if c in by_day]) if {on, off} <= set(by_day) else None
    n_days = 0 if paired is None else len(paired)
    chosen = method if method != "auto" else ("day" if n_days >= 3 else "welch")
    if chosen == "day":
        if paired is None or n_days < 2:
            raise ValueError(f"method 'day' needs days with both policies; found {n_days}")
        lift = t_interval((paired[on] - paired[off]).to_numpy(), level)
        lift = Interval(lift.estimate, lift.low, lift.high, lift.n, level, "day")
    else:
        per_slice = t.groupby(["slice", "policy_slice"])[kpi].mean().reset_index()
        a = per_slice.loc[per_slice["policy_slice"] == on, kpi].to_numpy()
        b = per_slice.loc[per_slice["policy_slice"] == off, kpi].to_numpy()
        if chosen == "welch":
            lift = welch_difference(a, b, level)
        else:
            ia, ib = bootstrap_interval(a, level=level, seed=1), bootstrap_interval(b, level=level, seed=2)
            half = np.sqrt(((ia.high - ia.low) / 2) ** 2 + ((ib.high - ib.low) / 2) ** 2)
            est = float(a.mean() - b.mean())
            lift = Interval(est, est - half, est + half, len(a) + len(b), level, "bootstrap")
    rel = lift.estimate / off_mean if off_mean else float("nan")
    return KPILift(kpi, on_mean, off_mean, lift, rel, len(m_on), len(m_off))


def estimate_uplift(
    events_dir_or_frames: Path | str | Mapping[str, pd.DataFrame],
    *,
    policy_on: str,
    policy_off: str | None = None,
    slice_minutes: float = 60,
    settle_minutes: float = 15,
    kpis: Sequence[str] = KPIS[:4],
    attribution: str = "created",
    complaint_days: float = 30.0,
    method: str = "auto",
    level: float = 0.95,
) -> UpliftReport:
    """Lift of ``policy_on`` over ``policy_off`` (default: the other policy in the log); see the module
    docstring."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if attribution not in ("created", "assigned"):
        raise ValueError("attribution must be 'created' or 'assigned'")
    unknown = [k for k in kpis if k not in KPIS]
    if unknown:
        raise ValueError(f"unknown KPIs {unknown}; known: {KPIS}")
    log = load_log(events_dir_or_frames)
    slices = slice_policies(log["assignments"], slice_minutes)
    names = set(slices["policy"])
    if policy_on not in names:
        raise ValueError(f"policy {policy_on!r} decided no slice; policies in the log: {sorted(names)}")
    if policy_off is None:
        others = sorted(names - {policy_on})
        if len(others) != 1:
            raise ValueError(f"give policy_off: the log's other policies are {others}")
        policy_off = others[0]
    tasks = task_table(log, complaint_days)
    unit = tasks["created_at"] if attribution == "created" else tasks["assigned_at"]
    freq = pd.Timedelta(minutes=slice_minutes)
    tasks["slice"] = unit.dt.floor(freq)
    tasks["policy_slice"] = tasks["slice"].map(slices["policy"])
    origin = slices.index.min()
    tasks["day"] = ((tasks["slice"] - origin) // pd.Timedelta(days=1)).astype("Int64")
    switches = _switch_times(slices, slice_minutes)
    settling = pd.Series(False, index=tasks.index)
    known = unit.notna()
    pos = switches.searchsorted(unit[known], side="right") - 1
    since = unit[known] - pd.Series(switches[np.clip(pos, 0, None)], index=unit[known].index)
    settling[known] = (pos >= 0) & (since < pd.Timedelta(minutes=settle_minutes)).to_numpy()
    keep = tasks["policy_slice"].isin([policy_on, policy_off]) & ~settling & unit.notna()
    excluded = {
        "settling": int((settling & unit.notna()).sum()),
        "other_or_no_policy": int((~tasks["policy_slice"].isin([policy_on, policy_off])).sum()),
        "mixed_slices": int((slices["share"] < 0.9).sum()),
    }
    kept = tasks[keep]
    lifts = {k: _lift(kept, slices, k, policy_on, policy_off, method, level) for k in kpis}
    table = kept.groupby(["slice", "policy_slice"])[list(kpis)].agg(["mean", "count"])
    table.columns = [f"{a}_{b}" for a, b in table.columns]
    chosen = next(iter(lifts.values())).lift.method if lifts else method
    return UpliftReport(
        policy_on, policy_off, slice_minutes, settle_minutes, chosen, lifts, table.reset_index(), excluded
    )
