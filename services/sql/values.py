"""Turn filter and key values into bound parameters that fit their column.

One rule: a value reaches PostgreSQL only as a bound parameter; here it is
checked against the column's kind first, so a bad value is a clean 400 that
names the field instead of a server error.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from services.sql.ast import Literal, Lookup, Param, Value
from services.sql.errors import InvalidValue, QueryError
from services.sql.schema import Column

INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1
TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y", "on"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", "n", "off"})


def resolve_value(
    value: Value, *, params: Mapping[str, object], lookups: Mapping[str, object]
) -> object:
    """Return the Python value a `Value` node stands for (None for null).

    Raises QueryError for a missing `:param` or an unknown `{lookup}`.
    """
    if isinstance(value, Literal):
        return None if value.kind == "null" else value.text
    if isinstance(value, Param):
        if value.name not in params:
            raise QueryError(f"No value given for parameter ':{value.name}' in filter request.")
        return params[value.name]
    if isinstance(value, Lookup):
        if value.name not in lookups:
            raise QueryError(f"Invalid lookup '{{{value.name}}}' in filter request.")
        return lookups[value.name]
    raise QueryError("Invalid or unparsable filter request.")  # pragma: no cover


def as_text(raw: object) -> str:
    """Return the text form PostgreSQL parses for a JSON-ish Python value."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, dict | list):
        return json.dumps(raw)
    return str(raw)


def checked_text(column: Column, raw: object, *, field: str | None = None) -> str:
    """Return `raw` as text after checking it fits `column`; raise InvalidValue otherwise.

    Kinds PostgreSQL parses in many spellings (ranges, network types, arrays,
    geometries) are left to the server, whose failure the executor maps to
    the same InvalidValue.
    """
    name = field or column.name
    text = as_text(raw)
    kind = column.json_kind
    try:
        if kind == "integer":
            number = int(text.strip())
            if not INT8_MIN <= number <= INT8_MAX:
                raise InvalidValue(name, "The number is out of range.")
        elif kind == "number":
            Decimal(text.strip())
        elif kind == "boolean":
            if text.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
                raise InvalidValue(name, "Expected true or false.")
        elif kind == "date":
            date.fromisoformat(text.strip())
        elif kind == "datetime":
            datetime.fromisoformat(text.strip())
        elif column.base_type == "uuid":
            uuid.UUID(text.strip())
    except (ValueError, InvalidOperation):
        raise InvalidValue(name) from None
    if (
        column.enum_labels is not None
        and column.json_kind != "array"
        and text not in column.enum_labels
    ):
        allowed = ", ".join(column.enum_labels)
        raise InvalidValue(name, f"Allowed values: {allowed}.")
    return text


def like_pattern(op: str, text: str) -> str:
    """Return the LIKE pattern for CONTAINS / STARTS WITH / ENDS WITH, escaping wildcards."""
    if op in ("LIKE", "ILIKE"):
        return text
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if op == "CONTAINS":
        return f"%{escaped}%"
    if op == "STARTS WITH":
        return f"{escaped}%"
    return f"%{escaped}"


def json_value(literal_kind: str, raw: object) -> str:
    """Return a JSON document for comparing with a `->` (json) path."""
    if isinstance(raw, str) and literal_kind == "number":
        return raw
    if isinstance(raw, str) and literal_kind == "boolean":
        return raw.lower()
    return json.dumps(raw)
