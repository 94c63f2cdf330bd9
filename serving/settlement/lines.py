"""Statement lines, province summaries and the who-worked-for-whom matrix (pure; money in whole cents).

- **Who is credited.** The province of the worker whose work was accepted: the worker of the last passing
  QA check that follows a failed one (the rework), else the worker who completed the task. A task is
  credited once, whatever the number of checks. The **owner** (the task's province) is debited.
- **Which tasks make lines.** Only work credited to another province than the owner's: a province's own
  work moves no money (it is counted as ``own_tasks``, nets to zero and makes no line).
- **Price.** standard minutes x the credited province's cost per productive minute x factor, in whole
  cents (half to even); factor = ``late_factor`` when completed past the SLA, x ``failed_qa_factor``
  while the last QA check is a failure. One amount is both the credit and the debit of its line, so
  national credits equal national debits exactly.
- **Adjustments.** A task of a closed month whose lines changed after the close (a late QA result or
  completion) gets, in the next open month, the difference between its lines now and the lines already
  settled for it: per (credited province, owner, worker) the cents and minutes that move.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from serving.settlement.rates import Pricing, yuan
from serving.settlement.standards import Standard

FACTOR_STEP = Decimal("0.01")
LINE_FIELDS = (
    "kind",
    "task_id",
    "ref_month",
    "credit_province",
    "debit_province",
    "worker_id",
    "completed_at",
    "task_type",
    "complexity",
    "qa",
    "late",
    "standard_minutes",
    "rate",
    "factor",
    "amount_cents",
)


def credited(facts: pd.DataFrame, qa: pd.DataFrame) -> pd.DataFrame:
    """``facts`` with ``credit_worker``, ``credit_province`` and ``qa`` (unchecked, passed, reworked,
    failed) from the QA checks (qa_id, task_id, worker_id, worker_province, checked_at, passed)."""
    out = facts.copy()
    out["credit_worker"] = out["worker_id"]
    out["credit_province"] = out["worker_province"]
    out["qa"] = "unchecked"
    if not len(qa) or not len(out):
        return out
    checks = qa.sort_values(["task_id", "checked_at", "qa_id"])
    last = checks.groupby("task_id").tail(1).set_index("task_id")
    any_failed = (~checks["passed"].astype(bool)).groupby(checks["task_id"]).any()
    tid = out["task_id"]
    has = tid.isin(last.index)
    last_passed = tid.map(last["passed"].astype(bool)).eq(True) & has
    ever_failed = tid.map(any_failed).eq(True) & has
    rework = last_passed & ever_failed
    out.loc[has & last_passed & ~ever_failed, "qa"] = "passed"
    out.loc[has & ~last_passed, "qa"] = "failed"
    out.loc[rework, "qa"] = "reworked"
    out.loc[rework, "credit_worker"] = tid[rework].map(last["worker_id"])
    out.loc[rework, "credit_province"] = tid[rework].map(last["worker_province"])
    return out


def _iso(us: pd.Series) -> np.ndarray:
    stamps = us.to_numpy(dtype="int64").astype("datetime64[us]")
    return np.char.add(np.datetime_as_string(stamps, unit="us"), "Z")


def _minutes(tenths: int) -> str:
    return str((Decimal(tenths) / 10).quantize(Decimal("0.1")))


def _tenths(text: pd.Series) -> pd.Series:
    """'18.7' -> 187 (standard minutes always carry one decimal)."""
    return text.astype(str).str.replace(".", "", regex=False).astype("int64")


def price(
    tasks: pd.DataFrame,
    standards: dict[tuple[str, int], Standard],
    rates: dict[str, Decimal],
    pricing: Pricing,
) -> tuple[pd.DataFrame, Counter[str]]:
    """Work lines (a frame of ``LINE_FIELDS``) of the cross-province tasks of ``credited(...)``, in
    completion order, and the own tasks per province. Exact integer arithmetic: tenths of a minute x
    1/10,000 yuan a minute x hundredths of factor, rounded half to even to whole cents."""
    cross = tasks[tasks["credit_province"] != tasks["owner"]]
    own = Counter(tasks.loc[tasks["credit_province"] == tasks["owner"], "owner"].astype(str))
    if not len(cross):
        return pd.DataFrame({f: pd.Series(dtype="object") for f in LINE_FIELDS}), own
    cross = cross.sort_values(["completed_at", "task_id"])
    late = cross["completed_at"].to_numpy(dtype="int64") > cross["sla_due_at"].to_numpy(dtype="int64")
    failed = (cross["qa"] == "failed").to_numpy()
    keys = list(zip(cross["task_type"], cross["complexity"].astype(int), strict=True))
    std = np.array([int(standards[k].minutes * 10) for k in keys], dtype="int64")
    rate_units = {p: int(r * 10_000) for p, r in rates.items()}
    rate = cross["credit_province"].map(rate_units).to_numpy(dtype="int64")
    late_f = int(pricing.late_factor.quantize(FACTOR_STEP) * 100)
    qa_f = int(pricing.failed_qa_factor.quantize(FACTOR_STEP) * 100)
    factor = np.where(late, late_f, 100) * np.where(failed, qa_f, 100) // 100  # hundredths
    numerator = std * rate * factor  # cents x 100,000
    q, r = np.divmod(numerator, 100_000)
    amount = q + ((r > 50_000) | ((r == 50_000) & (q % 2 == 1)))
    lines = pd.DataFrame(
        {
            "kind": "work",
            "task_id": cross["task_id"].to_numpy(),
            "ref_month": None,
            "credit_province": cross["credit_province"].to_numpy(),
            "debit_province": cross["owner"].to_numpy(),
            "worker_id": cross["credit_worker"].to_numpy(),
            "completed_at": _iso(cross["completed_at"]),
            "task_type": cross["task_type"].to_numpy(),
            "complexity": cross["complexity"].to_numpy(dtype="int64"),
            "qa": cross["qa"].to_numpy(),
            "late": late,
            "standard_minutes": [f"{m // 10}.{m % 10}" for m in std.tolist()],
            "rate": cross["credit_province"].map({p: str(v) for p, v in rates.items()}).to_numpy(),
            "factor": [f"{f // 100}.{f % 100:02d}" for f in factor.tolist()],
            "amount_cents": amount.astype("int64"),
        }
    )
    return lines, own


def records(lines: pd.DataFrame) -> list[dict[str, Any]]:
    """Lines as plain dicts (JSON-ready: Python ints and bools, None for no ref_month)."""
    out = lines.astype(object).where(lines.notna(), None).to_dict("records")
    for x in out:
        x["complexity"], x["amount_cents"], x["late"] = (
            int(x["complexity"]),
            int(x["amount_cents"]),
            bool(x["late"]),
        )
    return out


def adjustments(current: list[dict[str, Any]], settled: list[dict[str, Any]], ref_month: str) -> list[dict]:
    """Adjustment lines moving ``settled`` (lines already in closed statements for some tasks) to
    ``current`` (their lines now), per (task, credited province, owner, worker)."""
    totals: dict[tuple[str, str, str, str], list[Any]] = defaultdict(lambda: [0, Decimal(0), None])
    for sign, lines in ((1, current), (-1, settled)):
        for line in lines:
            key = (line["task_id"], line["credit_province"], line["debit_province"], line["worker_id"])
            acc = totals[key]
            acc[0] += sign * int(line["amount_cents"])
            acc[1] += sign * Decimal(line["standard_minutes"])
            if acc[2] is None or sign == 1:
                acc[2] = line
    out = []
    for key in sorted(totals):
        amount, minutes, like = totals[key]
        if amount == 0 and minutes == 0:
            continue
        out.append({**like, "kind": "adjustment", "ref_month": ref_month, "amount_cents": amount,
                    "standard_minutes": str(minutes)})  # fmt: skip
    return out


def summaries(lines: pd.DataFrame, provinces: list[str], own: Counter[str]) -> list[dict]:
    """Per province: credit, debit, net, tasks and standard minutes for and by others, own tasks."""
    work = (lines["kind"] == "work").astype("int64")
    frame = pd.DataFrame({"cents": lines["amount_cents"].astype("int64"), "work": work, "adj": 1 - work,
                          "tenths": _tenths(lines["standard_minutes"]) if len(lines) else work})  # fmt: skip
    credit = frame.groupby(lines["credit_province"]).sum()
    debit = frame.groupby(lines["debit_province"]).sum()
    zero = pd.Series({"cents": 0, "work": 0, "adj": 0, "tenths": 0})
    out = []
    for p in provinces:
        c = credit.loc[p] if p in credit.index else zero
        d = debit.loc[p] if p in debit.index else zero
        cc, dc = int(c["cents"]), int(d["cents"])
        out.append(
            {
                "province_id": p,
                "credit": yuan(cc),
                "debit": yuan(dc),
                "net": yuan(cc - dc),
                "credit_cents": cc,
                "debit_cents": dc,
                "net_cents": cc - dc,
                "tasks_for_others": int(c["work"]),
                "tasks_by_others": int(d["work"]),
                "minutes_for_others": _minutes(int(c["tenths"])),
                "minutes_by_others": _minutes(int(d["tenths"])),
                "own_tasks": int(own.get(p, 0)),
                "adjustment_lines": int(c["adj"]) + int(d["adj"]),
            }
        )
    return out


def flows(lines: pd.DataFrame) -> list[dict[str, Any]]:
    """The matrix of who worked for whom: per (worker's province, owner) the tasks and the amount."""
    if not len(lines):
        return []
    frame = pd.DataFrame({"tasks": (lines["kind"] == "work").astype("int64"),
                          "cents": lines["amount_cents"].astype("int64")})  # fmt: skip
    cells = frame.groupby([lines["credit_province"], lines["debit_province"]]).sum()
    return [
        {
            "worker_province": c,
            "owner_province": d,
            "tasks": int(n),
            "amount": yuan(int(a)),
            "amount_cents": int(a),
        }
        for (c, d), n, a in zip(cells.index, cells["tasks"], cells["cents"], strict=True)
    ]


def national(rows: list[dict[str, Any]], lines: pd.DataFrame) -> dict[str, Any]:
    """National totals from the province summaries ``rows`` (credits equal debits: the tests check it)."""
    credit = sum(int(r["credit_cents"]) for r in rows)
    debit = sum(int(r["debit_cents"]) for r in rows)
    work = int((lines["kind"] == "work").sum())
    return {
        "credit": yuan(credit),
        "debit": yuan(debit),
        "credit_cents": credit,
        "debit_cents": debit,
        "tasks": work,
        "adjustment_lines": len(lines) - work,
    }
