"""Partial-update ("patch") models derived from a model: the same fields and bounds, every one optional.

``PUT /policy`` takes a patch of ``serving.config.Policy``: built from the policy model's own fields, so
a bound set there holds for the patch too. Nested models become their own patch models (also inside
``dict`` values); model-level validators are not copied (the merged policy is validated whole).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, Field, create_model

M = TypeVar("M", bound=BaseModel)


def _patched(annotation: Any, base: type[BaseModel]) -> Any:
    """``annotation`` with every model in it (directly or as a dict value) replaced by its patch model."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return patch_model(annotation, base)
    if get_origin(annotation) is dict:
        key, value = get_args(annotation)
        return dict[key, _patched(value, base)]  # type: ignore[valid-type,misc]
    return annotation


@cache
def patch_model(
    model: type[BaseModel],
    base: type[M],
    name: str | None = None,
    doc: str | None = None,
    nested_base: type[BaseModel] | None = None,
) -> type[M]:
    """``name`` (default ``<Model>Patch``): a ``base`` model with ``model``'s fields, each optional.

    Nested models become patch models on ``nested_base`` (default ``base``)."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        kind = _patched(info.annotation, nested_base or base)
        if info.metadata:
            kind = Annotated[kind, *info.metadata]
        fields[field_name] = (kind | None, Field(None, description=info.description))
    return create_model(
        name or f"{model.__name__}Patch",
        __base__=base,
        __module__=base.__module__,
        __doc__=doc or f"Partial {model.__name__}: fields left out keep their value.",
        **fields,
    )
