"""The ``journeys`` table: malformed journeys are quarantined naming the field, nothing dropped silently."""

from __future__ import annotations

import pandas as pd

from opsmatch.contract import TABLES
from opsmatch.validation import validate_table
from tests import factories as f


def _validate(rows: pd.DataFrame):
    tables = f.event_tables()
    known = {name: set(df[TABLES[name].key[0]]) for name, df in tables.items()}
    return validate_table(TABLES["journeys"], rows, source="journeys.csv", known_keys=known, now=f.NOW)


def test_malformed_journeys_are_refused_naming_the_field() -> None:
    good = f.to_csv_frame(f.event_tables()["journeys"])  # J001, J003 abandoned; J002, J004 completed
    rows = pd.concat([good, good.iloc[[0, 1, 0, 1]]], ignore_index=True)
    rows.loc[0, "flow"] = "lottery"
    rows.loc[1, "step_reached"] = "7"  # completed at step 7 of 4
    rows.loc[2, "abandoned_at"] = ""  # neither abandoned nor completed
    rows.loc[3, "completed_at"] = rows.loc[3, "started_at"]  # abandoned and completed
    rows.loc[3, "abandoned_at"] = rows.loc[3, "started_at"]
    rows.loc[4:, "journey_id"] = ["J101", "J102", "J103", "J104"]
    rows.loc[4, "customer_id"] = "NOBODY"
    rows.loc[5, "abandoned_at"] = "2026-05-01T00:00:00+00:00"  # completed, and abandoned before starting
    rows.loc[6, "steps"] = "0"
    rows.loc[7, "started_at"] = "2027-01-01T00:00:00+00:00"  # in the future
    res = _validate(rows)
    got: dict[int, set[str]] = {}
    for r in res.rejections:
        got.setdefault(r.row, set()).add(r.column)
    reasons = {(r.row, r.column): r.reason for r in res.rejections}
    assert reasons[(1, "flow")].startswith("not one of: renewal, surrender, policy_change, claim")
    assert reasons[(2, "step_reached")] == "step_reached is after the flow's last step"
    assert reasons[(3, "completed_at")] == "a journey needs abandoned_at or completed_at"
    assert reasons[(4, "abandoned_at")] == "abandoned_at must be null when completed_at is set"
    assert reasons[(5, "customer_id")].startswith("unknown customers.customer_id")
    assert "abandoned_at" in got[6]
    assert "steps" in got[7]
    assert "started_at" in got[8] and "in the future" in reasons[(8, "started_at")]
    assert sorted(got) == list(range(1, 9))  # every malformed row named, none silently dropped
    assert len(res.accepted) == 0


def test_valid_journeys_load_as_given() -> None:
    rows = f.event_tables()["journeys"]
    res = _validate(rows)
    assert res.rejections == []
    assert res.accepted["abandoned_at"].isna().tolist() == [False, True, False, True]
    assert res.accepted["step_reached"].tolist() == [2, 4, 2, 4]
