"""The one "same content" rule that both the append and file ingestion apply to a key seen again."""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsmatch.same_content import FLOAT_RTOL, same


def test_null_equals_null_and_nothing_else() -> None:
    a = pd.Series(["a", None, pd.NA, "b"], dtype="string")
    b = pd.Series(["a", None, "x", "c"], dtype="string")
    assert same("text", a, b).tolist() == [True, True, False, False]


def test_json_by_content_bool_by_truth_float_within_tolerance() -> None:
    assert same(
        "json", pd.Series(['{"a":1,"b":2}', "not json"]), pd.Series(['{"b": 2, "a": 1}', "not json"])
    ).all()
    assert not same("json", pd.Series(['{"a":1}']), pd.Series(['{"a":2}'])).any()
    assert same("bool", pd.Series([True, None], dtype="boolean"), pd.Series([1, None], dtype="Int64")).all()
    x = pd.Series([1.0, np.nan, 1.0])
    y = pd.Series([1.0 + FLOAT_RTOL / 10, None, 1.0 + FLOAT_RTOL * 10], dtype="Float64")
    assert same("float", x, y).tolist() == [True, True, False]
