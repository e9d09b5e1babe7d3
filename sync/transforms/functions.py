"""The documented transforms: what a column's value becomes in HubSpot, and back.

One rule: a transform is a pair of pure functions, `push(value, row,
options) -> str | None` (a column's value, the whole record, the mapping's
options → HubSpot's string; None for a null, which the engine may send as
"" to clear the property) and, when it can be reversed, `pull(value,
options)` (HubSpot's string → the column's value). A value a transform
cannot convert raises `TransformError` with a message naming the value; it
never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.transforms.expression import compile_expression, evaluate
from sync.transforms.values import (
    TransformError,
    as_utc,
    check_length,
    epoch_ms,
    format_value,
    from_epoch_ms,
    midnight_ms,
    parse_moment,
    read_moment,
    type_name,
)

Push = Callable[[Any, Mapping[str, Any], Mapping[str, Any]], str | None]
Pull = Callable[[Any, Mapping[str, Any]], Any]
OptionsCheck = Callable[[Mapping[str, Any]], list[str]]

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})


@dataclass(frozen=True, slots=True)
class Transform:
    """One transform: its functions, what it is for, and where it fits.

    `column_kinds` / `property_types` are the column JSON kinds
    (`services.sql.schema.JsonKind`) and HubSpot property types it fits;
    None means any.
    """

    name: str
    description: str
    push: Push
    pull: Pull | None = None
    check_options: OptionsCheck = lambda options: []
    column_kinds: frozenset[str] | None = None
    property_types: frozenset[str] | None = None

    @property
    def reversible(self) -> bool:
        return self.pull is not None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- lowercase_trim ---------------------------------------------------------------------


def lowercase_trim_push(
    value: Any, row: Mapping[str, Any], options: Mapping[str, Any]
) -> str | None:
    """Text without surrounding blanks, lower-cased (emails: HubSpot stores them lower-cased)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TransformError(f"lowercase_trim takes text, not {type_name(value)} {value!r}")
    return value.strip().lower()


# --- date_midnight_utc ------------------------------------------------------------------


def _day_of(value: Any) -> date:
    if isinstance(value, str):
        value = parse_moment(value)
    if isinstance(value, datetime):
        return as_utc(value).date()
    if isinstance(value, date):
        return value
    raise TransformError(f"expected a date or timestamp, got {type_name(value)} {value!r}")


def date_midnight_push(
    value: Any, row: Mapping[str, Any], options: Mapping[str, Any]
) -> str | None:
    """A date (or a timestamp, by its UTC date) as epoch ms of midnight UTC, as date properties want."""
    if _empty(value):
        return None
    return str(midnight_ms(_day_of(value)))


def date_midnight_pull(value: Any, options: Mapping[str, Any]) -> date | None:
    """HubSpot's date (`YYYY-MM-DD`, epoch ms or an ISO timestamp) as a date."""
    if _empty(value):
        return None
    moment = read_moment(value)
    return as_utc(moment).date() if isinstance(moment, datetime) else moment


# --- epoch_millis -----------------------------------------------------------------------


