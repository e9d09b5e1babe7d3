"""The schema snapshot: immutable values describing one service's tables, views and routines.

One rule: a snapshot never changes once built; a schema change produces a new
snapshot with a new `version`. Everything that caches per schema (viewsets,
OpenAPI, compiled policies) keys on `(service, version)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

TableKind = Literal["table", "view", "materialized_view", "foreign_table"]
RelationKind = Literal["belongs_to", "has_many", "many_many"]
ArgMode = Literal["IN", "OUT", "INOUT", "VARIADIC", "TABLE"]
RoutineKind = Literal["function", "procedure"]

# How a column's values travel in JSON (API.md "Envelopes and types").
JsonKind = Literal[
    "integer",  # int2/int4/int8 (and their domains)
    "number",  # numeric, float4/float8, money is NOT here (it is "string")
    "boolean",
    "string",  # text-like, uuid, enum, inet/cidr/macaddr, ranges, bytea (base64), money...
    "date",  # date  -> "YYYY-MM-DD"
    "datetime",  # timestamp / timestamptz -> ISO 8601 (timestamptz in UTC with offset)
    "time",  # time / timetz
    "interval",  # interval -> ISO 8601 duration
    "json",  # json / jsonb, inline
    "geojson",  # PostGIS geometry / geography -> GeoJSON object
    "array",  # any array; see Column.element_kind
]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table or view.

    type_name: `format_type()` text, e.g. "numeric(12,2)", "text[]", "contact_status",
        "geography(Point,4326)", "timestamp with time zone".
    base_type: the type after resolving domains and arrays, by its `pg_type.typname`
        (e.g. "numeric", "text", "contact_status", "geography", "int8", "timestamptz").
    json_kind: how values travel in JSON (see JsonKind); for arrays "array" and
        `element_kind` is the element's kind.
    enum_labels: the labels, in order, when the base type is an enum, else None.
    default: the default expression text (`pg_get_expr`), or None.
    auto: True for identity, serial (nextval default) and generated columns: the
        database fills them in.
    """

    name: str
    position: int
    type_name: str
    base_type: str
    json_kind: JsonKind
    nullable: bool
    default: str | None = None
    is_identity: bool = False
    is_generated: bool = False
    auto: bool = False
    element_kind: JsonKind | None = None
    array_dimensions: int = 0
    enum_labels: tuple[str, ...] | None = None
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    domain: str | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A foreign key of `Table`: its `columns` reference `ref_table`'s `ref_columns`."""

    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str  # the API name of the referenced table (see SchemaSnapshot.tables)
    ref_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Relationship:
    """A named relation from one table to another, DreamFactory-style.

    belongs_to  `<ref_table>_by_<fk_columns joined by _>`: this table's `columns`
                reference `ref_table.ref_columns`; one object or null.
    has_many    `<ref_table>_by_<fk_columns>`: `ref_table.ref_columns` reference this
                table's `columns`; an array.
    many_many   `<ref_table>_by_<junction>`: through `junction`, whose
                `junction_columns` reference this table's `columns` and whose
                `junction_ref_columns` reference `ref_table.ref_columns`; an array.
    """

    name: str
    kind: RelationKind
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    junction: str | None = None
    junction_columns: tuple[str, ...] = ()
    junction_ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """A table, view, materialized view or foreign table, under its API name.

    `name` is the API name: the bare name for the service's first exposed schema,
    `schema.name` for the others. `sql_schema`/`sql_name` are what SQL quotes.
    Views have no primary key unless one can be inferred (they have none here).
    """

    name: str
    sql_schema: str
    sql_name: str
    kind: TableKind
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    comment: str | None = None
    by_name: Mapping[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.by_name:
            object.__setattr__(self, "by_name", {column.name: column for column in self.columns})

    def column(self, name: str) -> Column | None:
        """Return the column called `name`, or None."""
        return self.by_name.get(name)

    def relationship(self, name: str) -> Relationship | None:
        """Return the relationship called `name`, or None."""
        return next((rel for rel in self.relationships if rel.name == name), None)

    @property
    def is_view(self) -> bool:
        return self.kind != "table" and self.kind != "foreign_table"


@dataclass(frozen=True, slots=True)
class Argument:
    """One argument of a function or procedure (mode TABLE: a RETURNS TABLE column)."""

    name: str  # may be "" for unnamed arguments
    mode: ArgMode
    type_name: str
    base_type: str
    json_kind: JsonKind
    has_default: bool = False


@dataclass(frozen=True, slots=True)
class Routine:
    """A function or procedure under its API name (as for tables).

    returns_set: True for SETOF / RETURNS TABLE; result_columns: the columns of a
    composite or RETURNS TABLE result (empty for a scalar return); return_type:
    `format_type()` of the result ("void" for procedures and void functions);
    return_base_type / return_kind: the result type resolved as for columns
    (how a scalar result travels in JSON).
    Overloaded routines: `SchemaSnapshot.routines` keeps the first by oid under
    the name, and that one holds the others, by oid, in `overloads` (a function
    and a procedure of one name are overloads of each other too).
    """

    name: str
    sql_schema: str
    sql_name: str
    kind: RoutineKind
    arguments: tuple[Argument, ...]
    return_type: str
    returns_set: bool = False
    result_columns: tuple[Argument, ...] = ()
    comment: str | None = None
    return_base_type: str = ""
    return_kind: JsonKind = "string"
    overloads: tuple[Routine, ...] = ()

    def variants(self) -> tuple[Routine, ...]:
        """This routine and its overloads, by oid."""
        return (self, *self.overloads)


@dataclass(frozen=True, slots=True)
class SchemaSnapshot:
    """Everything a service exposes, at one `version` (a catalog fingerprint)."""

    version: str
    schemas: tuple[str, ...]
    server_version: str
    tables: Mapping[str, Table]
    routines: Mapping[str, Routine]

    def table(self, name: str) -> Table | None:
        """Return the table or view with API name `name`, or None."""
        return self.tables.get(name)
