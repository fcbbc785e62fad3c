"""Map a raw source row onto the instruction record's messages (hala.pipelines.core.records): by a named preset,
`auto`, or a column mapping.

A row that fits no format, or carries bad content, raises `AdapterError` with a reason code (`unknown_format`,
`bad_role`, `empty_content`, `non_string_content`, `too_large`): it is rejected, never dropped.
"""

from __future__ import annotations

from typing import Any

from hala.pipelines.core.records import Message
from hala.pipelines.sources.columns import AdapterError, ColumnMapping
from hala.pipelines.sources.presets import BY_NAME, detect

__all__ = ["AdapterError", "resolve_mapping", "to_messages"]


def resolve_mapping(fmt: str = "auto", columns: ColumnMapping | dict | None = None) -> ColumnMapping | None:
    """The mapping a source is read with: a named preset, with `columns` keys overriding it (e.g. SCP-116K's
    `assistant: o1_solution`), or `columns` alone with `auto`; None means `auto` (each row recognised).
    A mapping that does not validate is a ValueError of one line naming the key."""
    from pydantic import ValidationError

    if isinstance(columns, ColumnMapping):
        columns = columns.model_dump(exclude_unset=True)
    if fmt == "auto" and columns is None:
        return None
    base = {} if fmt == "auto" else BY_NAME[fmt].columns.model_dump(exclude_unset=True)
    try:
        return ColumnMapping.model_validate({**base, **(columns or {})})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"{where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}") from None


def to_messages(row: Any, fmt: str = "auto", columns: ColumnMapping | None = None) -> tuple[str, list[Message]]:
    """Return `(format, messages)` for a raw row, or raise `AdapterError`."""
    if not isinstance(row, dict):
        raise AdapterError("unknown_format", f"row is a {type(row).__name__}, not an object")
    if columns is not None:
        mapping, name = columns, fmt if fmt != "auto" else "columns"
    elif fmt == "auto":
        found = detect(row)
        if found is None:
            raise AdapterError("unknown_format", f"no known format fits keys {sorted(map(str, row))[:8]}")
        mapping, name = found.columns, found.name
    elif fmt in BY_NAME:
        mapping, name = BY_NAME[fmt].columns, fmt
    else:
        raise AdapterError("unknown_format", f"format {fmt!r}")
    try:
        return name, mapping.messages(row)
    except AdapterError:
        raise
    except (KeyError, TypeError, AttributeError) as e:
        raise AdapterError("unknown_format", f"row does not fit {name}: {e}") from e
