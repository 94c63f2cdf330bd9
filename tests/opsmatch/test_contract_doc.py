"""docs/data-contract.md stays in step with opsmatch.contract: every table and column is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opsmatch.contract import LOAD_ORDER, TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-contract.md"


def section(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^### `{name}`\n(.*?)(?=^### |^## |\Z)", text, flags=re.S | re.M)
    assert match, f"no section for table {name}"
    return match.group(1)


@pytest.mark.parametrize("name", LOAD_ORDER)
def test_every_column_documented_with_its_type_and_nullability(name: str) -> None:
    body = section(name)
    for col in TABLES[name].columns:
        row = next((line for line in body.splitlines() if line.startswith(f"| `{col.name}` |")), None)
        assert row is not None, f"{name}.{col.name} missing from the doc"
        assert ("nullable" if col.nullable else "required") in row
        if col.references:
            assert f"`{col.references}`" in row
