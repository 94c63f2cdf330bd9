"""Request types derived from the data contract (``opsmatch.contract``): its columns, dtypes, bounds and
choices live there once; the request models of contract rows are built from them here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, StringConstraints, create_model
from pydantic.fields import FieldInfo

from opsmatch.contract import TABLES, Column
from serving.config import WHOLE, Stamp

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
M = TypeVar("M", bound=BaseModel)
_SCALARS: dict[str, Any] = {"int": int, "float": float, "bool": bool, "timestamp": Stamp}


def bounds(table: str, column: str) -> FieldInfo:
    """The contract's ``[min, max]`` of a numeric column as a pydantic constraint."""
    col = TABLES[table].column(column)
    return Field(ge=col.min, le=col.max)


def column_type(col: Column) -> Any:
    """The request type of a contract column: choices as a Literal, other strings as ids, numbers bounded."""
    if col.choices is not None:
        kind: Any = Literal[col.choices]  # type: ignore[valid-type]
    elif col.max_chars is not None:  # free text (a contact's words): longer than the ids
        kind = Annotated[str, StringConstraints(min_length=1, max_length=col.max_chars)]
    elif col.dtype in ("str", "json"):
        kind = Id
    else:
        kind = _SCALARS[col.dtype]
        if col.min is not None or col.max is not None:
            kind = Annotated[kind, Field(ge=col.min, le=col.max)]
        if col.dtype == "int":
            kind = Annotated[kind, WHOLE]
    return kind | None if col.nullable else kind


def row_model(name: str, table: str, base: type[M], exclude: tuple[str, ...] = ()) -> type[M]:
    """A ``base`` model with one field per column of contract ``table`` (nullable columns default to None),
    but the ``exclude``d ones (columns the service fills itself, e.g. the actor)."""
    fields: dict[str, Any] = {
        c.name: (column_type(c), None if c.nullable else ...)
        for c in TABLES[table].columns
        if c.name not in exclude
    }
    doc = f"One row of the contract's ``{table}`` table ({TABLES[table].description})"
    return create_model(name, __base__=base, __module__=base.__module__, __doc__=doc, **fields)
