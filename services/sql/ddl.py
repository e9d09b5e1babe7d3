"""Schema changes on a service database: create, alter and drop tables and columns from specs.

One rule: no client text is ever spliced into a statement. Names must follow
PostgreSQL's identifier rules (at most 63 bytes) and are quoted with
`sql.Identifier`; types come from the fixed map of DreamFactory's simple
types, or from a `db_type` that matches a strict pattern (a type name and
optional numeric or identifier modifiers); defaults are `sql.Literal`s or one
of a few fixed expressions. Every step runs in the caller's transaction, and
the first failure raises a `DdlError` whose message names the table or
field, never the server's text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from services.sql.errors import QueryError
from services.sql.schema import SchemaSnapshot, Table

logger = logging.getLogger(__name__)

__all__ = [
    "AlterTable",
    "CreateTable",
    "DdlError",
    "DropTable",
    "FieldSpec",
    "ForeignRef",
    "TableSpec",
    "apply_schema_changes",
    "check_name",
    "split_table_name",
]

MAX_NAME_BYTES: Final = 63
NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# DreamFactory's simple types whose PostgreSQL type needs no size, by
# (type text, `format_type` text) — the second is how the catalog reports it,
# used to skip a type change that changes nothing.
FIXED_TYPES: Final[Mapping[str, tuple[str, str]]] = {
    "id": ("bigint", "bigint"),
    "reference": ("bigint", "bigint"),
    "integer": ("integer", "integer"),
    "int": ("integer", "integer"),
    "bigint": ("bigint", "bigint"),
    "smallint": ("smallint", "smallint"),
    "boolean": ("boolean", "boolean"),
    "bool": ("boolean", "boolean"),
    "float": ("real", "real"),
    "double": ("double precision", "double precision"),
    "money": ("money", "money"),
    "text": ("text", "text"),
    "date": ("date", "date"),
    "time": ("time", "time without time zone"),
    "datetime": ("timestamp", "timestamp without time zone"),
    "timestamp": ("timestamp", "timestamp without time zone"),
    "timestamp_on_create": ("timestamptz", "timestamp with time zone"),
    "timestamp_on_update": ("timestamptz", "timestamp with time zone"),
    "user_id": ("integer", "integer"),
    "user_id_on_create": ("integer", "integer"),
    "user_id_on_update": ("integer", "integer"),
    "binary": ("bytea", "bytea"),
    "uuid": ("uuid", "uuid"),
    "json": ("json", "json"),
    "jsonb": ("jsonb", "jsonb"),
    "interval": ("interval", "interval"),
}
SIZED_TYPES: Final = frozenset({"string", "decimal", "numeric"})
SIMPLE_TYPES: Final = frozenset(FIXED_TYPES) | SIZED_TYPES
INTEGER_TYPES: Final = frozenset({"smallint", "integer", "bigint"})
RAW_INTEGER_TYPES: Final = INTEGER_TYPES | {"int", "int2", "int4", "int8"}
TIMESTAMP_DEFAULT_TYPES: Final = frozenset({"timestamp_on_create", "timestamp_on_update"})
MAX_VARCHAR: Final = 10_485_760
MAX_NUMERIC_PRECISION: Final = 1000

# A raw type: one name, then only the words of PostgreSQL's multi-word type
# names, optional modifiers (numbers or identifiers: PostgreSQL accepts
# nothing else there) and an optional array suffix. Nothing that could start
# a constraint, a default or an expression fits.
DB_TYPE_PATTERN: Final = re.compile(
    r"[a-z_][a-z0-9_]*"
    r"(?: (?:precision|varying|with|without|time|zone))*"
    r"(?: ?\( ?[a-z0-9_]+(?: ?, ?[a-z0-9_]+)* ?\))?"
    r"(?: (?:with|without) time zone)?"
    r"(?: ?\[\])?\Z"
)
MAX_DB_TYPE_LENGTH: Final = 80

# Defaults DreamFactory passes through as SQL expressions; matched exactly
# (case and surrounding blanks aside) and rendered from these constants.
DEFAULT_EXPRESSIONS: Final[Mapping[str, str]] = {
    "now()": "now()",
    "current_timestamp": "CURRENT_TIMESTAMP",
    "current_date": "CURRENT_DATE",
    "current_time": "CURRENT_TIME",
    "localtimestamp": "LOCALTIMESTAMP",
    "gen_random_uuid()": "gen_random_uuid()",
}
REF_ACTIONS: Final[Mapping[str, str]] = {
    "cascade": "CASCADE",
    "set null": "SET NULL",
    "set default": "SET DEFAULT",
    "restrict": "RESTRICT",
    "no action": "NO ACTION",
}


class DdlError(QueryError):
    """A schema change that cannot be made; `status` is the HTTP status (400, 403, 404, 409, 504)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ForeignRef:
    """A foreign key of one field: `table` is an API name; `field` None means its primary key."""

    table: str
    field: str | None = None
    on_delete: str | None = None
    on_update: str | None = None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field as a request defines it; `None` (or a false `has_*`) means "not given".

    On create, what is not given takes DreamFactory's defaults (nullable, no
    default, no constraint); on alter, only what is given changes.
    """

    name: str
    type: str | None = None
    db_type: str | None = None
    size: int | None = None
    precision: int | None = None
    scale: int | None = None
    fixed_length: bool = False
    allow_null: bool | None = None
    has_default: bool = False
    default: object = field(default=None, compare=False)
    is_primary_key: bool | None = None
    is_unique: bool | None = None
    is_index: bool | None = None
    auto_increment: bool | None = None
    reference: ForeignRef | None = None
    has_description: bool = False
    description: str | None = None

    @property
    def type_given(self) -> bool:
        return self.type is not None or self.db_type is not None


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table to create: `name` is its API name (`schema.name` outside the first schema)."""

    name: str
    fields: tuple[FieldSpec, ...]
    has_description: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CreateTable:
    """Create `spec`'s table with its fields, keys, indexes and comments."""

    spec: TableSpec


