"""How values become HubSpot's strings and back: dates, timestamps, numbers, booleans.

One rule: HubSpot takes every property value as a string (dates as
`YYYY-MM-DD` or epoch milliseconds of midnight UTC, datetimes as ISO 8601 UTC
or epoch milliseconds, booleans as `true` / `false`); everything that makes
those strings, or reads them back, is here. A naive timestamp counts as UTC.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

# HubSpot's limit for a string property's value (REFERENCE §5.1).
MAX_STRING_LENGTH = 65_536
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TransformError(ValueError):
    """A value a transform cannot convert; the message says which value and why."""


def type_name(value: Any) -> str:
    """A short name of `value`'s type for messages ("text", "number", "array" …)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive timestamp is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of `moment` (naive = UTC)."""
    delta = as_utc(moment) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def midnight_ms(day: date) -> int:
    """Epoch milliseconds of midnight UTC at the start of `day`."""
    return epoch_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def parse_moment(text: str) -> date | datetime:
    """Read an ISO 8601 date or timestamp (`Z` allowed); raise TransformError if it is neither."""
    cleaned = text.strip()
    try:
        if len(cleaned) == 10:
            return date.fromisoformat(cleaned)
        return datetime.fromisoformat(cleaned)
    except ValueError:
        raise TransformError(f"{text!r} is not an ISO 8601 date or timestamp") from None


def from_epoch_ms(text: str | int) -> datetime:
    """The UTC timestamp of epoch milliseconds given as a number or a string of digits."""
    try:
        millis = int(text)
    except (TypeError, ValueError):
        raise TransformError(f"{text!r} is not a number of epoch milliseconds") from None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise TransformError(f"{millis} epoch milliseconds is out of range") from None


def read_moment(value: Any) -> date | datetime:
    """A date or timestamp from HubSpot's answer: ISO text or epoch milliseconds."""
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return from_epoch_ms(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            return from_epoch_ms(stripped)
        return parse_moment(stripped)
    raise TransformError(f"expected a date or timestamp, got {type_name(value)} {value!r}")


def format_number(value: int | float | Decimal) -> str:
    """A number as HubSpot takes it: digits with at most one decimal point, no exponent."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TransformError(f"{value} is not a finite number")
        value = Decimal(repr(value))
    if not value.is_finite():
        raise TransformError(f"{value} is not a finite number")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def format_datetime(moment: datetime) -> str:
    """A timestamp as ISO 8601 in UTC with milliseconds: `2020-02-29T03:30:17.000Z`."""
    utc = as_utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_value(value: Any, *, separator: str = ";") -> str | None:
    """`value` as HubSpot's string, without a transform; None for a null.

    Booleans give `true` / `false`, dates `YYYY-MM-DD`, timestamps ISO 8601
    UTC, numbers plain digits, arrays their items joined by `separator`
    (HubSpot's multiple-checkbox form), objects their JSON. Raises
    TransformError for a value that has no string form (e.g. NaN).
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return format_number(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        items = (format_value(item) for item in value)
        return separator.join(item for item in items if item is not None)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, separators=(",", ":"), sort_keys=True)
    return str(value)


def check_length(text: str | None) -> str | None:
    """`text` unchanged; raise TransformError past HubSpot's 65,536-character limit."""
    if text is not None and len(text) > MAX_STRING_LENGTH:
        raise TransformError(
            f"the value has {len(text)} characters; HubSpot takes at most {MAX_STRING_LENGTH}"
        )
    return text
