"""What can go wrong talking to HubSpot: one exception hierarchy, and HubSpot's error bodies read.

One rule: an exception means the call as a whole failed (no token, no
limiter, HubSpot unavailable after every retry, a request HubSpot rejects
whatever its records); a problem with one record is never an exception but
a `RecordError` in that record's outcome, so its batch-mates go on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)", re.IGNORECASE)
PROPERTY_VALUES_PREFIX = "Property values were not valid:"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One item of an error's `errors[]`, or of the property validation list inside its message."""

    message: str
    code: str | None = None
    property_name: str | None = None


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why HubSpot (or the client, before sending) refused one record.

    `category` is HubSpot's (`VALIDATION_ERROR`, `CONFLICT`, `OBJECT_NOT_FOUND`
    …) or one of the client's own: `DUPLICATE_INPUT` (an earlier input of the
    same call has the same id or key; not sent) and `NO_RESULT` (HubSpot's
    answer named neither a result nor an error for the input). `existing_id`
    is the record a `CONFLICT` names.
    """

    category: str
    message: str
    status: int | None = None
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sub_category: str | None = None
    details: tuple[ErrorDetail, ...] = ()
    existing_id: str | None = None
    correlation_id: str | None = None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _context(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for key, items in value.items():
        if isinstance(items, list | tuple):
            found[str(key)] = tuple(str(item) for item in items)
        elif items is not None:
            found[str(key)] = (str(items),)
    return found


def _details(body: Mapping[str, Any]) -> tuple[ErrorDetail, ...]:
    details: list[ErrorDetail] = []
    for item in body.get("errors") or ():
        if not isinstance(item, Mapping):
            continue
        names = _context(item.get("context")).get("propertyName", ())
        details.append(
            ErrorDetail(
                message=str(item.get("message") or ""),
                code=_text(item.get("code")),
                property_name=names[0] if names else _text(item.get("in")),
            )
        )
    message = str(body.get("message") or "")
    if message.startswith(PROPERTY_VALUES_PREFIX):
        try:
            listed = json.loads(message[len(PROPERTY_VALUES_PREFIX) :])
        except ValueError:
            listed = []
        for item in listed if isinstance(listed, list) else ():
            if isinstance(item, Mapping) and not item.get("isValid", False):
                detail = ErrorDetail(
                    message=str(item.get("message") or ""),
                    code=_text(item.get("error")),
                    property_name=_text(item.get("name")),
                )
                if detail not in details:
                    details.append(detail)
    return tuple(details)


def record_error(body: Any, *, status: int | None = None) -> RecordError:
    """Read one HubSpot error body (a whole answer's, or one item of a 207's `errors[]`).

    Every field is treated as optional, as HubSpot advises.
    """
    if not isinstance(body, Mapping):
        return RecordError(category="UNKNOWN", message=str(body or ""), status=status)
    message = str(body.get("message") or "")
    category = body.get("category") or body.get("errorType") or "UNKNOWN"
    found = EXISTING_ID.search(message) if category == "CONFLICT" or status == 409 else None
    if status is None and str(body.get("status")).isdigit():
        status = int(str(body.get("status")))
    return RecordError(
        category=str(category),
        message=message,
        status=status,
        context=_context(body.get("context")),
        sub_category=_text(body.get("subCategory")) if body.get("subCategory") else None,
        details=_details(body),
        existing_id=found.group(1) if found else None,
        correlation_id=_text(body.get("correlationId")),
    )


class HubSpotError(Exception):
    """A call to HubSpot failed as a whole. `error` is HubSpot's answer, when there was one."""

    def __init__(self, message: str, *, error: RecordError | None = None) -> None:
        super().__init__(message)
        self.error = error


class AuthenticationError(HubSpotError):
    """401: the token is wrong, revoked or expired. Never retried: nothing else will work either."""


class MissingScopesError(HubSpotError):
    """403: the token lacks a scope the call needs. Never retried."""


class RequestRejected(HubSpotError):
    """HubSpot refused the request itself (4xx), not any one record of it."""

    def __init__(self, message: str, *, status: int, error: RecordError | None = None) -> None:
        super().__init__(message, error=error)
        self.status = status


class HubSpotUnavailable(HubSpotError):
    """5xx, 423, 477, timeouts or dropped connections outlasted every retry."""

    def __init__(self, message: str, *, attempts: int, error: RecordError | None = None) -> None:
        super().__init__(message, error=error)
        self.attempts = attempts


class AmbiguousWriteError(HubSpotError):
    """A create failed in a way that leaves unknown whether HubSpot applied it.

    Not retried (a retry could create the records twice); the caller
    reconciles, e.g. by reading the records back by a unique property.
    """


class RateLimited(HubSpotError):
    """HubSpot kept answering 429 beyond the policy's bound (another client is using the quota)."""


class DailyLimitReached(HubSpotError):
    """The account's daily request limit is used up until `resets_at` (epoch seconds)."""

    def __init__(self, *, resets_at: float) -> None:
        super().__init__("The HubSpot account's daily request limit is used up.")
        self.resets_at = resets_at


class RateLimiterUnavailable(HubSpotError):
    """The shared rate limiter's Redis failed; no request is sent without it."""


def rejected(method: str, path: str, status: int, body: Any) -> RequestRejected:
    """The exception for an answer that refuses a request as a whole."""
    error = record_error(body, status=status)
    return RequestRejected(
        f"HubSpot refused {method} {path} ({status} {error.category}): {error.message}",
        status=status,
        error=error,
    )
