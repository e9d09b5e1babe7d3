"""The request and response values that pass between the HTTP layer and the endpoints.

One rule: endpoints see an `ApiRequest` (method, path, query, parsed JSON
body, the base URL for links) and return an `ApiResponse` or raise
`ApiError`; they never touch sockets or headers of the HTTP exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import bad_request


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One API call, parsed."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any
    base_url: str
    token: str = ""

    def param(self, name: str) -> str | None:
        """The first value of query parameter `name`, if given."""
        values = self.query.get(name)
        return values[0] if values else None

    def names(self, name: str) -> list[str] | None:
        """A comma-separated (or repeated) query parameter as a list; None when absent."""
        values = self.query.get(name)
        if values is None:
            return None
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    def flag(self, name: str) -> bool:
        """A boolean query parameter (`archived=true`)."""
        return (self.param(name) or "").lower() == "true"

    def integer(self, name: str, default: int) -> int:
        """A whole-number query parameter; 400 when it is not one."""
        raw = self.param(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise bad_request(f"Invalid value for {name}: {raw!r} is not a whole number.") from None

    def object_body(self) -> dict[str, Any]:
        """The JSON body, which must be an object; 400 otherwise."""
        if not isinstance(self.body, dict):
            raise bad_request("Invalid input JSON: the request body must be a JSON object.")
        return self.body


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """An answer: status, JSON body (None for no body) and extra headers."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
