"""Online journeys of the twin's customers (issue 27, seed 002): flows run in the app, on the web or in
WeChat, some abandoned at a step (a break point), and what an abandonment does to the customer.

Each task's customer runs an online journey with probability ``journeys.per_task``, started within
``window_days`` of the task. A flow has fixed steps, each with its hidden abandonment probability
(``FLOWS``; older customers break off more often), scaled by ``abandon_scale``. An abandoned journey is
resumed and completed by the customer alone with probability ``self_resume`` after an exponential
delay, written as a new completed journey. Until it is resolved (resumed, or completed after a return
visit) and for at most ``effect_days``, the abandonment

- raises the complaint logit of the customer's complaints that would be filed then by
  ``complaint_uplift`` (``simulator.outcomes.task_outcomes``, same uniforms: only complaints can appear);
- makes the customer call about it (``contact_share``, after an exponential delay) unless resolved first.

A return visit (``evaluation.journeys``) at ``t`` completes a journey not yet resumed with probability
``visit_completion`` (its own uniform ``u_visit``: common random numbers). All of it is hidden truth:
only the journeys and contacts tables reach the event log.

Deterministic: its own random stream (``[seed, 28]``), drawn from the arrivals only (never from the
dispatch), so every replay of the same arrivals has the same journeys; the other tables' draws are
untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsmatch.contract import JOURNEY_CHANNELS, JOURNEY_FLOWS
from simulator.arrivals import Arrivals
from simulator.clock import MINUTES_PER_DAY, to_timestamps
from simulator.scenario import ScenarioConfig

STREAM = 28
# flow -> (share of journeys, abandonment probability at each step); the steps' names live in serving.
FLOWS: dict[str, tuple[float, tuple[float, ...]]] = {
    "renewal": (0.32, (0.04, 0.06, 0.15, 0.05, 0.08)),  # 3: bank card check, 5: payment
    "surrender": (0.10, (0.08, 0.20, 0.10, 0.05)),  # 2: face recognition
    "policy_change": (0.20, (0.05, 0.08, 0.12, 0.04)),
    "claim": (0.15, (0.05, 0.10, 0.20, 0.08, 0.05, 0.03)),  # 3: upload documents
    "beneficiary_change": (0.10, (0.06, 0.18, 0.05)),  # 2: proof of relationship
    "address_change": (0.13, (0.03, 0.05, 0.02)),
}
assert tuple(FLOWS) == JOURNEY_FLOWS
CHANNEL_P = (0.6, 0.15, 0.25)
TIMEOUT_MINUTES = 30.0  # the platform closes a session without progress after this long


@dataclass(frozen=True)
class Journeys:
    """Every journey of a replay's arrivals (uncensored), one row per journey in arrays.

    ``resume_at``: when the customer completes an abandoned journey alone (inf: never; NaN for a
    completed one); ``contact_at``: when the customer would call about it (inf: never)."""

    cust: np.ndarray
    province: np.ndarray
    flow: np.ndarray
    channel: np.ndarray
    steps: np.ndarray
    step: np.ndarray
    start: np.ndarray
    end: np.ndarray  # abandoned_at or completed_at
    abandoned: np.ndarray
    resume_at: np.ndarray
    contact_at: np.ndarray
    u_visit: np.ndarray
    seed: int = 0

    def __len__(self) -> int:
        return len(self.cust)

    def resolved_at(self, visits: np.ndarray | None = None, completion: float = 0.0) -> np.ndarray:
        """When each abandoned journey stops weighing on the customer: resumed alone, or completed after
        a return visit (``visits``: visit time per journey, NaN: none), whichever first; inf: never."""
        out = np.where(self.abandoned, self.resume_at, self.end)
        if visits is not None:
            v = np.asarray(visits, dtype=float)
            helped = self.abandoned & np.isfinite(v) & (self.u_visit < completion) & (v < out)
            out = np.where(helped, v, out)
        return out


def generate_journeys(config: ScenarioConfig, arrivals: Arrivals, seed: int) -> Journeys:
    """The journeys of ``arrivals`` (see the module docstring); none start before the arrival window."""
    j = config.journeys
    rng = np.random.default_rng([seed, STREAM, arrivals.start_day])
    tk = arrivals.tasks
    n = len(tk)
    anchor = np.flatnonzero(rng.random(n) < j.per_task)
    m = len(anchor)
    start = tk["t"].to_numpy(dtype=float)[anchor] + (2 * rng.random(m) - 1) * j.window_days * MINUTES_PER_DAY
    share = np.array([f[0] for f in FLOWS.values()])
    flow = rng.choice(len(FLOWS), size=m, p=share / share.sum())
    max_steps = max(len(f[1]) for f in FLOWS.values())
    hazard = np.zeros((len(FLOWS), max_steps))
    for i, (_, probs) in enumerate(FLOWS.values()):
        hazard[i, : len(probs)] = probs
    steps = np.array([len(f[1]) for f in FLOWS.values()])[flow]
    ages = arrivals.customers["age_band"].to_numpy()
    cust = tk["cust"].to_numpy()[anchor]
    odds = j.abandon_scale * np.where(ages[cust] == "60+", j.senior_factor, 1.0)
    h = hazard[flow] * odds[:, None]
    h = h / (1 + h - hazard[flow])  # odds scaled: a probability stays below 1
    u = rng.random((m, max_steps))
    breaks = (u < h) & (np.arange(max_steps)[None, :] < steps[:, None])
    abandoned = np.asarray(breaks.any(axis=1), dtype=bool)
    step = np.where(abandoned, breaks.argmax(axis=1) + 1, steps)
    per_step = 1 + 3 * rng.random(m)
    end = start + step * per_step + np.where(abandoned, TIMEOUT_MINUTES, 0.0)
    resumes = abandoned & (rng.random(m) < j.self_resume)
    resume_at = np.where(resumes, end + rng.exponential(j.resume_days_mean, m) * MINUTES_PER_DAY, np.inf)
    calls = abandoned & (rng.random(m) < j.contact_share)
    contact_at = np.where(calls, end + rng.exponential(j.contact_days_mean, m) * MINUTES_PER_DAY, np.inf)
    channel = rng.choice(len(JOURNEY_CHANNELS), size=m, p=CHANNEL_P)
    u_visit = rng.random(m)
    keep = start >= arrivals.start_day * MINUTES_PER_DAY
    order = np.argsort(start[keep], kind="stable")
    pick = np.flatnonzero(keep)[order]
    return Journeys(
        cust=cust[pick],
        province=tk["p"].to_numpy()[anchor][pick],
        flow=flow[pick],
        channel=channel[pick],
        steps=steps[pick],
        step=step[pick],
        start=start[pick],
        end=end[pick],
        abandoned=abandoned[pick],
        resume_at=np.asarray(np.where(abandoned, resume_at, np.nan))[pick],
        contact_at=contact_at[pick],
        u_visit=u_visit[pick],
        seed=seed,
    )


def complaint_uplift(
    config: ScenarioConfig, jr: Journeys, task_cust: np.ndarray, filed_at: np.ndarray, resolved: np.ndarray
) -> np.ndarray:
    """Per task: True where one of its customer's abandoned journeys weighs on the complaint that would
    be filed at ``filed_at`` (abandoned before it, not resolved, within ``effect_days``)."""
    out = np.zeros(len(task_cust), dtype=bool)
    ab = np.flatnonzero(jr.abandoned)
    if not len(ab) or not len(task_cust):
        return out
    until = np.minimum(resolved[ab], jr.end[ab] + config.journeys.effect_days * MINUTES_PER_DAY)
    pairs = pd.DataFrame({"cust": jr.cust[ab], "a": jr.end[ab], "b": until}).merge(
        pd.DataFrame({"cust": task_cust, "task": np.arange(len(task_cust)), "f": filed_at}), on="cust"
    )
    hit = (pairs["f"] >= pairs["a"]) & (pairs["f"] < pairs["b"])
    out[pairs.loc[hit, "task"].to_numpy(dtype=int)] = True
    return out


def journeys_table(config: ScenarioConfig, arrivals: Arrivals, jr: Journeys, end: float) -> pd.DataFrame:
    """The ``journeys`` contract table, censored at ``end``: each journey once it ended (abandoned or
    completed), then each self-resumed journey as a new completed one (ids in time order)."""
    done = jr.end <= end
    res = jr.abandoned & (jr.resume_at <= end)
    dur = jr.end - jr.start
    t0 = np.concatenate([jr.start[done], jr.resume_at[res]])
    t1 = np.concatenate(
        [jr.end[done], jr.resume_at[res] + jr.steps[res] * dur[res] / np.maximum(jr.step[res], 1)]
    )
    t0, t1 = np.floor(t0 * 60) / 60, np.floor(t1 * 60) / 60  # whole seconds, as the platform logs them
    ab = np.concatenate([jr.abandoned[done], np.zeros(int(res.sum()), dtype=bool)])
    sel = [np.flatnonzero(done), np.flatnonzero(res)]
    idx = np.concatenate(sel)
    step = np.concatenate([jr.step[done], jr.steps[res]])
    keep = t1 <= end
    order = np.lexsort((np.arange(len(t0)), t0))
    order = order[keep[order]]
    ts0, ts1 = to_timestamps(config, t0[order]), to_timestamps(config, t1[order])
    abandoned = ab[order]
    width = max(7, len(str(len(order))))
    pids = np.asarray([config.province_id(i) for i in range(len(config.provinces))])
    return pd.DataFrame(
        {
            "journey_id": [f"J{i + 1:0{width}d}" for i in range(len(order))],
            "customer_id": arrivals.customers["customer_id"].to_numpy()[jr.cust[idx[order]]],
            "province_id": pids[jr.province[idx[order]]],
            "flow": np.asarray(JOURNEY_FLOWS)[jr.flow[idx[order]]],
            "channel": np.asarray(JOURNEY_CHANNELS)[jr.channel[idx[order]]],
            "steps": jr.steps[idx[order]].astype(int),
            "step_reached": step[order].astype(int),
            "started_at": ts0,
            "abandoned_at": pd.Series(ts1).where(abandoned, pd.NaT).to_numpy(),
            "completed_at": pd.Series(ts1).where(~abandoned, pd.NaT).to_numpy(),
        }
    )


FLOW_WORDS = {
    "renewal": "续期缴费",
    "surrender": "退保",
    "policy_change": "保单变更",
    "claim": "理赔申请",
    "beneficiary_change": "受益人变更",
    "address_change": "地址变更",
}
CHANNEL_WORDS = {"app": "APP上", "web": "官网上", "wechat": "微信公众号里"}
STUCK = ("就办不下去了", "一直提示失败", "卡住了，不知道下一步怎么弄", "提交不了")
MOOD = ("", "", "想问问怎么继续办理。", "麻烦帮忙看一下。", "太麻烦了，不满意。")


def journey_contacts(
    config: ScenarioConfig, arrivals: Arrivals, jr: Journeys, resolved: np.ndarray, end: float
) -> pd.DataFrame:
    """The calls abandoned journeys cause (``contacts`` rows, ids ``CJ...``): at ``contact_at`` if the
    journey is not resolved by then and the call falls before ``end``."""
    calls = np.flatnonzero(jr.abandoned & (jr.contact_at < resolved) & (jr.contact_at <= end))
    calls = calls[np.lexsort((calls, jr.contact_at[calls]))]
    rng = np.random.default_rng([jr.seed, STREAM, arrivals.start_day, 1])
    stuck = rng.integers(0, len(STUCK), len(calls))
    mood = rng.integers(0, len(MOOD), len(calls))
    texts = [
        f"客户来电：在{CHANNEL_WORDS[JOURNEY_CHANNELS[jr.channel[j]]]}办{FLOW_WORDS[JOURNEY_FLOWS[jr.flow[j]]]}"
        f"到第{jr.step[j]}步{STUCK[s]}，{MOOD[md]}"
        for j, s, md in zip(calls.tolist(), stuck.tolist(), mood.tolist(), strict=True)
    ]
    width = max(7, len(str(len(calls))))
    return pd.DataFrame(
        {
            "contact_id": [f"CJ{i + 1:0{width}d}" for i in range(len(calls))],
            "customer_id": arrivals.customers["customer_id"].to_numpy()[jr.cust[calls]],
            "task_id": pd.Series([None] * len(calls), dtype=object),
            "at": to_timestamps(config, jr.contact_at[calls]),
            "channel": "phone",
            "direction": "inbound",
            "text": [t.rstrip("，") + ("" if t.endswith("。") else "。") for t in texts],
        }
    )