@dataclass(frozen=True, slots=True)
class AlterTable:
    """Change an existing table: drop fields, then add fields, then alter fields."""

    table: Table
    add: tuple[FieldSpec, ...] = ()
    alter: tuple[FieldSpec, ...] = ()
    drop: tuple[str, ...] = ()
    has_description: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DropTable:
    """Drop a table (never CASCADE: dependent objects make it fail)."""

    table: Table


Change = CreateTable | AlterTable | DropTable
Action = Literal[
    "create_table", "drop_table", "add", "alter", "drop", "reference", "index", "comment"
]


@dataclass(frozen=True, slots=True)
class Step:
    """One statement, and what it does to which table and field (for error messages)."""

    statement: sql.Composed
    action: Action
    table: str
    field: str | None = None
    type_text: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedType:
    """A field's PostgreSQL type: SQL to render, its `format_type` spelling, whether integer."""

    sql: sql.Composable
    catalog: str
    integer: bool
    text: str


def check_name(name: object, what: str = "field") -> str:
    """Return `name` if it is a valid unquoted-style PostgreSQL identifier; raise DdlError."""
    if (
        not isinstance(name, str)
        or not NAME_PATTERN.match(name)
        or len(name.encode()) > MAX_NAME_BYTES
    ):
        shown = name if isinstance(name, str) else str(name)
        raise DdlError(f"Invalid {what} name '{shown[:100]}'.")
    return name


def split_table_name(name: str, schemas: Sequence[str]) -> tuple[str, str, str]:
    """Return (schema, table, API name) for an API table name; raise DdlError.

    A bare name lives in the service's first schema; `schema.name` in another
    schema the service exposes.
    """
    parts = name.split(".") if isinstance(name, str) else [name]
    if len(parts) == 2 and parts[0] in schemas:
        schema, bare = parts[0], check_name(parts[1], "table")
    elif len(parts) == 2 and NAME_PATTERN.match(parts[0]) and NAME_PATTERN.match(parts[1]):
        raise DdlError(f"Schema '{parts[0]}' is not exposed by this service.")
    else:
        schema, bare = schemas[0], check_name(name, "table")
    api_name = bare if schema == schemas[0] else f"{schema}.{bare}"
    return schema, bare, api_name


def apply_schema_changes(
    conn: psycopg.Connection[Any], snapshot: SchemaSnapshot, changes: Sequence[Change]
) -> list[str]:
    """Run `changes` in order on `conn` (inside the caller's transaction).

    Returns the API names of the tables changed, in order. Raises DdlError
    for anything the request got wrong or the database refused (the caller's
    transaction must then be rolled back), and psycopg.OperationalError when
    the connection fails.
    """
    created: dict[str, tuple[str, str, TableSpec]] = {}
    names: list[str] = []
    for change in changes:
        if isinstance(change, CreateTable):
            schema, bare, api_name = split_table_name(change.spec.name, snapshot.schemas)
            if api_name in created:
                raise DdlError(f"Table '{api_name}' is given more than once.")
            created[api_name] = (schema, bare, change.spec)
            steps = create_steps(snapshot, change.spec, (schema, bare, api_name), created)
        elif isinstance(change, AlterTable):
            api_name = change.table.name
            steps = alter_steps(snapshot, change, created)
        else:
            api_name = change.table.name
            target = sql.Identifier(change.table.sql_schema, change.table.sql_name)
            steps = [Step(sql.SQL("DROP TABLE {}").format(target), "drop_table", api_name)]
        for step in steps:
            run_step(conn, step)
        names.append(api_name)
    return names


