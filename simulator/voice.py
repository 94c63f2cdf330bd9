"""What the twin's customers say: the ``contacts`` table, chat and call summaries in Chinese.

Each task carries a hidden dissatisfaction ``d`` (standard normal), correlated ``voice.text_signal`` with
the latent of its complaint draw (``-ndtri(noise[:, 2])``: the part of the complaint hazard no task or
customer feature holds). A dissatisfied customer contacts the centre more often while the task is open
and says complaint phrases (投诉, 12378, 不满意, 等了三天, 退保, 找媒体) more often, more so past the SLA.
Noise as in real summaries: negated phrases (不是要投诉), politeness, neutral questions, typos (投述),
and personal data (phone and ID-card numbers) that a reader must mask. The complaint draws themselves are
untouched, so the rest of the history is the same with or without the text.

Deterministic: its own random stream (``[seed, 27]``), vectorised draws, one string join per contact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from simulator.clock import to_timestamps
from simulator.engine import SimResult

STREAM = 27
# Strong complaint phrases, and the same said with a typo a keyword list misses (char n-grams partly not).
COMPLAINT = (
    ("我要投诉", "我要投述"),
    ("再不处理我就打12378", "再不处理我就打1237８"),
    ("我要打12378投诉", "我要打12378头诉"),
    ("对你们的服务很不满意", "对你们的服务很不满义"),
    ("已经等了三天了还没办好", "已经等了三天了还没半好"),
    ("不行我就退保", "不行我就退宝"),
    ("我要找媒体曝光", "我要找媒休曝光"),
    ("这都第三次打电话了，太慢了", "这都第三次打电话了，太漫了"),
)
NEGATED = (
    "不是要投诉，就是问一下",
    "没有不满意，只是确认一下",
    "暂时不考虑退保",
    "不用打12378，你们处理就行",
)
NEUTRAL = (
    "请问办理进度怎么样了",
    "需要补充什么材料吗",
    "大概什么时候能到账",
    "想确认一下受益人信息",
    "保单地址需要修改",
    "咨询续保的缴费方式",
    "问一下理赔需要的单据",
)
POLITE = ("", "", "麻烦您了。", "谢谢。", "辛苦了。", "好的，谢谢您。")
OPENING = {
    "phone": "客户来电：",
    "online_chat": "在线客服会话：客户称",
    "branch": "柜面来访：客户表示",
    "regulator_hotline": "12378热线转办：客户反映",
}
OUTBOUND_OPENING = "回访记录：客户表示"
CHANNEL_OF_TASK = {"phone": "phone", "agent": "phone", "online": "online_chat", "branch": "branch"}


def _pii(rng: np.random.Generator, n: int, wanted: np.ndarray) -> list[str]:
    """Phone numbers (1[3-9]x xxxx xxxx) or 18-character ID-card numbers, as a customer dictates them;
    drawn for all ``n`` contacts (the same stream whatever is kept), written out only where ``wanted``
    ("" elsewhere: at 10x the default, 1.7 M contacts would hold three strings each for a few %)."""
    d, rest = rng.integers(0, 7, n), rng.integers(0, 10**9, n)
    a, b, c, e, f = (rng.integers(110000, 660000, n), rng.integers(50, 99, n), rng.integers(1, 13, n),
                     rng.integers(1, 29, n), rng.integers(0, 10**4, n))  # fmt: skip
    pick = rng.random(n) < 0.6
    out = [""] * n
    for j in np.flatnonzero(wanted):
        out[j] = (
            f"，回拨电话1{3 + d[j] % 7}{rest[j]:09d}"
            if pick[j]
            else f"，身份证号{a[j]:06d}19{b[j]:02d}{c[j]:02d}{e[j]:02d}{f[j]:04d}"
        )
    return out


def dissatisfaction(result: SimResult) -> np.ndarray:
    """Each task's hidden dissatisfaction (truth: never written to the event log)."""
    rho = result.config.voice.text_signal
    rng = np.random.default_rng([result.seed, STREAM, 0])
    latent = -ndtri(np.clip(result.noise[:, 2], 1e-12, 1 - 1e-12))
    return rho * latent + np.sqrt(1 - rho**2) * rng.standard_normal(len(latent))


