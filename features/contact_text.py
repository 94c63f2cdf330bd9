"""What a customer said before ``now``, as model inputs: their contacts' text, point-in-time.

A scored row ``(customer_id, now)`` sees only the customer's contacts dated strictly before ``now`` and
within ``WINDOW_DAYS`` (the leakage rule: a contact after the scoring time can never count), the last
``MAX_CONTACTS`` of them joined into one document for the text model (``training.text_model``), plus a
few interpretable, negation-aware flags. ``mask_pii`` hides phone and ID-card numbers wherever a text is
quoted back. Pure pandas/regex; chunked by customer so memory follows the rows scored, not the history.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

WINDOW_DAYS = 30
MAX_CONTACTS = 8
SEPARATOR = " | "
# Interpretable flags: a phrase counts unless a negation stands just before it ("不是要投诉").
_NEGATION = r"(?<!不是要)(?<!不要)(?<!没有)(?<!不用打)(?<!不考虑)(?<!不)"
FLAGS: dict[str, re.Pattern[str]] = {
    "said_regulator": re.compile(_NEGATION + r"12378"),
    "said_complaint": re.compile(_NEGATION + r"投诉"),
    "said_dissatisfied": re.compile(r"(?<!没有)不满意"),
    "said_surrender": re.compile(r"(?<!暂时不考虑)(?<!不考虑)退保"),
    "said_media": re.compile(r"媒体|曝光"),
    "said_long_wait": re.compile(r"等了[一二两三四五六七八九十\d]+天|太慢"),
}
FLAG_NAMES: tuple[str, ...] = tuple(FLAGS)
TEXT_FEATURES: tuple[str, ...] = ("text_score", "contacts_30d", *FLAG_NAMES)
KEYWORDS: tuple[str, ...] = ("投诉", "12378", "不满意", "退保", "媒体", "等了三天")  # the naive baseline

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_CARD = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
_CLAUSE = re.compile(r"[，,。；;！!？?|：:]")


def mask_pii(text: str) -> str:
    """Phone numbers as ``138****5678``, ID-card numbers as ``110101********1234``."""
    text = _ID_CARD.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def flags(texts: pd.Series) -> pd.DataFrame:
    """0/1 per flag of each document."""
    t = texts.fillna("").astype(str)
    return pd.DataFrame({name: t.str.contains(p).astype(float) for name, p in FLAGS.items()}, index=t.index)


def keyword_hits(texts: pd.Series) -> np.ndarray:
    """The keyword-list baseline: how many listed keywords a document contains (negation ignored)."""
    t = texts.fillna("").astype(str)
    return np.sum([t.str.contains(k, regex=False).to_numpy() for k in KEYWORDS], axis=0).astype(float)


def clauses(text: str) -> list[str]:
    """A text cut at its punctuation: the phrases a reason may quote."""
    return [c.strip() for c in _CLAUSE.split(text) if len(c.strip()) >= 2]


def documents(rows: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """For each row (``customer_id``, ``now``): ``document`` (the last ``MAX_CONTACTS`` contacts before
    ``now``, oldest first) and ``contacts_30d``, aligned with ``rows``' index.

    Only contacts with ``at < now`` and ``at >= now - WINDOW_DAYS`` count: changing anything at or after
    a row's ``now`` cannot change its document.
    """
    out = pd.DataFrame({"document": "", "contacts_30d": 0.0}, index=rows.index)
    if rows.empty or contacts.empty:
        return out
    now = pd.to_datetime(rows["now"], utc=True).dt.tz_localize(None).astype("datetime64[ns]")
    c = contacts[["customer_id", "at", "text"]].copy()
    c["at"] = pd.to_datetime(c["at"], utc=True).dt.tz_localize(None).astype("datetime64[ns]")
    c = c[c["customer_id"].isin(set(rows["customer_id"]))].sort_values(["customer_id", "at"], kind="stable")
    by_customer = {
        k: (g["at"].to_numpy(), g["text"].to_numpy(dtype=object)) for k, g in c.groupby("customer_id")
    }
    docs, counts = [], []
    window = np.timedelta64(WINDOW_DAYS, "D")
    for cust, t in zip(rows["customer_id"].to_numpy(), now.to_numpy(), strict=True):
        got = by_customer.get(cust)
        if got is None:
            docs.append("")
            counts.append(0.0)
            continue
        at, text = got
        lo, hi = np.searchsorted(at, t - window, "left"), np.searchsorted(at, t, "left")  # at < now
        docs.append(SEPARATOR.join(text[max(lo, hi - MAX_CONTACTS) : hi]))
        counts.append(float(hi - lo))
    out["document"] = docs
    out["contacts_30d"] = counts
    return out