def run_step(conn: psycopg.Connection[Any], step: Step) -> None:
    """Execute one step; a server error becomes the DdlError a client sees."""
    try:
        conn.execute(step.statement, prepare=False)
    except psycopg.Error as error:
        translated = translate_error(error, step)
        if translated is None:
            raise
        raise translated from None


def create_steps(
    snapshot: SchemaSnapshot,
    spec: TableSpec,
    where: tuple[str, str, str],
    created: Mapping[str, tuple[str, str, TableSpec]],
) -> list[Step]:
    """The statements creating one table: CREATE TABLE, then indexes and comments."""
    schema, bare, api_name = where
    if not spec.fields:
        raise DdlError(f"Table '{api_name}' needs at least one field.")
    target = sql.Identifier(schema, bare)
    seen: set[str] = set()
    items: list[sql.Composable] = []
    keys: list[str] = []
    later: list[Step] = []
    for item in spec.fields:
        name = check_name(item.name)
        if name in seen:
            raise DdlError(f"Field '{name}' is given more than once in table '{api_name}'.")
        seen.add(name)
        if not item.type_given:
            raise DdlError(f"Field '{name}' needs a type.")
        items.append(column_definition(snapshot, item, api_name, created, inline_key=False))
        if item.type == "id" or item.is_primary_key:
            keys.append(name)
        later.extend(field_extras((schema, bare), api_name, item))
    if keys:
        items.append(
            sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, keys)))
        )
    statement = sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(items))
    steps = [Step(statement, "create_table", api_name)]
    steps.extend(later)
    if spec.has_description:
        steps.append(
            Step(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(spec.description)),
                "comment",
                api_name,
            )
        )
    return steps


def alter_steps(
    snapshot: SchemaSnapshot, change: AlterTable, created: Mapping[str, tuple[str, str, TableSpec]]
) -> list[Step]:
    """The statements changing one table: drops, additions, then alterations."""
    table = change.table
    api_name = table.name
    target = sql.Identifier(table.sql_schema, table.sql_name)
    steps: list[Step] = []
    for name in change.drop:
        steps.append(
            Step(
                sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(target, sql.Identifier(name)),
                "drop",
                api_name,
                name,
            )
        )
    for item in change.add:
        name = check_name(item.name)
        if not item.type_given:
            raise DdlError(f"Field '{name}' needs a type.")
        definition = column_definition(snapshot, item, api_name, created, inline_key=True)
        steps.append(
            Step(
                sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(target, definition),
                "add",
                api_name,
                name,
            )
        )
        steps.extend(field_extras((table.sql_schema, table.sql_name), api_name, item))
    for item in change.alter:
        steps.extend(alter_field_steps(snapshot, table, item, created))
    if change.has_description:
        steps.append(
            Step(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    target, sql.Literal(change.description)
                ),
                "comment",
                api_name,
            )
        )
    return steps


def column_definition(
    snapshot: SchemaSnapshot,
    item: FieldSpec,
    table: str,
    created: Mapping[str, tuple[str, str, TableSpec]],
    *,
    inline_key: bool,
) -> sql.Composable:
    """`name type [identity] [NOT NULL] [DEFAULT …] [UNIQUE] [PRIMARY KEY] [REFERENCES …]`."""
    resolved = resolve_type(item)
    parts: list[sql.Composable] = [sql.Identifier(item.name), resolved.sql]
    is_id = item.type == "id"
    if is_id or item.auto_increment:
        if not resolved.integer:
            raise DdlError(f"Field '{item.name}' must have an integer type to auto-increment.")
        parts.append(sql.SQL("GENERATED BY DEFAULT AS IDENTITY"))
    if is_id or item.is_primary_key or item.allow_null is False:
        parts.append(sql.SQL("NOT NULL"))
    if item.has_default and item.default is not None and not (is_id or item.auto_increment):
        parts.append(sql.SQL("DEFAULT {}").format(default_sql(item.default)))
    elif item.type in TIMESTAMP_DEFAULT_TYPES and not item.has_default:
        parts.append(sql.SQL("DEFAULT now()"))
    if item.is_unique and not (is_id or item.is_primary_key):
        parts.append(sql.SQL("UNIQUE"))
    if inline_key and (is_id or item.is_primary_key):
        parts.append(sql.SQL("PRIMARY KEY"))
    if item.reference is not None:
        parts.append(references_sql(snapshot, item.reference, item.name, created))
    return sql.SQL(" ").join(parts)