def contacts_table(result: SimResult, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The ``contacts`` contract table of a replay, censored at ``result.end`` (ids in time order)."""
    v, cfg = result.config.voice, result.config
    rng = np.random.default_rng([result.seed, STREAM, 1])
    tk = result.arrivals.tasks
    n = len(tk)
    d = dissatisfaction(result)
    created = outcomes["created"].to_numpy(dtype=float)
    until = np.fmin(outcomes["finish"].to_numpy(dtype=float), result.end)
    open_days = np.maximum(until - created, 0.0) / 1440.0
    intake = rng.random(n) < v.intake_share
    follow = rng.poisson(v.followups_per_day * open_days * np.exp(v.followup_dissatisfaction * d - 0.25))
    follow = np.minimum(follow, 6)
    task = np.concatenate([np.flatnonzero(intake), np.repeat(np.arange(n), follow)])
    m = len(task)
    first = np.arange(m) < int(intake.sum())
    at = np.where(
        first,
        np.maximum(created[task] - 1 - 29 * rng.random(m), 0.0),  # the call or chat that brought it in
        created[task] + rng.random(m) * np.maximum(until[task] - created[task], 1.0),
    )
    keep = at <= result.end
    task, first, at = task[keep], first[keep], at[keep]
    m = len(task)
    late_h = np.maximum(at - outcomes["sla_due"].to_numpy(dtype=float)[task], 0.0) / 60.0
    p_signal = expit(
        v.signal_base + v.signal_slope * d[task] + v.signal_late_per_hour * np.minimum(late_h, 72)
    )
    signal = rng.random(m) < p_signal
    which = rng.integers(0, len(COMPLAINT), m)
    typo = rng.random(m) < v.typo_share
    negated = rng.random(m) < v.negation_share
    neg_which = rng.integers(0, len(NEGATED), m)
    neutral = rng.integers(0, len(NEUTRAL), m)
    polite = rng.integers(0, len(POLITE), m)
    pii = rng.random(m) < v.pii_share
    numbers = _pii(rng, m, pii)
    task_channel = tk["channel"].to_numpy()[task]
    channel = np.array([CHANNEL_OF_TASK[c] for c in task_channel], dtype=object)
    channel[~first & (rng.random(m) < 0.5)] = "phone"
    hotline = signal & (d[task] > 1.0) & (rng.random(m) < 0.25) & ~first
    channel[hotline] = "regulator_hotline"
    outbound = ~first & ~hotline & (rng.random(m) < 0.2)
    texts = []
    for j in range(m):
        opening = OUTBOUND_OPENING if outbound[j] else OPENING[channel[j]]
        parts = [NEUTRAL[neutral[j]]]
        if negated[j]:
            parts.append(NEGATED[neg_which[j]])
        if signal[j]:
            parts.append(COMPLAINT[which[j]][int(typo[j])])
        body = "，".join(parts) + (numbers[j] if pii[j] else "") + "。"
        texts.append(opening + body + POLITE[polite[j]])
    order = np.lexsort((np.arange(m), at))
    width = max(7, len(str(m)))
    return pd.DataFrame(
        {
            "contact_id": [f"CT{i + 1:0{width}d}" for i in range(m)],
            "customer_id": tk["customer_id"].to_numpy()[task][order],
            "task_id": tk["task_id"].to_numpy()[task][order],
            "at": to_timestamps(cfg, at[order]),
            "channel": channel[order],
            "direction": np.where(outbound, "outbound", "inbound")[order],
            "text": np.asarray(texts, dtype=object)[order],
        }
    )
