"""Errors the SQL layer raises for bad queries; the API renders them as 4xx envelopes.

One rule: a message never contains SQL text or server error details, and a
column the caller may not read gets exactly the message of a column that
does not exist.
"""

from __future__ import annotations


class QueryError(Exception):
    """A query the caller asked for cannot be built or run; `status` is the HTTP status."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidField(QueryError):
    """An unknown or unreadable column in `fields`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid field requested: {name}")


class InvalidFilterField(QueryError):
    """An unknown or unreadable column in `filter`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid or unparsable field in filter request: '{name}'")


class InvalidOrderField(QueryError):
    """An unknown or unreadable column in `order`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid field '{name}' in order by clause.")


class InvalidGroupField(QueryError):
    """An unknown or unreadable column in `group`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid field '{name}' in group by clause.")


class InvalidRelationship(QueryError):
    """An unknown relationship, or one to a table the caller cannot read."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid relationship requested: {name}")


class InvalidValue(QueryError):
    """A value that does not fit its column's type."""

    def __init__(self, field: str, detail: str = "") -> None:
        suffix = f" {detail}" if detail else ""
        super().__init__(f"Invalid value for field '{field}'.{suffix}")
