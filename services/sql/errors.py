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


# --- writes -----------------------------------------------------------------


class RecordNotFound(QueryError):
    """A record to update or delete does not exist, or the caller may not see it."""

    status = 404

    def __init__(self, identifier: str) -> None:
        super().__init__(f"Record with identifier '{identifier}' not found.")


class WriteDenied(QueryError):
    """A created or updated row would fall outside the caller's row filter."""

    status = 403

    def __init__(self) -> None:
        super().__init__("Denied access to some of the requested fields.")


class MissingIdentifier(QueryError):
    """A record of an update or delete batch does not carry its identifying fields."""

    def __init__(self, index: int) -> None:
        super().__init__(f"Required id field(s) not found in record {index}.")


class NullValue(QueryError):
    """NULL for a NOT NULL column: given (`Field …`) or left out on create (`Required field …`)."""

    def __init__(self, field: str, *, required: bool) -> None:
        prefix = "Required field" if required else "Field"
        super().__init__(f"{prefix} '{field}' can not be NULL.")


class DuplicateValue(QueryError):
    """A unique constraint or primary key would be violated."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        if not fields:
            super().__init__("Duplicate entry detected.")
        elif len(fields) == 1:
            super().__init__(f"Duplicate entry detected for field '{fields[0]}'.")
        else:
            names = ", ".join(f"'{name}'" for name in fields)
            super().__init__(f"Duplicate entry detected for fields {names}.")


class InvalidReference(QueryError):
    """A foreign key value names a record that does not exist."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        names = ", ".join(f"'{name}'" for name in fields) or "a reference field"
        noun = "field" if len(fields) <= 1 else "fields"
        super().__init__(
            f"Invalid reference in {noun} {names}: the referenced record does not exist."
        )


class StillReferenced(QueryError):
    """A delete or key change would leave other records pointing at nothing."""

    def __init__(self) -> None:
        super().__init__("The record is referenced by other records and can not be changed.")


class CheckFailed(QueryError):
    """A CHECK constraint (of the table or of a domain) rejected a value."""

    def __init__(self, field: str | None, constraint: str | None) -> None:
        if field:
            super().__init__(f"Invalid value for field '{field}': it fails a check constraint.")
        elif constraint:
            super().__init__(f"A value fails the check constraint '{constraint}'.")
        else:
            super().__init__("A value fails a check constraint.")


class ValueTooLong(QueryError):
    """A text value longer than its column allows."""

    def __init__(self, field: str, limit: int | None) -> None:
        suffix = f" (at most {limit} characters)" if limit is not None else ""
        super().__init__(f"Value too long for field '{field}'{suffix}.")


class WriteRefused(QueryError):
    """The database refused the write for a reason of its own (a trigger, a privilege)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class WriteConflict(QueryError):
    """Concurrent transactions kept the write from completing, even after retries."""

    status = 409

    def __init__(self) -> None:
        super().__init__(
            "The write conflicted with concurrent changes and was not applied; retry it."
        )
