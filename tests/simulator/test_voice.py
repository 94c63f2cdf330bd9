"""The twin speaks: contacts whose words carry a hidden dissatisfaction, with realistic noise."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from features.contact_text import flags
from simulator.voice import contacts_table


def test_complainers_say_complaint_phrases_more_often_and_noise_is_there(
    small_result, small_outcomes
) -> None:
    c = contacts_table(small_result, small_outcomes)
    assert len(c) > 0.5 * len(small_outcomes) and c["contact_id"].is_unique
    assert (c["at"].diff().dropna() >= np.timedelta64(0)).all()  # ids in time order
    complained = small_outcomes.set_index(small_result.arrivals.tasks["task_id"].to_numpy())["complaint"]
    loud = flags(c["text"]).to_numpy().any(axis=1)
    by_task = complained.reindex(c["task_id"]).to_numpy(dtype=bool)
    assert loud[by_task].mean() > 2.5 * loud[~by_task].mean()  # part of the complaint hazard is in the words
    texts = c["text"].str.cat()
    for noise in ("不是要投诉", "谢谢", "投述", "回拨电话", "身份证号"):  # negation, politeness, typo, PII
        assert noise in texts, noise
    assert set(c["channel"]) == {"phone", "online_chat", "branch", "regulator_hotline"}


def test_without_text_signal_the_words_say_nothing_about_complaints(small_result, small_outcomes) -> None:
    voice = small_result.config.voice.model_copy(update={"text_signal": 0.0, "signal_late_per_hour": 0.0})
    mute = replace(small_result, config=small_result.config.model_copy(update={"voice": voice}))
    c = contacts_table(mute, small_outcomes)
    complained = small_outcomes.set_index(small_result.arrivals.tasks["task_id"].to_numpy())["complaint"]
    loud = flags(c["text"]).to_numpy().any(axis=1)
    by_task = complained.reindex(c["task_id"]).to_numpy(dtype=bool)
    assert loud[by_task].mean() < 1.5 * loud[~by_task].mean()
