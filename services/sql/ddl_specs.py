"""What a schema change is: field and table specs, the type map, names and defaults.

One rule: a spec is only ever turned into SQL through this module's checks:
names follow PostgreSQL's identifier rules and are quoted, types come from
DreamFactory's simple types or a `db_type` matching a strict pattern, and
defaults are quoted literals or one of a few fixed expressions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from psycopg import sql
from psycopg.types.json import Jsonb

from services.sql.errors import QueryError
from services.sql.schema import Table

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