def field_extras(where: tuple[str, str], table: str, item: FieldSpec) -> list[Step]:
    """The index and comment of a new field, as separate statements."""
    steps: list[Step] = []
    if item.is_index:
        steps.append(index_step(where, table, item.name))
    if item.has_description:
        steps.append(comment_step(where, table, item))
    return steps


def index_step(where: tuple[str, str], table: str, name: str) -> Step:
    # A name of our own (table_column_idx) makes "IF NOT EXISTS" work, so
    # asking for an index twice does nothing the second time.
    index = f"{where[1]}_{name}_idx".encode()[:MAX_NAME_BYTES].decode(errors="ignore")
    statement = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
        sql.Identifier(index), sql.Identifier(*where), sql.Identifier(name)
    )
    return Step(statement, "index", table, name)


def comment_step(where: tuple[str, str], table: str, item: FieldSpec) -> Step:
    column = sql.Identifier(*where, item.name)
    statement = sql.SQL("COMMENT ON COLUMN {} IS {}").format(column, sql.Literal(item.description))
    return Step(statement, "comment", table, item.name)


def alter_field_steps(
    snapshot: SchemaSnapshot,
    table: Table,
    item: FieldSpec,
    created: Mapping[str, tuple[str, str, TableSpec]],
) -> list[Step]:
    """The statements changing what `item` gives of an existing column, and nothing else.

    What already holds (same type, same nullability, identity, key, unique,
    foreign key) is not asked again, so sending a field's whole current
    definition back changes nothing.
    """
    column = table.column(item.name)
    if column is None:
        raise DdlError(f"Field '{item.name}' does not exist in table '{table.name}'.", 404)
    target = sql.Identifier(table.sql_schema, table.sql_name)
    name = sql.Identifier(item.name)
    api_name = table.name
    steps: list[Step] = []

    def alter(clause: sql.Composable, type_text: str | None = None) -> None:
        statement = sql.SQL("ALTER TABLE {} ALTER COLUMN {} {}").format(target, name, clause)
        steps.append(Step(statement, "alter", api_name, item.name, type_text))

    is_id = item.type == "id"
    wants_identity = is_id or bool(item.auto_increment)
    if item.type_given:
        resolved = resolve_type(item)
        # An auto-numbered integer key stays as it is when asked to be an "id".
        keeps_id = is_id and column.auto and column.json_kind == "integer"
        if resolved.catalog != column.type_name.lower() and not keeps_id:
            alter(
                sql.SQL("TYPE {} USING {}::{}").format(resolved.sql, name, resolved.sql),
                resolved.text,
            )
        if wants_identity and not resolved.integer:
            raise DdlError(f"Field '{item.name}' must have an integer type to auto-increment.")
    if (is_id or item.allow_null is False or item.is_primary_key) and column.nullable:
        alter(sql.SQL("SET NOT NULL"))
    elif item.allow_null is True and not column.nullable and not is_id:
        alter(sql.SQL("DROP NOT NULL"))
    if wants_identity and not column.is_identity:
        alter(sql.SQL("ADD GENERATED BY DEFAULT AS IDENTITY"))
    elif item.has_default and not (wants_identity or column.is_identity or column.is_generated):
        if item.default is None:
            alter(sql.SQL("DROP DEFAULT"))
        else:
            alter(sql.SQL("SET DEFAULT {}").format(default_sql(item.default)))
    if (is_id or item.is_primary_key) and item.name not in table.primary_key:
        statement = sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(target, name)
        steps.append(Step(statement, "alter", api_name, item.name))
    already_unique = (item.name,) in table.unique or table.primary_key == (item.name,)
    if item.is_unique and not already_unique and not (is_id or item.is_primary_key):
        statement = sql.SQL("ALTER TABLE {} ADD UNIQUE ({})").format(target, name)
        steps.append(Step(statement, "alter", api_name, item.name))
    if item.reference is not None and not any(
        fk.columns == (item.name,) for fk in table.foreign_keys
    ):
        statement = sql.SQL("ALTER TABLE {} ADD FOREIGN KEY ({}) {}").format(
            target, name, references_sql(snapshot, item.reference, item.name, created)
        )
        steps.append(Step(statement, "reference", api_name, item.name))
    if item.is_index:
        steps.append(index_step((table.sql_schema, table.sql_name), api_name, item.name))
    if item.has_description:
        steps.append(comment_step((table.sql_schema, table.sql_name), api_name, item))
    return steps


