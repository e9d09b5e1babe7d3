"""Catalog introspection: read a service's pg_catalog into an immutable `SchemaSnapshot`.

One rule: the snapshot's `version` is the catalog fingerprint taken *before*
the catalog is read, so a snapshot is never newer than its version claims:
DDL landing mid-read at worst makes the next check rebuild a current snapshot,
never leaves a stale one looking current. `introspect` runs a fixed handful of
queries (`catalog_queries`) whatever the number of tables, best inside one
REPEATABLE READ transaction; `catalog_fingerprint` is one cheap statement.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from services.sql.catalog_queries import (
    ColumnRow,
    ConstraintRow,
    RelationRow,
    RoutineRow,
    TypeRow,
    fetch_columns,
    fetch_constraints,
    fetch_fingerprint,
    fetch_relations,
    fetch_routines,
    fetch_server_version,
    fetch_types,
)
from services.sql.schema import (
    ArgMode,
    Argument,
    Column,
    ForeignKey,
    JsonKind,
    RelationKind,
    Relationship,
    Routine,
    SchemaSnapshot,
    Table,
    TableKind,
)

__all__ = ["catalog_fingerprint", "introspect"]

TABLE_KINDS: dict[str, TableKind] = {
    "r": "table", "p": "table", "v": "view", "m": "materialized_view", "f": "foreign_table",
}  # fmt: skip
ARG_MODES: dict[str, ArgMode] = {"i": "IN", "o": "OUT", "b": "INOUT", "v": "VARIADIC", "t": "TABLE"}
# Built-in types by pg_type.typname (only trusted in schema pg_catalog).
BUILTIN_KINDS: dict[str, JsonKind] = {
    "int2": "integer", "int4": "integer", "int8": "integer",
    "numeric": "number", "float4": "number", "float8": "number",
    "bool": "boolean", "date": "date", "timestamp": "datetime", "timestamptz": "datetime",
    "time": "time", "timetz": "time", "interval": "interval", "json": "json", "jsonb": "json",
}  # fmt: skip
# PostGIS types, in whatever schema the extension was installed.
GEOJSON_TYPES = frozenset({"geometry", "geography"})
# When two relations of one table get the same name, this kind keeps it.
KIND_PRIORITY: dict[RelationKind, int] = {"belongs_to": 0, "has_many": 1, "many_many": 2}
VARHDRSZ = 4  # atttypmod of varchar/bpchar/numeric carries PostgreSQL's varlena header size


def catalog_fingerprint(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> str:
    """Return an md5 hex digest that changes with any DDL a snapshot of `schemas` reflects.

    One statement, a few milliseconds for hundreds of tables. Data changes
    (INSERT/UPDATE/DELETE/TRUNCATE, VACUUM, ANALYZE) leave it unchanged.
    """
    return fetch_fingerprint(conn, schemas)


def introspect(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> SchemaSnapshot:
    """Read the tables, views and routines of `schemas` into a `SchemaSnapshot`.

    The first schema's objects get bare API names, the others `schema.name`.
    Objects owned by extensions, partitions, aggregates, window and trigger
    functions are left out. Raises `psycopg.Error` if the catalog cannot be read
    and ValueError when `schemas` is empty.
    """
    if not schemas:
        raise ValueError("introspect() needs at least one schema")
    schemas = tuple(schemas)
    version = catalog_fingerprint(conn, schemas)  # first: see the module docstring
    server_version = fetch_server_version(conn)
    relations = fetch_relations(conn, schemas)
    routines = fetch_routines(conn, schemas)
    relids = [row.oid for row in relations]
    constraints = fetch_constraints(conn, relids)
    # Also read the columns of composite results and of tables referenced from
    # outside the exposed schemas: their names are needed, not their tables.
    others = {row.return_relid for row in routines} | {row.ref_relid for row in constraints}
    column_rows = fetch_columns(conn, [*relids, *sorted(others - {0, *relids})])
    type_oids = {row.type_oid for row in column_rows}
    for routine in routines:
        type_oids.update(routine.all_types or routine.in_types)
        type_oids.add(routine.return_oid)
    types = fetch_types(conn, sorted(type_oids))

    # Most columns share a handful of (type, typmod, dimensions): resolve each once.
    resolve: Resolver = functools.cache(functools.partial(_resolve, types))
    columns_by_rel: dict[int, list[Column]] = defaultdict(list)
    for row in column_rows:
        columns_by_rel[row.relid].append(_column(row, resolve))
    api_names = {row.oid: _api_name(schemas, row.schema, row.name) for row in relations}
    attnames = {(row.relid, row.position): row.name for row in column_rows}
    tables = _tables(schemas, relations, api_names, columns_by_rel, constraints, attnames)
    return SchemaSnapshot(
        version=version,
        schemas=schemas,
        server_version=server_version,
        tables=tables,
        routines=_routines(schemas, routines, types, resolve, columns_by_rel),
    )


def _api_name(schemas: Sequence[str], schema: str, name: str) -> str:
    return name if schema == schemas[0] else f"{schema}.{name}"


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A type after resolving domains and arrays."""

    base_type: str
    json_kind: JsonKind
    element_kind: JsonKind | None = None
    dimensions: int = 0
    enum_labels: tuple[str, ...] | None = None
    domain: str | None = None
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None


