"""Break points of online journeys and the proactive return visits they deserve (seed 002), pure.

A journey abandoned at a step is a *break point*. It becomes a candidate once ``grace_minutes`` passed
(the customer may come back alone) while the customer has not completed the same flow since, and for
``lookback_hours``. Its predicted benefit is

    P(still stuck | flow, step)  x  the customer's complaint risk

- P(still stuck | flow, step): of the journeys abandoned at that flow and step in the history window
  whose fate is known (``resume_days`` passed), the share the customer did not complete alone within
  ``resume_days``; shrunk toward the flow's share with ``PRIOR`` pseudo-journeys (a rare step is not 0 or 1);
- the customer's complaint risk (``customer_risk``): the highest served P(complaint) of their open
  scored tasks, else the policy's ``base_risk`` (what an abandonment adds weighs on complaints the
  customer would file anyway). Only what the service knows: the twin's measurement
  (``evaluation.journeys``) ranks with these same functions, never with the twin's hidden truth.

The day's candidates are walked by benefit (ties by journey id): a break point whose hashed journey id
falls in ``holdout_share`` is held out (recorded, left alone, no capacity used); the others become
``return_visit`` tasks until the day's capacity is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

PRIOR = 10.0  # pseudo-journeys of the flow's share behind each (flow, step) rate
RESUME_DAYS = 3.0  # a customer who completes the flow alone does so within this
HISTORY_DAYS = 28  # journeys the P(still stuck | flow, step) table is estimated on
TASK_PREFIX = "RV-"  # a break point's return visit is task RV-<journey_id>: never two for one journey

STEP_WORDS: dict[str, tuple[str, ...]] = {
    "renewal": ("选择保单", "确认缴费信息", "银行卡验证", "签署确认", "支付"),
    "surrender": ("选择保单", "人脸识别", "退保金额确认", "提交申请"),
    "policy_change": ("选择变更项目", "填写新信息", "上传证明材料", "提交申请"),
    "claim": ("选择出险保单", "填写出险信息", "上传单据", "填写收款账户", "确认申请", "提交"),
    "beneficiary_change": ("选择保单", "上传关系证明", "提交申请"),
    "address_change": ("填写新地址", "短信验证", "提交"),
}
GUIDANCE: dict[str, str] = {
    "银行卡验证": "核对银行卡是否为投保人本人名下、预留手机号是否一致，可改用其他银行卡或协助电话缴费",
    "支付": "确认单笔限额与余额，建议改用绑定的其他卡或在限额内分次支付",
    "人脸识别": "提示光线充足、摘下眼镜，三次失败可预约柜面或视频核身",
    "上传单据": "说明所需单据清单与清晰度要求（PDF或照片），可协助通过短信链接补传",
    "上传证明材料": "说明证明材料的种类与格式，可协助通过短信链接补传",
    "上传关系证明": "说明可用的关系证明（户口簿、出生证明），可协助通过短信链接补传",
    "短信验证": "确认预留手机号是否有效，号码已更换的需先办理联系方式变更",
}


def step_name(flow: str, step: int) -> str:
    words = STEP_WORDS.get(flow, ())
    return words[step - 1] if 1 <= step <= len(words) else f"第{step}步"


def guidance(flow: str, step: int, steps: int) -> str:
    """What the handler tells the customer at this break point (a note for the return visit)."""
    name = step_name(flow, step)
    how = GUIDANCE.get(name, "了解客户在此步遇到的问题，指导其在线完成或协助转人工办理")
    return f"return visit: {flow} abandoned at step {step} of {steps} ({name}); guidance: {how}"


def held_out(journey_id: str, share: float) -> bool:
    """The journey falls in the random holdout (a hash of its id: the same answer in every worker)."""
    h = int.from_bytes(hashlib.sha256(f"proactive:{journey_id}".encode()).digest()[:8], "big")
    return h / 2**64 < share


def resolved(journeys: pd.DataFrame, now: datetime) -> np.ndarray:
    """Per row: an abandoned journey whose customer completed the same flow after it, by ``now``."""
    ab = journeys[journeys["abandoned_at"].notna()]
    out = np.zeros(len(journeys), dtype=bool)
    done = journeys[journeys["completed_at"].notna() & (journeys["completed_at"] <= pd.Timestamp(now))]
    if not len(ab) or not len(done):
        return out
    pairs = (
        ab[["customer_id", "flow", "abandoned_at"]]
        .reset_index()
        .merge(done[["customer_id", "flow", "started_at"]], on=["customer_id", "flow"])
    )
    hit = pairs.loc[pairs["started_at"] >= pairs["abandoned_at"], "index"].unique()
    out[journeys.index.get_indexer(hit)] = True
    return out


def stuck_rates(
    history: pd.DataFrame, now: datetime, resume_days: float = RESUME_DAYS
) -> dict[tuple[str, int], float]:
    """P(still stuck after ``resume_days`` | flow, step) from the abandoned journeys of ``history`` whose
    fate is known by ``now``, shrunk toward each flow's rate (and the flow's toward the overall rate)."""
    h = history.reset_index(drop=True)
    window = pd.Timedelta(days=resume_days)
    known = h["abandoned_at"].notna() & (h["abandoned_at"] <= pd.Timestamp(now) - window)
    ab = h[known]
    if not len(ab):
        return {}
    done = h[h["completed_at"].notna()][["customer_id", "flow", "started_at"]]
    pairs = ab[["customer_id", "flow", "abandoned_at"]].reset_index().merge(done, on=["customer_id", "flow"])
    back = (pairs["started_at"] >= pairs["abandoned_at"]) & (
        pairs["started_at"] < pairs["abandoned_at"] + window
    )
    came_back = set(pairs.loc[back, "index"])
    stuck = ~ab.index.isin(list(came_back))
    frame = pd.DataFrame(
        {"flow": ab["flow"].to_numpy(), "step": ab["step_reached"].to_numpy(), "stuck": stuck}
    )
    overall = float(frame["stuck"].mean())
    flows = frame.groupby("flow")["stuck"].agg(["sum", "count"])
    flow_rate = (flows["sum"] + PRIOR * overall) / (flows["count"] + PRIOR)
    cells = frame.groupby(["flow", "step"])["stuck"].agg(["sum", "count"])
    out = {}
    for (flow, step), row in cells.iterrows():
        prior = float(flow_rate[flow])
        out[(str(flow), int(step))] = float((row["sum"] + PRIOR * prior) / (row["count"] + PRIOR))
    out[("*", 0)] = overall
    return out


def customer_risk(customers: Iterable[str | None], scores: Iterable[float | None]) -> dict[str, float]:
    """Each customer's complaint risk from (customer, served P(complaint)) of their open tasks: the
    highest; tasks without a customer or a score (None, NaN) are skipped."""
    out: dict[str, float] = {}
    for cust, p in zip(customers, scores, strict=True):
        if not cust or p is None or p != p:
            continue
        key = str(cust)
        out[key] = max(out.get(key, 0.0), float(p))
    return out


@dataclass(frozen=True)
class Pick:
    """One break point walked: its journey row, the predicted benefit, held out or visited."""

    journey: dict
    benefit: float
    holdout: bool


def candidates(
    journeys: pd.DataFrame, now: datetime, grace_minutes: float, lookback_hours: float
) -> pd.DataFrame:
    """The break points open at ``now``: abandoned in [now - lookback, now - grace], not resolved since."""
    t = pd.Timestamp(now)
    ab = journeys["abandoned_at"]
    mask = (
        ab.notna()
        & (ab <= t - timedelta(minutes=grace_minutes))
        & (ab >= t - timedelta(hours=lookback_hours))
    )
    mask &= ~resolved(journeys, now)
    return journeys[mask.to_numpy()]


def walk(
    cands: pd.DataFrame,
    rates: Mapping[tuple[str, int], float],
    risk: Mapping[str, float],
    *,
    base_risk: float,
    capacity: int,
    holdout_share: float,
    skip: frozenset[str] = frozenset(),
) -> list[Pick]:
    """The candidates in benefit order until ``capacity`` visits (held-out ones use none); ``skip``:
    journeys already decided (a visit made or a holdout recorded earlier)."""
    if capacity <= 0 or not len(cands):
        return []
    overall = rates.get(("*", 0), 1.0)
    rows = [r for r in cands.to_dict("records") if r["journey_id"] not in skip]
    scored = []
    for r in rows:
        p = rates.get((r["flow"], int(r["step_reached"])), overall)
        scored.append((-p * risk.get(r["customer_id"], base_risk), r["journey_id"], r))
    scored.sort(key=lambda x: (x[0], x[1]))
    out: list[Pick] = []
    visits = 0
    for neg, jid, r in scored:
        hold = held_out(jid, holdout_share)
        out.append(Pick(r, -neg, hold))
        visits += not hold
        if visits >= capacity:
            break
    return out


def visit_task(journey: Mapping, now: datetime, sla_hours: float) -> dict:
    """The ``tasks`` row of a break point's return visit (an outbound call to the customer)."""
    return {
        "task_id": f"{TASK_PREFIX}{journey['journey_id']}",
        "task_type": "return_visit",
        "province_id": journey["province_id"],
        "customer_id": journey["customer_id"],
        "created_at": now,
        "sla_due_at": now + timedelta(hours=sla_hours),
        "complexity": 1,
        "channel": "phone",
        "amount": 0.0,
    }