def epoch_millis_push(value: Any, row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """A timestamp (naive = UTC; a date counts as its midnight UTC) as epoch milliseconds."""
    if _empty(value):
        return None
    moment = parse_moment(value) if isinstance(value, str) else value
    if isinstance(moment, datetime):
        return str(epoch_ms(moment))
    if isinstance(moment, date):
        return str(midnight_ms(moment))
    raise TransformError(f"epoch_millis takes a timestamp, not {type_name(value)} {value!r}")


def epoch_millis_pull(value: Any, options: Mapping[str, Any]) -> datetime | None:
    """HubSpot's datetime (epoch ms or ISO 8601) as a UTC timestamp."""
    if _empty(value):
        return None
    moment = read_moment(value)
    if isinstance(moment, datetime):
        return as_utc(moment)
    return from_epoch_ms(midnight_ms(moment))


# --- enum_map ---------------------------------------------------------------------------


def _value_map(options: Mapping[str, Any]) -> Mapping[str, Any]:
    values = options.get("values")
    return values if isinstance(values, Mapping) else {}


def enum_map_push(value: Any, row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """The HubSpot option that `options["values"]` maps the column's value to."""
    if value is None:
        return None
    key = format_value(value)
    values = _value_map(options)
    if key is None or key not in values:
        raise TransformError(f"{key!r} has no HubSpot option in the value map")
    return format_value(values[key])


def enum_map_pull(value: Any, options: Mapping[str, Any]) -> str | None:
    """The column's value whose mapped option is HubSpot's `value` (the first, if several)."""
    if value is None or value == "":
        return None
    for key, option in _value_map(options).items():
        if format_value(option) == str(value):
            return str(key)
    raise TransformError(f"HubSpot option {value!r} is not in the value map")


def enum_map_options(options: Mapping[str, Any]) -> list[str]:
    values = options.get("values")
    if not isinstance(values, Mapping) or not values:
        return ['enum_map needs {"values": {"<column value>": "<HubSpot option>", …}}']
    bad = [key for key, option in values.items() if not isinstance(option, str)]
    if bad:
        return [f"enum_map's options must be text; not for {', '.join(map(repr, bad))}"]
    return []


# --- boolean ----------------------------------------------------------------------------


def _truth(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "":
            return None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise TransformError(f"{value!r} is not a boolean (true/false, yes/no, 1/0)")


def boolean_push(value: Any, row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """A boolean (or yes/no, 1/0, t/f …) as HubSpot's `true` / `false`."""
    truth = _truth(value)
    return None if truth is None else ("true" if truth else "false")


def boolean_pull(value: Any, options: Mapping[str, Any]) -> bool | None:
    """HubSpot's `true` / `false` as a boolean."""
    return _truth(value)


# --- join -------------------------------------------------------------------------------


def _separator(options: Mapping[str, Any]) -> str:
    separator = options.get("separator", ";")
    return separator if isinstance(separator, str) and separator else ";"


def join_push(value: Any, row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """An array's items joined by the separator (default `;`, HubSpot's multiple checkboxes)."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise TransformError(f"join takes an array, not {type_name(value)} {value!r}")
    separator = _separator(options)
    items = [format_value(item) for item in value]
    for item in items:
        if item is not None and separator in item:
            raise TransformError(f"item {item!r} contains the separator {separator!r}")
    return separator.join(item for item in items if item is not None)


def join_pull(value: Any, options: Mapping[str, Any]) -> list[str] | None:
    """HubSpot's joined string split back into a list (empty for "")."""
    if value is None:
        return None
    text = str(value)
    separator = _separator(options)
    return [item for item in text.split(separator) if item != ""] if text else []


def join_options(options: Mapping[str, Any]) -> list[str]:
    separator = options.get("separator", ";")
    if not isinstance(separator, str) or not separator:
        return ["join's separator must be non-empty text"]
    return []


# --- default ----------------------------------------------------------------------------


def default_push(value: Any, row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """The column's value, or `options["value"]` when it is null or blank."""
    return format_value(options.get("value") if _empty(value) else value)


def default_options(options: Mapping[str, Any]) -> list[str]:
    if "value" not in options:
        return ['default needs {"value": <the value to send for a null or empty column>}']
    if not isinstance(options["value"], str | int | float | bool):
        return ["default's value must be text, a number or a boolean"]
    return []


# --- expression -------------------------------------------------------------------------


def expression_push(value: Any, row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    """The result of `options["expression"]` over `value` and `row` (see `expression`)."""
    source = options.get("expression")
    if not isinstance(source, str):
        raise TransformError('expression needs {"expression": "<Python expression>"}')
    return format_value(evaluate(source, value=value, row=dict(row)))


def expression_options(options: Mapping[str, Any]) -> list[str]:
    source = options.get("expression")
    if not isinstance(source, str) or not source.strip():
        return ['expression needs {"expression": "<Python expression over value and row>"}']
    try:
        compile_expression(source)
    except TransformError as error:
        return [f"expression: {error}"]
    return []


STRINGS = frozenset({"string", "phone_number"})
TRANSFORMS: Mapping[str, Transform] = {
    transform.name: transform
    for transform in (
        Transform(
            "lowercase_trim",
            "Trim surrounding blanks and lower-case (emails).",
            lowercase_trim_push,
            column_kinds=frozenset({"string"}),
            property_types=STRINGS | {"enumeration"},
        ),
        Transform(
            "date_midnight_utc",
            "Date (or a timestamp's UTC date) → epoch ms of midnight UTC, for date properties.",
            date_midnight_push,
            date_midnight_pull,
            column_kinds=frozenset({"date", "datetime", "string"}),
            property_types=frozenset({"date", "datetime"}),
        ),
        Transform(
            "epoch_millis",
            "Timestamp → epoch milliseconds, for datetime properties.",
            epoch_millis_push,
            epoch_millis_pull,
            column_kinds=frozenset({"datetime", "date", "string"}),
            property_types=frozenset({"datetime", "number"}),
        ),
        Transform(
            "enum_map",
            'Map values to HubSpot options: {"values": {"<value>": "<option>"}}.',
            enum_map_push,
            enum_map_pull,
            enum_map_options,
            column_kinds=frozenset({"string", "integer", "number", "boolean"}),
            property_types=frozenset({"enumeration", "bool"}) | STRINGS,
        ),
        Transform(
            "boolean",
            "Boolean (or yes/no, 1/0) → true/false.",
            boolean_push,
            boolean_pull,
            column_kinds=frozenset({"boolean", "integer", "string"}),
            property_types=frozenset({"bool", "enumeration"}) | STRINGS,
        ),
        Transform(
            "join",
            'Array → items joined by {"separator": ";"} (multiple checkboxes).',
            join_push,
            join_pull,
            join_options,
            column_kinds=frozenset({"array"}),
            property_types=frozenset({"enumeration"}) | STRINGS,
        ),
        Transform(
            "default",
            'Send {"value": …} when the column is null or blank.',
            default_push,
            check_options=default_options,
        ),
        Transform(
            "expression",
            'A Python expression over value and row: {"expression": "value.title()"}.',
            expression_push,
            check_options=expression_options,
        ),
    )
}


def transform_push(
    name: str, value: Any, row: Mapping[str, Any], options: Mapping[str, Any]
) -> str | None:
    """HubSpot's string for `value` through transform `name` ("" = none: `format_value`).

    Raises TransformError for a value the transform cannot convert, an
    unknown transform, or a result past HubSpot's 65,536 characters.
    """
    if not name:
        return check_length(format_value(value))
    transform = TRANSFORMS.get(name)
    if transform is None:
        raise TransformError(f"unknown transform {name!r}")
    return check_length(transform.push(value, row, options))


def transform_pull(name: str, value: Any, options: Mapping[str, Any]) -> Any:
    """The column's value for HubSpot's `value` through transform `name` ("" = unchanged).

    Raises TransformError for an unknown transform, one without a reverse,
    or a value it cannot read.
    """
    if not name:
        return value
    transform = TRANSFORMS.get(name)
    if transform is None:
        raise TransformError(f"unknown transform {name!r}")
    if transform.pull is None:
        raise TransformError(f"transform {name!r} cannot be reversed for a pull")
    return transform.pull(value, options)
