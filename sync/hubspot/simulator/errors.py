"""HubSpot's error bodies, and the exception that carries one out of a handler.

One rule: every error the simulator answers is built here, in HubSpot's
shape (`status: "error"`, `message`, `correlationId`, `category`, and
`context` / `errors` / `subCategory` where HubSpot sends them), so the
messages clients parse (the existing id in a 409, the property validation
list) are written in exactly one place.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. "
    "Read more about required scopes here: https://developers.hubspot.com/scopes."
)


@dataclass(frozen=True, slots=True)
class ValidationItem:
    """One property that failed validation: its name, HubSpot's error code and message."""

    name: str
    error: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }


class ApiError(Exception):
    """An HTTP error answer: status, JSON body and extra headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def error_body(
    message: str,
    category: str,
    *,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    sub_category: str | None = None,
) -> dict[str, Any]:
    """Return HubSpot's standard error body."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
    }
    if context:
        body["context"] = {key: list(values) for key, values in context.items()}
    if errors:
        body["errors"] = [dict(item) for item in errors]
    body["category"] = category
    if sub_category:
        body["subCategory"] = sub_category
    return body


def batch_error(
    message: str,
    category: str,
    *,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    sub_category: str | None = None,
) -> dict[str, Any]:
    """Return one entry of a 207 answer's `errors[]` (a StandardError: no correlationId)."""
    body = error_body(message, category, context=context, errors=errors, sub_category=sub_category)
    del body["correlationId"]
    return body


def bad_request(message: str, **extra: Any) -> ApiError:
    """A 400 VALIDATION_ERROR with `message`."""
    return ApiError(400, error_body(message, "VALIDATION_ERROR", **extra))


def validation_message(items: Sequence[ValidationItem]) -> str:
    """HubSpot's message for invalid property values: a JSON list inside the text."""
    listed = json.dumps([item.to_json() for item in items], separators=(",", ":"))
    return f"Property values were not valid: {listed}"


def validation_details(items: Sequence[ValidationItem]) -> list[dict[str, Any]]:
    """The `errors[]` details of a property validation error."""
    return [
        {"message": item.message, "code": item.error, "context": {"propertyName": [item.name]}}
        for item in items
    ]


def validation_error(items: Sequence[ValidationItem]) -> ApiError:
    """A 400 VALIDATION_ERROR listing every invalid property."""
    return ApiError(
        400,
        error_body(validation_message(items), "VALIDATION_ERROR", errors=validation_details(items)),
    )


def conflict_message(label: str, existing_id: int) -> str:
    """The 409 message; clients read the existing id out of it."""
    return f"{label} already exists. Existing ID: {existing_id}"


def not_found(object_id: str) -> ApiError:
    """A 404 for one record."""
    return ApiError(
        404, error_body("resource not found", "OBJECT_NOT_FOUND", context={"id": [object_id]})
    )


def route_not_found(method: str, path: str) -> ApiError:
    """A 404 for a path the API does not have."""
    return ApiError(404, error_body(f"Unable to route {method} {path}", "OBJECT_NOT_FOUND"))


def unauthorized() -> ApiError:
    """A 401 for a missing or unknown bearer token."""
    return ApiError(401, error_body(AUTH_MESSAGE, "INVALID_AUTHENTICATION"))


def missing_scopes(required: str) -> ApiError:
    """A 403 naming the scope the token lacks."""
    detail = {
        "message": "One or more of the following scopes are required.",
        "context": {"requiredGranularScopes": [required]},
    }
    return ApiError(403, error_body(SCOPES_MESSAGE, "MISSING_SCOPES", errors=[detail]))
