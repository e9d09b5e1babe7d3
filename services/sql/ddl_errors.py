"""Server errors of schema changes, as messages a client may see.

One rule: a message names the table, field or type of the failing step and
never carries the server's own text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import psycopg
from psycopg import errors

from services.sql.ddl_specs import DdlError, Step

logger = logging.getLogger(__name__)

# Server errors a request can cause, most specific class first: (class,
# status, message). Messages see {table}, {field} and {type}, never the
# server's text. Some depend on what the failing step did (see `message_for`).
CREATING: Final = frozenset({"create_table", "add", "reference"})
ERRORS: Final[Sequence[tuple[type[psycopg.Error], int, str]]] = (
    (errors.DuplicateTable, 400, "Table '{table}' already exists."),
    (errors.DuplicateColumn, 400, "Field '{field}' already exists in table '{table}'."),
    (errors.UndefinedTable, 404, 'Table "{table}" does not exist in the database.'),
    (errors.UndefinedColumn, 404, "Field '{field}' does not exist in table '{table}'."),
    (errors.InsufficientPrivilege, 403, "The service's database user may not change '{table}'."),
    (errors.UndefinedObject, 400, "Invalid type or object in the definition of '{table}'."),
    (errors.DependentObjectsStillExist, 400, "{what} cannot be dropped: other objects depend on it."),
    (errors.NotNullViolation, 400, "Field '{field}' cannot be NOT NULL: rows of '{table}' have "
     "no value for it (give a default)."),
    (errors.UniqueViolation, 400, "Field '{field}' cannot be unique: it has duplicate values."),
    (errors.ForeignKeyViolation, 400, "Field '{field}' has values its referenced table lacks."),
    (errors.InvalidTableDefinition, 400, "Invalid keys in table '{table}' (one primary key)."),
    (errors.InvalidColumnDefinition, 400, "Invalid definition of field '{field}'."),
    (errors.DatatypeMismatch, 400, "Types do not match in the definition of field '{field}'."),
    (errors.CannotCoerce, 400, "Field '{field}' cannot be converted to type {type}."),
    (errors.QueryCanceled, 504, "The schema change took too long and was cancelled."),
    (errors.LockNotAvailable, 409, "Table '{table}' is in use; retry the schema change."),
    (errors.DataError, 400, "Invalid value in the definition of field '{field}'."),
    (errors.SyntaxErrorOrAccessRuleViolation, 400, "Invalid definition of table '{table}'."),
    (errors.IntegrityConstraintViolation, 400, "Rows of table '{table}' do not allow this change."),
    (errors.ObjectNotInPrerequisiteState, 400, "Table '{table}' cannot be changed this way."),
    (errors.FeatureNotSupported, 400, "Table '{table}' cannot be changed this way."),
)  # fmt: skip


def translate_error(error: psycopg.Error, step: Step) -> DdlError | None:
    """Return the DdlError a client sees for a server error, or None to let it propagate."""
    for kind, status, template in ERRORS:
        if isinstance(error, kind):
            return DdlError(message_for(kind, template, step), status)
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return None  # the connection failed: the API answers 503
    logger.warning("schema change of %s failed: %s", step.table, type(error).__name__)
    return DdlError(f"The schema change of table '{step.table}' could not be made.")


def message_for(kind: type[psycopg.Error], template: str, step: Step) -> str:
    # While creating, a missing table or column is the target of a reference.
    if kind is errors.UndefinedTable and step.action in CREATING:
        template = "A table referenced by field '{field}' does not exist."
    elif kind is errors.UndefinedColumn and step.action in CREATING:
        template = "The field referenced by field '{field}' does not exist."
    elif kind is errors.DataError and step.type_text is not None:
        template = "Existing values of field '{field}' do not fit type {type}."
    what = f"Table '{step.table}'" if step.action == "drop_table" else f"Field '{step.field}'"
    return template.format(
        table=step.table, field=step.field or "", type=step.type_text or "?", what=what
    )
