"""Response schemas filled from ORM rows: a schema names its fields once, and each row fills the ones it has
under the same name, so adding a column to a response is one line in the schema, not two."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def from_row(model: type[M], row: object, **derived: Any) -> M:
    """``model`` from the row's attributes of the same names; ``derived`` names renamed or computed ones."""
    values = {
        name: getattr(row, name) for name in model.model_fields if name not in derived and hasattr(row, name)
    }
    return model.model_validate({**values, **derived})
