"""Check records against HubSpot's property definitions before sending them.

One rule: a record HubSpot would refuse for its values never costs a
request; it becomes a per-record `VALIDATION_ERROR` here, worded as HubSpot
words it (`INVALID_EMAIL`, `INVALID_OPTION`, `INVALID_DATE` …). A problem of
the job itself (a mapped property HubSpot does not have, or cannot take) is
not a record's: `check_job` reports it and the run stops before reading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from sync.hubspot.errors import RecordError
from sync.hubspot.types import PropertyDefinition
from sync.jobspec import FieldMapping, JobSpec

VALIDATION_ERROR = "VALIDATION_ERROR"
MAX_STRING_LENGTH = 65_536
DAY_MS = 86_400_000
# Unique properties HubSpot keeps for its standard objects without saying so
# in their definitions (REFERENCE §1.1): one record per email or domain.
NATURAL_UNIQUE = {"contacts": "email", "0-1": "email", "companies": "domain", "0-2": "domain"}

_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"\.[a-z]{2,}$"
)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_EPOCH_MS = re.compile(r"^-?\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_unique(object_type: str, definition: PropertyDefinition) -> bool:
    """Whether HubSpot keeps at most one record per value of this property."""
    return definition.has_unique_value or NATURAL_UNIQUE.get(object_type.lower()) == definition.name


def check_job(
    spec: JobSpec, mappings: Sequence[FieldMapping], definitions: Mapping[str, PropertyDefinition]
) -> list[str]:
    """What keeps the job from running at all against these definitions (empty: nothing)."""
    problems: list[str] = []
    for mapping in mappings:
        definition = definitions.get(mapping.property)
        if definition is None:
            problems.append(
                f"{mapping.column} → {mapping.property}: HubSpot {spec.object_type} have no "
                f"property '{mapping.property}'."
            )
        elif definition.read_only_value or definition.calculated:
            problems.append(
                f"{mapping.column} → {mapping.property}: '{mapping.property}' is read-only in "
                "HubSpot."
            )
    if not spec.matches_by_record_id:
        definition = definitions.get(spec.match_property)
        if definition is None:
            problems.append(
                f"Match property '{spec.match_property}': HubSpot {spec.object_type} have no "
                "such property."
            )
        elif not is_unique(spec.object_type, definition):
            problems.append(
                f"Match property '{spec.match_property}' is not unique in HubSpot; use a unique "
                "property or hs_object_id."
            )
    return problems


def _instant_ms(text: str) -> int | None:
    """Epoch ms of epoch-ms digits, a YYYY-MM-DD date or an ISO 8601 timestamp; else None."""
    stripped = text.strip()
    if _EPOCH_MS.match(stripped):
        return int(stripped)
    try:
        if _ISO_DATE.match(stripped):
            day = date.fromisoformat(stripped)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def _date_problem(text: str) -> str | None:
    millis = _instant_ms(text)
    if millis is None:
        return f"{text} is not a valid date"
    if millis % DAY_MS:
        moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
        return f"{text} is at {moment:%H:%M:%S}.{millis % 1000:03d} UTC, not midnight!"
    return None


def _datetime_problem(text: str) -> str | None:
    return None if _instant_ms(text) is not None else f"{text} is not a valid datetime"


def value_problem(definition: PropertyDefinition, text: str) -> tuple[str, str] | None:
    """(HubSpot's error code, message) for a value the property would refuse, or None."""
    if definition.name == "email":
        if not _EMAIL.match(text.strip().lower()):
            return "INVALID_EMAIL", f"Email address {text} is invalid"
        return None
    kind = definition.type
    if kind == "number":
        if not _NUMBER.match(text.strip()):
            return "INVALID_INTEGER", f"{text} is not a valid number"
    elif kind == "bool":
        if text.strip().lower() not in ("true", "false"):
            return "INVALID_OPTION", f"{text} was not one of the allowed options: [true, false]"
    elif kind == "enumeration":
        if definition.external_options:
            return None
        allowed = [option.value for option in definition.options]
        chosen = (
            [part for part in text.split(";") if part]
            if definition.field_type == "checkbox"
            else [text]
        )
        for part in chosen:
            if part not in allowed:
                options = ", ".join(allowed)
                return "INVALID_OPTION", f"{part} was not one of the allowed options: [{options}]"
    elif kind == "date":
        problem = _date_problem(text)
        if problem:
            return "INVALID_DATE", problem
    elif kind == "datetime":
        problem = _datetime_problem(text)
        if problem:
            return "INVALID_DATETIME", problem
    elif len(text) > MAX_STRING_LENGTH:
        return (
            "INVALID_STRING_LENGTH",
            f"{definition.name} is {len(text)} characters long; at most {MAX_STRING_LENGTH} are allowed",
        )
    return None


def check_record(
    properties: Mapping[str, str | None], definitions: Mapping[str, PropertyDefinition]
) -> RecordError | None:
    """The error HubSpot would answer for these values, or None when it would take them.

    Empty values clear a property and are always allowed.
    """
    found: list[tuple[str, str, str]] = []
    for name, value in properties.items():
        if value is None or value == "":
            continue
        definition = definitions.get(name)
        if definition is None:
            found.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        problem = value_problem(definition, value)
        if problem is not None:
            found.append((name, *problem))
    if not found:
        return None
    listed = "; ".join(f"{name}: {message} ({code})" for name, code, message in found)
    return RecordError(
        category=VALIDATION_ERROR,
        message=f"Property values were not valid: {listed}",
        context={"propertyName": tuple(name for name, _, _ in found)},
    )
