"""Create or upgrade a SQLAlchemy schema in place, for stores that outlive a release (the service's
state store: policy, audit, keys, alerts, settlement).

``metadata.create_all`` creates missing tables but never changes an existing one, so a data dir from an
older release would fail on the first query naming a new column ("no such column"). Here:

- a new column that may be null, or has a server default, is added with ``ALTER TABLE ... ADD COLUMN``
  (the rows are kept as they are);
- a new column that may not be null and has no default cannot be filled truthfully: the old table is
  renamed aside (``<table>_upto_<UTC stamp>``, every row kept and logged) and an empty table of the new
  shape is created, only for the tables the caller names ``derived`` (e.g. alert incidents, which the
  monitor raises again from the store on its next sweep); for any other table the store refuses to open,
  naming the table and the columns (records such as settlement months are never moved silently).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

log = logging.getLogger(__name__)


def create_or_upgrade(
    engine: sa.Engine, metadata: sa.MetaData, derived: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Bring every table of ``metadata`` to its declared columns. Returns what changed per table:
    ``{"<table>": ["added <column>", ...]}`` or ``{"<table>": ["moved aside to <name>"]}``."""
    changed: dict[str, list[str]] = {}
    existing = set(sa.inspect(engine).get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in have]
        if not missing:
            continue
        if all(c.nullable or c.server_default is not None for c in missing):
            changed[table.name] = [_add_column(engine, table, c) for c in missing]
        elif table.name in derived:
            changed[table.name] = [_move_aside(engine, table, [c.name for c in missing])]
        else:
            raise RuntimeError(
                f"state store table {table.name!r} predates required column(s) "
                f"{', '.join(c.name for c in missing)}: upgrade it by hand (no default can be invented)"
            )
    metadata.create_all(engine)
    return changed


def _add_column(engine: sa.Engine, table: sa.Table, column: sa.Column) -> str:
    ddl = column.type.compile(dialect=engine.dialect)
    default = ""
    if column.server_default is not None and isinstance(column.server_default, sa.DefaultClause):
        arg = column.server_default.arg
        text = arg.text if isinstance(arg, sa.TextClause) else str(arg)
        default = f" DEFAULT {text}"
    null = "" if column.nullable else " NOT NULL"
    prep = engine.dialect.identifier_preparer
    name, col = prep.quote(table.name), prep.quote(column.name)
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {col} {ddl}{default}{null}"))
    log.warning("state schema: added column %s.%s (rows kept)", table.name, column.name)
    return f"added {column.name}"


def _move_aside(engine: sa.Engine, table: sa.Table, missing: list[str]) -> str:
    aside = f"{table.name}_upto_{datetime.now(UTC):%Y%m%d%H%M%S}"
    prep = engine.dialect.identifier_preparer
    indexes = [str(i["name"]) for i in sa.inspect(engine).get_indexes(table.name) if i.get("name")]
    with engine.begin() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table.name))).scalar()
        conn.execute(sa.text(f"ALTER TABLE {prep.quote(table.name)} RENAME TO {prep.quote(aside)}"))
        for name in indexes:  # index names are per schema: the new table's would collide
            conn.execute(sa.text(f"DROP INDEX {prep.quote(name)}"))
    log.warning(
        "state schema: %s lacked required column(s) %s; its %s rows are kept in %s and a new %s is created",
        table.name,
        ", ".join(missing),
        rows,
        aside,
        table.name,
    )
    return f"moved aside to {aside} ({rows} rows; lacked {', '.join(missing)})"
