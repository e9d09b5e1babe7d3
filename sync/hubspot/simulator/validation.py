"""Checking and normalising written property values the way HubSpot does.

One rule: a write is checked whole before anything is stored; `check_values`
returns either the normalised values (every value a string, `None` to clear)
or every problem found, each with HubSpot's error code and message
(PROPERTY_DOESNT_EXIST, READ_ONLY_VALUE, INVALID_EMAIL, INVALID_OPTION,
INVALID_DATE, INVALID_INTEGER, INVALID_DATETIME, INVALID_STRING_LENGTH).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .catalog import PropertyDef
from .errors import ValidationItem

MAX_STRING_LENGTH = 65_536
DAY_MS = 86_400_000

_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"\.[a-z]{2,}$"
)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_EPOCH_MS = re.compile(r"^-?\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def as_text(value: Any) -> str | None:
    """A written JSON value as HubSpot stores it: a string, or None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as HubSpot's ISO-8601 UTC timestamp (`…T03:30:17.883Z`)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_instant_ms(text: str) -> int | None:
    """Epoch ms from an epoch-ms string, an ISO-8601 timestamp or a YYYY-MM-DD date; else None."""
    text = text.strip()
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        if _ISO_DATE.match(text):
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def _date(prop: PropertyDef, text: str) -> tuple[str | None, ValidationItem | None]:
    ms = parse_instant_ms(text)
    if ms is None:
        return None, ValidationItem(prop.name, "INVALID_DATE", f"{text} is not a valid date")
    remainder = ms % DAY_MS
    if remainder:
        clock = datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S")
        message = f"{text} is at {clock}.{ms % 1000:03d} UTC, not midnight!"
        return None, ValidationItem(prop.name, "INVALID_DATE", message)
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat(), None


def _datetime(prop: PropertyDef, text: str) -> tuple[str | None, ValidationItem | None]:
    ms = parse_instant_ms(text)
    if ms is None:
        message = f"{text} is not a valid datetime"
        return None, ValidationItem(prop.name, "INVALID_DATETIME", message)
    return iso_ms(ms), None


def _enumeration(
    prop: PropertyDef, text: str, current: str | None
) -> tuple[str | None, ValidationItem | None]:
    if prop.external_options:
        return text, None
    allowed = [option.value for option in prop.options]
    if prop.field_type != "checkbox":
        if text not in allowed:
            return None, _invalid_option(prop, text, allowed)
        return text, None
    # Multiple checkboxes: `;`-separated; a leading `;` adds to what is there.
    appending = text.startswith(";")
    chosen = [part for part in text.split(";") if part]
    for part in chosen:
        if part not in allowed:
            return None, _invalid_option(prop, part, allowed)
    if appending and current:
        kept = current.split(";")
        chosen = kept + [part for part in chosen if part not in kept]
    return ";".join(chosen) or None, None


def _invalid_option(prop: PropertyDef, value: str, allowed: list[str]) -> ValidationItem:
    message = f"{value} was not one of the allowed options: [{', '.join(allowed)}]"
    return ValidationItem(prop.name, "INVALID_OPTION", message)


def check_value(
    prop: PropertyDef, raw: Any, current: str | None, lowercase: tuple[str, ...] = ()
) -> tuple[str | None, ValidationItem | None]:
    """Return (stored value or None to clear, problem or None) for one written value."""
    if isinstance(raw, dict | list):
        return None, ValidationItem(prop.name, "INVALID_INPUT", f"{prop.name} must be a string")
    text = as_text(raw)
    if text is None or text == "":
        return None, None
    if prop.name == "email":
        email = text.strip().lower()
        if not _EMAIL.match(email):
            message = f"Email address {text} is invalid"
            return None, ValidationItem(prop.name, "INVALID_EMAIL", message)
        return email, None
    if prop.type == "number":
        if not _NUMBER.match(text.strip()):
            return None, ValidationItem(
                prop.name, "INVALID_INTEGER", f"{text} is not a valid number"
            )
        try:
            Decimal(text.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            return None, ValidationItem(
                prop.name, "INVALID_INTEGER", f"{text} is not a valid number"
            )
        return text.strip(), None
    if prop.type == "bool":
        word = text.strip().lower()
        if word not in ("true", "false"):
            return None, _invalid_option(prop, text, ["true", "false"])
        return word, None
    if prop.type == "enumeration":
        return _enumeration(prop, text, current)
    if prop.type == "date":
        return _date(prop, text)
    if prop.type == "datetime":
        return _datetime(prop, text)
    if len(text) > MAX_STRING_LENGTH:
        message = (
            f"{prop.name} is {len(text)} characters long; at most {MAX_STRING_LENGTH} are allowed"
        )
        return None, ValidationItem(prop.name, "INVALID_STRING_LENGTH", message)
    if prop.name in lowercase:
        return text.strip().lower(), None
    return text, None


def check_values(
    definitions: Mapping[str, PropertyDef],
    written: Any,
    current: Mapping[str, str],
    *,
    lowercase: tuple[str, ...] = (),
) -> tuple[dict[str, str | None], list[ValidationItem]]:
    """Check a `properties` object of a write.

    Return the normalised values (None clears a property) and the problems;
    when there are problems the values must not be stored. Properties named
    in `lowercase` (emails, domains) are trimmed and stored lowercased.
    """
    if written is None:
        return {}, []
    if not isinstance(written, Mapping):
        item = ValidationItem("properties", "INVALID_INPUT", "properties must be a JSON object")
        return {}, [item]
    values: dict[str, str | None] = {}
    problems: list[ValidationItem] = []
    for name, raw in written.items():
        prop = definitions.get(name)
        if prop is None:
            problems.append(
                ValidationItem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if prop.read_only:
            message = f"{name} is a read only property; its value cannot be set."
            problems.append(ValidationItem(name, "READ_ONLY_VALUE", message))
            continue
        value, problem = check_value(prop, raw, current.get(name), lowercase)
        if problem is not None:
            problems.append(problem)
        else:
            values[name] = value
    return values, problems
