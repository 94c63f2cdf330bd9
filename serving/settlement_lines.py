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
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pandas as pd

from serving.settlement_rates import Pricing, cents, yuan
from serving.settlement_standards import Standard

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


def _iso(us: pd.Series) -> list[str]:
    stamps = pd.to_datetime(us.astype("int64"), unit="us", utc=True)
    return list(stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def price(
    tasks: pd.DataFrame,
    standards: dict[tuple[str, int], Standard],
    rates: dict[str, Decimal],
    pricing: Pricing,
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Work lines of the cross-province tasks of ``credited(...)`` and the own tasks per province."""
    cross = tasks[tasks["credit_province"] != tasks["owner"]]
    own = Counter(tasks.loc[tasks["credit_province"] == tasks["owner"], "owner"].astype(str))
    if not len(cross):
        return [], own
    cross = cross.sort_values(["completed_at", "task_id"])
    late = (cross["completed_at"].to_numpy() > cross["sla_due_at"].to_numpy()).tolist()
    lines = []
    for row, when, is_late in zip(
        cross.itertuples(index=False), _iso(cross["completed_at"]), late, strict=True
    ):
        std = standards[(row.task_type, int(row.complexity))].minutes
        rate = rates[row.credit_province]
        factor = (pricing.late_factor if is_late else Decimal(1)) * (
            pricing.failed_qa_factor if row.qa == "failed" else Decimal(1)
        )
        lines.append(
            {
                "kind": "work",
                "task_id": row.task_id,
                "ref_month": None,
                "credit_province": row.credit_province,
                "debit_province": row.owner,
                "worker_id": row.credit_worker,
                "completed_at": when,
                "task_type": row.task_type,
                "complexity": int(row.complexity),
                "qa": row.qa,
                "late": bool(is_late),
                "standard_minutes": str(std),
                "rate": str(rate),
                "factor": str(factor.quantize(FACTOR_STEP)),
                "amount_cents": cents(std * rate * factor),
            }
        )
    return lines, own


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


def summaries(lines: Iterable[dict[str, Any]], provinces: list[str], own: Counter[str]) -> list[dict]:
    """Per province: credit, debit, net, tasks and standard minutes for and by others, own tasks."""
    acc: dict[str, dict[str, Any]] = {
        p: {"credit": 0, "debit": 0, "for": 0, "by": 0, "mfor": Decimal(0), "mby": Decimal(0), "adj": 0}
        for p in provinces
    }
    for line in lines:
        c, d = acc.get(line["credit_province"]), acc.get(line["debit_province"])
        work = 1 if line["kind"] == "work" else 0
        minutes = Decimal(line["standard_minutes"])
        for side, key, count, mins in ((c, "credit", "for", "mfor"), (d, "debit", "by", "mby")):
            if side is not None:
                side[key] += int(line["amount_cents"])
                side[count] += work
                side[mins] += minutes
                side["adj"] += 1 - work
    return [
        {
            "province_id": p,
            "credit": yuan(a["credit"]),
            "debit": yuan(a["debit"]),
            "net": yuan(a["credit"] - a["debit"]),
            "credit_cents": a["credit"],
            "debit_cents": a["debit"],
            "net_cents": a["credit"] - a["debit"],
            "tasks_for_others": a["for"],
            "tasks_by_others": a["by"],
            "minutes_for_others": str(a["mfor"]),
            "minutes_by_others": str(a["mby"]),
            "own_tasks": int(own.get(p, 0)),
            "adjustment_lines": a["adj"],
        }
        for p, a in acc.items()
    ]


def flows(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The matrix of who worked for whom: per (worker's province, owner) the tasks and the amount."""
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        cell = acc[(line["credit_province"], line["debit_province"])]
        cell[0] += 1 if line["kind"] == "work" else 0
        cell[1] += int(line["amount_cents"])
    return [
        {"worker_province": c, "owner_province": d, "tasks": n, "amount": yuan(a), "amount_cents": a}
        for (c, d), (n, a) in sorted(acc.items())
    ]


def national(rows: list[dict[str, Any]], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """National totals from the province summaries ``rows`` (credits equal debits: the tests check it)."""
    credit = sum(int(r["credit_cents"]) for r in rows)
    debit = sum(int(r["debit_cents"]) for r in rows)
    work = sum(1 for x in lines if x["kind"] == "work")
    return {
        "credit": yuan(credit),
        "debit": yuan(debit),
        "credit_cents": credit,
        "debit_cents": debit,
        "tasks": work,
        "adjustment_lines": len(lines) - work,
    }
