"""A state store from an older release opens: new nullable columns are added with the rows kept, a derived
table lacking a required column is moved aside whole, and any other such table is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from opsmatch.sql_schema import create_or_upgrade
from serving.state.store import StateStore


def _engine(tmp_path: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")


def _old_and_new(tmp_path: Path, required: bool) -> tuple[sa.Engine, sa.MetaData]:
    engine = _engine(tmp_path)
    old = sa.MetaData()
    sa.Table(
        "things", old, sa.Column("id", sa.String(8), primary_key=True), sa.Column("n", sa.Integer, index=True)
    )
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO things (id, n) VALUES ('a', 1), ('b', 2)"))
    new = sa.MetaData()
    sa.Table(
        "things",
        new,
        sa.Column("id", sa.String(8), primary_key=True),
        sa.Column("n", sa.Integer, index=True),
        sa.Column("note", sa.Text),
        sa.Column("level", sa.Integer, nullable=not required),
    )
    return engine, new


def test_nullable_columns_are_added_and_the_rows_kept(tmp_path: Path) -> None:
    engine, new = _old_and_new(tmp_path, required=False)
    assert create_or_upgrade(engine, new) == {"things": ["added note", "added level"]}
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, n, note, level FROM things ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("a", 1, None, None), ("b", 2, None, None)]
    assert create_or_upgrade(engine, new) == {}  # idempotent


def test_a_derived_table_lacking_a_required_column_is_moved_aside_whole(tmp_path: Path) -> None:
    engine, new = _old_and_new(tmp_path, required=True)
    changed = create_or_upgrade(engine, new, derived=frozenset({"things"}))
    (aside,) = [t for t in sa.inspect(engine).get_table_names() if t.startswith("things_upto_")]
    assert changed == {"things": [f"moved aside to {aside} (2 rows; lacked note, level)"]}
    with engine.begin() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {aside}")).scalar() == 2
        assert conn.execute(sa.text("SELECT count(*) FROM things")).scalar() == 0
        conn.execute(sa.text("INSERT INTO things (id, n, level) VALUES ('c', 3, 1)"))  # the new shape works
    assert {c["name"] for c in sa.inspect(engine).get_columns("things")} == {"id", "n", "note", "level"}


def test_any_other_table_lacking_a_required_column_is_refused_by_name(tmp_path: Path) -> None:
    engine, new = _old_and_new(tmp_path, required=True)
    with pytest.raises(RuntimeError, match=r"'things' predates required column\(s\) note, level"):
        create_or_upgrade(engine, new)


def test_a_state_store_with_an_old_alert_incidents_table_opens_with_the_new_shape_and_keeps_the_old_rows(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    with engine.begin() as conn:  # the incidents table as an older release created it (no value_first/peak)
        conn.execute(sa.text("CREATE TABLE alert_incidents (id VARCHAR(64) PRIMARY KEY, scope VARCHAR(300))"))
        conn.execute(sa.text("INSERT INTO alert_incidents (id, scope) VALUES ('old', 'sla_overdue|P01')"))
    engine.dispose()
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    (aside,) = [
        n for n in sa.inspect(store.engine).get_table_names() if n.startswith("alert_incidents_upto_")
    ]
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("alert_incidents")}
    assert {"value_first", "value_peak", "episode"} <= cols
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alert_incidents")).scalar() == 0
        assert conn.execute(sa.text(f"SELECT id FROM {aside}")).scalars().all() == ["old"]
    store.close()