def resolve_type(item: FieldSpec) -> ResolvedType:
    """The PostgreSQL type of a field from its simple `type` or its `db_type`; raise DdlError."""
    if item.db_type is not None:
        text = " ".join(item.db_type.lower().split())
        if len(text) > MAX_DB_TYPE_LENGTH or not DB_TYPE_PATTERN.match(text):
            raise DdlError(f"Invalid db_type for field '{item.name}'.")
        # Checked against the pattern above: a type name, never an expression.
        return ResolvedType(
            sql.SQL(text),
            text,
            text.split("(")[0].split(" ")[0] in RAW_INTEGER_TYPES,
            text,
        )
    kind = (item.type or "").lower()
    if kind in FIXED_TYPES:
        text, catalog = FIXED_TYPES[kind]
        return ResolvedType(sql.SQL(text), catalog, text in INTEGER_TYPES, text)
    if kind == "string":
        size = item.size
        if size is None:
            if item.fixed_length:
                return ResolvedType(sql.SQL("char(1)"), "character(1)", False, "char(1)")
            return ResolvedType(sql.SQL("text"), "text", False, "text")
        if not 1 <= size <= MAX_VARCHAR:
            raise DdlError(f"Invalid size for field '{item.name}'.")
        base = "char" if item.fixed_length else "varchar"
        catalog = f"{'character' if item.fixed_length else 'character varying'}({size})"
        return ResolvedType(
            sql.SQL(base + "({})").format(sql.Literal(size)),
            catalog,
            False,
            f"{base}({size})",
        )
    if kind in {"decimal", "numeric"}:
        precision = item.precision if item.precision is not None else item.size
        if precision is None:
            return ResolvedType(sql.SQL("numeric"), "numeric", False, "numeric")
        scale = item.scale or 0
        if not 1 <= precision <= MAX_NUMERIC_PRECISION or not 0 <= scale <= precision:
            raise DdlError(f"Invalid precision or scale for field '{item.name}'.")
        return ResolvedType(
            sql.SQL("numeric({}, {})").format(sql.Literal(precision), sql.Literal(scale)),
            f"numeric({precision},{scale})",
            False,
            f"numeric({precision},{scale})",
        )
    raise DdlError(f"Invalid type '{str(item.type)[:40]}' for field '{item.name}'.")


def default_sql(value: object) -> sql.Composable:
    """A DEFAULT expression: a fixed expression DreamFactory allows, else a quoted literal."""
    if isinstance(value, str):
        expression = DEFAULT_EXPRESSIONS.get(value.strip().lower())
        if expression is not None:
            return sql.SQL(expression)
    if isinstance(value, dict | list):
        return sql.Literal(Jsonb(value))
    if value is None or isinstance(value, str | int | float | bool):
        return sql.Literal(value)
    raise DdlError("Invalid default value.")


def references_sql(
    snapshot: SchemaSnapshot,
    ref: ForeignRef,
    field_name: str,
    created: Mapping[str, tuple[str, str, TableSpec]],
) -> sql.Composable:
    """`REFERENCES table (field) [ON DELETE …] [ON UPDATE …]`; raise DdlError for a bad target."""
    missing = DdlError(
        f"Referenced table '{str(ref.table)[:100]}' of field '{field_name}' does not exist."
    )
    target_field = ref.field
    if ref.table in created:
        schema, bare, spec = created[ref.table]
        if target_field is None:
            keys = [f.name for f in spec.fields if f.type == "id" or f.is_primary_key]
            target_field = keys[0] if len(keys) == 1 else None
    else:
        table = snapshot.table(ref.table)
        if table is None or table.is_view:
            raise missing
        schema, bare = table.sql_schema, table.sql_name
        if target_field is None and len(table.primary_key) == 1:
            target_field = table.primary_key[0]
    if target_field is None:
        raise DdlError(f"Give ref_field for field '{field_name}': its table has no single key.")
    parts: list[sql.Composable] = [
        sql.SQL("REFERENCES {} ({})").format(
            sql.Identifier(schema, bare), sql.Identifier(check_name(target_field))
        )
    ]
    for clause, action in (("ON DELETE", ref.on_delete), ("ON UPDATE", ref.on_update)):
        if action is None:
            continue
        rendered = REF_ACTIONS.get(" ".join(action.lower().split()))
        if rendered is None:
            raise DdlError(
                f"Invalid {clause.lower().replace(' ', '_')} action for field '{field_name}'."
            )
        parts.append(sql.SQL(f"{clause} {rendered}"))
    return sql.SQL(" ").join(parts)


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