Resolver = Callable[[int, int, int], _Resolved]  # (type oid, typmod, attndims) -> _Resolved


def _resolve(types: dict[int, TypeRow], oid: int, typmod: int, dimensions: int) -> _Resolved:
    """Resolve type `oid` (with the column's typmod and attndims) down to its base type."""
    domain: str | None = None
    row = types.get(oid)
    while row is not None and row.kind == "d":
        domain = domain or row.name  # the outermost domain is the one declared
        typmod = typmod if typmod >= 0 else row.typmod  # e.g. a domain over varchar(20)
        dimensions = dimensions or row.dimensions
        row = types.get(row.base_oid)
    if row is None:  # dropped while we read the catalog; the next check rebuilds
        return _Resolved(base_type="unknown", json_kind="string", domain=domain)
    if row.is_array:
        # A column's typmod applies to the elements (varchar(20)[]); attndims is
        # 0 for view columns and domains over arrays, which are still arrays.
        element = _resolve(types, row.element_oid, typmod, 0)
        return replace(
            element,
            json_kind="array",
            element_kind=element.json_kind,
            dimensions=dimensions or 1,
            domain=domain or element.domain,
        )
    if row.schema == "pg_catalog" and row.name in BUILTIN_KINDS:
        kind = BUILTIN_KINDS[row.name]
    elif row.name in GEOJSON_TYPES:
        kind = "geojson"
    else:
        kind = "string"  # text, uuid, enums, inet, ranges, bytea, money, composites ...
    resolved = _Resolved(
        base_type=row.name,
        json_kind=kind,
        enum_labels=tuple(row.enum_labels) if row.enum_labels is not None else None,
        domain=domain,
    )
    if row.schema != "pg_catalog" or typmod < 0:
        return resolved
    if row.name in ("varchar", "bpchar") and typmod >= VARHDRSZ:
        return replace(resolved, max_length=typmod - VARHDRSZ)
    if row.name in ("bit", "varbit"):
        return replace(resolved, max_length=typmod)
    if row.name == "numeric" and typmod >= VARHDRSZ:
        packed = typmod - VARHDRSZ
        # The scale is an 11-bit two's complement number since PostgreSQL 15.
        scale = ((packed & 0x7FF) ^ 0x400) - 0x400
        return replace(resolved, precision=(packed >> 16) & 0xFFFF, scale=scale)
    return resolved


def _column(row: ColumnRow, resolve: Resolver) -> Column:
    resolved = resolve(row.type_oid, row.typmod, row.dimensions)
    is_identity = row.identity != ""
    is_generated = row.generated != ""
    # pg_attrdef holds a generated column's expression; it is not a default.
    default = None if is_generated else row.default_expr
    return Column(
        name=row.name,
        position=row.position,
        type_name=row.type_name,
        base_type=resolved.base_type,
        json_kind=resolved.json_kind,
        nullable=not row.not_null,
        default=default,
        is_identity=is_identity,
        is_generated=is_generated,
        auto=is_identity or is_generated or (default or "").startswith("nextval("),
        element_kind=resolved.element_kind,
        array_dimensions=resolved.dimensions,
        enum_labels=resolved.enum_labels,
        max_length=resolved.max_length,
        precision=resolved.precision,
        scale=resolved.scale,
        domain=resolved.domain,
        comment=row.comment,
    )


