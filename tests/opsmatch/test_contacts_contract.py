"""The ``contacts`` table: malformed contacts are quarantined with the field and reason, never cut."""

from __future__ import annotations

import pandas as pd

from opsmatch.contract import CONTACT_TEXT_MAX_CHARS, TABLES
from opsmatch.validation import validate_table
from tests import factories as f


def test_malformed_contacts_are_refused_naming_the_field() -> None:
    tables = f.event_tables()
    known = {name: set(df[TABLES[name].key[0]]) for name, df in tables.items()}
    rows = f.to_csv_frame(tables["contacts"])
    rows.loc[0, "text"] = "我要投诉" * (CONTACT_TEXT_MAX_CHARS // 4 + 1)  # too long: refused, not cut
    rows.loc[1, "channel"] = "fax"
    rows.loc[2, "text"] = "bad \ud800 surrogate"  # not encodable as UTF-8
    rows.loc[3, "customer_id"] = "NOBODY"
    rows = pd.concat(
        [rows, rows.iloc[[0]].assign(text=""), rows.iloc[[0]].assign(text="a\x00b")], ignore_index=True
    )
    res = validate_table(TABLES["contacts"], rows, source="contacts.csv", known_keys=known, now=f.NOW)
    got = {(r.row, r.column): r.reason for r in res.rejections}
    assert got[(1, "text")] == f"longer than {CONTACT_TEXT_MAX_CHARS} characters (a text is never cut)"
    assert got[(2, "channel")].startswith("not one of: phone, online_chat, branch, regulator_hotline")
    assert got[(3, "text")] == "not valid UTF-8 text"
    assert got[(4, "customer_id")].startswith("unknown customers.customer_id")
    assert got[(5, "text")] == "missing value (column is required)"
    assert got[(6, "text")] == "contains a NUL character (U+0000)"
    assert len(res.accepted) == 0  # every row had a problem: none was dropped silently, none kept


def test_a_chinese_text_within_the_limit_is_kept_as_said() -> None:
    tables = f.event_tables()
    known = {name: set(df[TABLES[name].key[0]]) for name, df in tables.items()}
    rows = tables["contacts"].assign(text="客户说：等了三天还没办好，不满意，要打12378")
    res = validate_table(TABLES["contacts"], rows, source="contacts.parquet", known_keys=known, now=f.NOW)
    assert res.rejections == []
    assert list(res.accepted["text"]) == list(rows["text"])
