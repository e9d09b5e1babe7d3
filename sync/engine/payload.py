"""What one source row becomes in HubSpot: its properties, match value, record key and content hash.

One rule: a row's HubSpot form is computed in one place, here, from the
job's push mappings and their transforms; change detection compares the
hash of exactly that form (with the match value), so a record is sent when,
and only when, what HubSpot would receive differs from what it last got.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.hubspot.errors import RecordError
from sync.jobspec import FieldMapping, JobSpec
from sync.transforms.functions import transform_push
from sync.transforms.values import TransformError, format_value

TRANSFORM_ERROR = "TRANSFORM_ERROR"


@dataclass(frozen=True, slots=True)
class Payload:
    """A row's properties for HubSpot (None: null) and its raw match value ("" when empty)."""

    properties: Mapping[str, str | None]
    match_value: str
    problem: RecordError | None = None


def push_mappings(spec: JobSpec) -> tuple[FieldMapping, ...]:
    """The mappings that carry values to HubSpot (direction push or both)."""
    return tuple(mapping for mapping in spec.mappings if mapping.direction in ("push", "both"))


def record_key(key: Sequence[str]) -> str:
    """The text that names a row in record states and errors: the key, or a JSON list of parts."""
    return key[0] if len(key) == 1 else json.dumps(list(key), separators=(",", ":"))


def key_parts(text: str, width: int) -> tuple[str, ...] | None:
    """The key parts of a `record_key` text for a key of `width` columns (None if malformed)."""
    if width == 1:
        return (text,)
    try:
        parts = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parts, list) or len(parts) != width:
        return None
    return tuple(str(part) for part in parts)


def build_payload(
    spec: JobSpec, mappings: Sequence[FieldMapping], row: Mapping[str, Any]
) -> Payload:
    """Apply the mappings to a row; a value a transform refuses makes the payload's problem."""
    properties: dict[str, str | None] = {}
    problems: list[str] = []
    for mapping in mappings:
        try:
            properties[mapping.property] = transform_push(
                mapping.transform, row.get(mapping.column), row, mapping.options
            )
        except TransformError as error:
            problems.append(f"{mapping.column} → {mapping.property}: {error}")
    match_value = _match_value(spec, mappings, row, properties)
    problem = (
        RecordError(category=TRANSFORM_ERROR, message="; ".join(problems)) if problems else None
    )
    return Payload(properties=properties, match_value=match_value, problem=problem)


def _match_value(
    spec: JobSpec,
    mappings: Sequence[FieldMapping],
    row: Mapping[str, Any],
    properties: Mapping[str, str | None],
) -> str:
    """The match column's value as HubSpot compares it: through its mapping, if it has one."""
    for mapping in mappings:
        if mapping.column == spec.match_column and mapping.property == spec.match_property:
            return (properties.get(mapping.property) or "").strip()
    try:
        value = format_value(row.get(spec.match_column))
    except TransformError:
        return ""
    return (value or "").strip()


def normal(value: str) -> str:
    """How match values are compared: trimmed and lowercased (HubSpot stores emails so)."""
    return value.strip().lower()


def content_hash(properties: Mapping[str, str | None], match_value: str) -> str:
    """The hash of what HubSpot receives for a record (its properties and its match value)."""
    document = json.dumps(
        [match_value, sorted(properties.items())], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(document.encode()).hexdigest()


def excerpt(properties: Mapping[str, str | None], *, limit: int = 200) -> dict[str, str | None]:
    """The properties with long values cut, for error records and previews."""
    return {
        name: value if value is None or len(value) <= limit else value[:limit] + "…"
        for name, value in list(properties.items())[:50]
    }