def _tables(
    schemas: Sequence[str],
    relations: Sequence[RelationRow],
    api_names: dict[int, str],
    columns_by_rel: dict[int, list[Column]],
    constraints: Sequence[ConstraintRow],
    attnames: dict[tuple[int, int], str],
) -> dict[str, Table]:
    primary_keys: dict[int, tuple[str, ...]] = {}
    unique: dict[int, list[tuple[str, ...]]] = defaultdict(list)
    foreign_keys: dict[int, list[ForeignKey]] = defaultdict(list)
    exposed_fks: dict[str, list[ForeignKey]] = defaultdict(list)
    for con in constraints:
        columns = tuple(attnames.get((con.relid, attnum), "") for attnum in con.keys)
        ref_columns = tuple(attnames.get((con.ref_relid, n), "") for n in con.ref_keys or ())
        if "" in columns or "" in ref_columns:
            continue  # a column dropped while we read: the next fingerprint check rebuilds
        if con.kind == "p":
            primary_keys[con.relid] = columns
        elif con.kind == "u":
            unique[con.relid].append(columns)
        elif con.kind == "f" and con.ref_schema is not None and con.ref_name is not None:
            # A table outside the exposed schemas (or owned by an extension) keeps
            # its qualified name; no relationship leads to it.
            ref_table = api_names.get(con.ref_relid)
            ref_table = ref_table or _api_name(schemas, con.ref_schema, con.ref_name)
            fk = ForeignKey(
                name=con.name,
                columns=columns,
                ref_schema=con.ref_schema,
                ref_table=ref_table,
                ref_columns=ref_columns,
            )
            foreign_keys[con.relid].append(fk)
            if con.ref_relid in api_names:
                exposed_fks[api_names[con.relid]].append(fk)

    relationships = _relationships(exposed_fks)
    tables: dict[str, Table] = {}
    for rel in sorted(relations, key=lambda row: api_names[row.oid]):
        name = api_names[rel.oid]
        tables[name] = Table(
            name=name,
            sql_schema=rel.schema,
            sql_name=rel.name,
            kind=TABLE_KINDS[rel.kind],
            columns=tuple(columns_by_rel.get(rel.oid, ())),
            primary_key=primary_keys.get(rel.oid, ()),
            unique=tuple(unique.get(rel.oid, ())),
            foreign_keys=tuple(foreign_keys.get(rel.oid, ())),
            relationships=relationships.get(name, ()),
            comment=rel.comment,
        )
    return tables


def _relationships(
    fks_by_table: dict[str, list[ForeignKey]],
) -> dict[str, tuple[Relationship, ...]]:
    """Name every relation DreamFactory-style, per table, deduplicated and sorted by name.

    `fks_by_table` holds only foreign keys between exposed tables. A clash
    (e.g. a self-reference's belongs_to and has_many) keeps the bare name for
    belongs_to, then has_many, then many_many, then by referencing table and
    constraint name; later ones get `_2`, `_3` ...
    """
    found: dict[str, list[Relationship]] = defaultdict(list)
    for table in sorted(fks_by_table):
        fks = fks_by_table[table]
        for fk in fks:
            by = "_".join(fk.columns)
            # Relationship(name, kind, columns, ref_table, ref_columns)
            belongs_to = Relationship(
                f"{fk.ref_table}_by_{by}", "belongs_to", fk.columns, fk.ref_table, fk.ref_columns
            )
            found[table].append(belongs_to)
            has_many = Relationship(
                f"{table}_by_{by}", "has_many", fk.ref_columns, table, fk.columns
            )
            found[fk.ref_table].append(has_many)
        # Any table with two or more foreign keys may join what they reference.
        for near in fks if len(fks) >= 2 else ():
            for far in fks:
                if far is near:
                    continue
                found[near.ref_table].append(
                    Relationship(
                        name=f"{far.ref_table}_by_{table}",
                        kind="many_many",
                        columns=near.ref_columns,
                        ref_table=far.ref_table,
                        ref_columns=far.ref_columns,
                        junction=table,
                        junction_columns=near.columns,
                        junction_ref_columns=far.columns,
                    )
                )
    return {table: _unique_names(rels) for table, rels in found.items()}


