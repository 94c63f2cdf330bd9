"""The text model's inputs and reasons: point-in-time documents, masking, quotes, negation-aware flags."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contact_text import documents, flags, keyword_hits, mask_pii
from training.text_model import fit_text_model, quote, text_scores

T0 = pd.Timestamp("2026-06-01T08:00:00Z")


def _contacts(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "at": [T0 + pd.Timedelta(hours=h) for _, h, _ in rows],
            "text": [t for _, _, t in rows],
        }  # fmt: skip
    )


def test_only_contacts_before_the_scoring_time_count() -> None:
    contacts = _contacts([("C1", -2, "请问进度"), ("C1", 0, "我要打12378投诉"), ("C1", 5, "我要找媒体曝光"),
                          ("C1", -24 * 31, "很久以前的不满意"), ("C2", -1, "我要投诉")])  # fmt: skip
    rows = pd.DataFrame({"customer_id": ["C1", "C1", "C3"], "now": [T0, T0 + pd.Timedelta(hours=6), T0]})
    got = documents(rows, contacts)
    assert got.loc[0, "document"] == "请问进度"  # the contact at exactly now, later ones, > 30 days: out
    assert got.loc[0, "contacts_30d"] == 1
    assert got.loc[1, "document"] == "请问进度 | 我要打12378投诉 | 我要找媒体曝光"
    assert got.loc[2, "document"] == "" and got.loc[2, "contacts_30d"] == 0
    # Changing or adding anything at or after a row's time cannot change its document.
    later = pd.concat([contacts, _contacts([("C1", 0.5, "退保！")])], ignore_index=True)
    later.loc[2, "text"] = "完全不同"
    assert documents(rows.iloc[[0]], later).loc[0, "document"] == "请问进度"


def test_personal_data_is_masked_in_quotes() -> None:
    said = "我要投诉，回拨电话13812345678，身份证号11010119900307123X"
    masked = mask_pii(said)
    assert "13812345678" not in masked and "19900307" not in masked
    assert masked == "我要投诉，回拨电话138****5678，身份证号110101********123X"
    q = quote(None, said)  # no text model: the flagged clause, masked
    assert q is not None and q.text == "said: 我要投诉"
    q = quote(None, "回拨电话13812345678我要投诉")
    assert q is not None and q.text == "said: 回拨电话138****5678我要投诉"


def test_flags_see_negation_and_the_keyword_list_does_not() -> None:
    docs = pd.Series(["不是要投诉，就是问一下", "我要投诉", "暂时不考虑退保", "再不处理我就打12378"])
    f = flags(docs)
    assert list(f["said_complaint"]) == [0.0, 1.0, 0.0, 0.0]
    assert list(f["said_surrender"]) == [0.0, 0.0, 0.0, 0.0]
    assert list(f["said_regulator"]) == [0.0, 0.0, 0.0, 1.0]
    assert list(keyword_hits(docs)) == [1.0, 1.0, 1.0, 1.0]


def test_the_model_quotes_the_phrase_that_raised_the_score() -> None:
    rng = np.random.default_rng(7)
    neutral = ["请问办理进度怎么样了", "需要补充什么材料吗", "大概什么时候能到账"]
    loud = ["我要打12378投诉", "我要找媒体曝光"]
    y = rng.random(600) < 0.3
    docs = [neutral[i % 3] + ("，" + loud[i % 2] if yi else "") for i, yi in enumerate(y)]
    model = fit_text_model(pd.Series(docs), y.astype(int))
    p = text_scores(model, pd.Series(["请问办理进度怎么样了", "请问办理进度怎么样了，我要打12378投诉"]))
    assert p[1] > p[0] + 0.3
    q = quote(model, "请问办理进度怎么样了，我要打12378投诉，电话13912345678 | 谢谢")
    assert q is not None and q.text == "said: 我要打12378投诉" and q.lift > 0.5
    assert quote(model, "请问办理进度怎么样了") is None


def test_the_gate_promotes_only_text_that_adds_and_beats_the_keywords() -> None:
    from training.text_run import gate

    def table(no_text: float, keywords: float, text: float) -> dict[str, dict[str, float]]:
        return {"no_text": {"auc": no_text}, "keywords": {"auc": keywords}, "text": {"auc": text}}

    assert gate(table(0.70, 0.72, 0.76))[0] is True
    assert gate(table(0.70, 0.72, 0.705))[0] is False  # adds too little
    assert gate(table(0.70, 0.78, 0.76))[0] is False  # the keyword list does better
    served = table(0.70, 0.72, 0.76)
    assert gate(served | {"late_voice_offset": {"ece": 0.01}})[0] is True
    assert gate(served | {"late_voice_offset": {"ece": 0.08}})[0] is False  # served risk miscalibrated