def _unique_names(relationships: Iterable[Relationship]) -> tuple[Relationship, ...]:
    # sorted() is stable: within one kind, discovery order (table, constraint name) decides.
    ordered = sorted(relationships, key=lambda rel: KIND_PRIORITY[rel.kind])
    taken: set[str] = set()
    named: list[Relationship] = []
    for rel in ordered:
        name, suffix = rel.name, 2
        while name in taken:
            name, suffix = f"{rel.name}_{suffix}", suffix + 1
        taken.add(name)
        named.append(rel if name == rel.name else replace(rel, name=name))
    return tuple(sorted(named, key=lambda rel: rel.name))


def _routines(
    schemas: Sequence[str],
    rows: Sequence[RoutineRow],
    types: dict[int, TypeRow],
    resolve: Resolver,
    columns_by_rel: dict[int, list[Column]],
) -> dict[str, Routine]:
    by_name: dict[str, list[Routine]] = defaultdict(list)
    for row in rows:  # ordered by oid: the first of an overloaded name leads
        name = _api_name(schemas, row.schema, row.name)
        by_name[name].append(_routine(name, row, types, resolve, columns_by_rel))
    return {
        name: replace(first, overloads=tuple(others))
        for name, (first, *others) in sorted(by_name.items())
    }


def _routine(
    name: str,
    row: RoutineRow,
    types: dict[int, TypeRow],
    resolve: Resolver,
    columns_by_rel: dict[int, list[Column]],
) -> Routine:
    arg_types = row.all_types or row.in_types
    modes = [ARG_MODES[mode] for mode in row.modes or ["i"] * len(arg_types)]
    names = row.names or []
    # pronargdefaults counts the *last* input arguments (IN, INOUT, VARIADIC).
    inputs = [i for i, mode in enumerate(modes) if mode in ("IN", "INOUT", "VARIADIC")]
    defaulted = set(inputs[len(inputs) - row.defaults :]) if row.defaults else set()
    arguments: list[Argument] = []
    for i, (oid, mode) in enumerate(zip(arg_types, modes, strict=True)):
        resolved = resolve(oid, -1, 0)
        type_row = types.get(oid)
        arguments.append(
            Argument(
                name=names[i] if i < len(names) else "",
                mode=mode,
                type_name=type_row.type_name if type_row else "unknown",
                base_type=resolved.base_type,
                json_kind=resolved.json_kind,
                has_default=i in defaulted,
            )
        )
    table_args = tuple(arg for arg in arguments if arg.mode == "TABLE")
    out_args = tuple(arg for arg in arguments if arg.mode in ("OUT", "INOUT"))
    if table_args:  # RETURNS TABLE (...)
        result_columns = table_args
    elif row.return_relid:  # a composite type: SETOF a_table, or a CREATE TYPE ... AS (...)
        result_columns = tuple(
            Argument(col.name, "TABLE", col.type_name, col.base_type, col.json_kind)
            for col in columns_by_rel.get(row.return_relid, ())
        )
    elif out_args and (row.kind == "p" or row.return_type == "record"):
        result_columns = out_args  # one row of the OUT / INOUT arguments
    else:
        result_columns = ()
    returned = resolve(row.return_oid, -1, 0)
    return Routine(
        name=name,
        sql_schema=row.schema,
        sql_name=row.name,
        kind="procedure" if row.kind == "p" else "function",
        arguments=tuple(arg for arg in arguments if arg.mode != "TABLE"),
        # A procedure with OUT arguments has prorettype record; it returns no value.
        return_type="void" if row.kind == "p" else row.return_type,
        returns_set=row.returns_set,
        result_columns=result_columns,
        comment=row.comment,
        return_base_type="void" if row.kind == "p" else returned.base_type,
        return_kind=returned.json_kind,
    )
