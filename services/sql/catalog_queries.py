"""The pg_catalog queries behind `services.sql.catalog`, and the typed rows they return.

One rule: every query here is a static string with bound parameters, runs once
per introspection (never once per table) and reads `pg_catalog` directly;
`information_schema` is far slower and hides objects the service user may not
own. Callers pass object oids as `list[int]` (bound as `oid[]`) and schema
names as `list[str]`. Each row dataclass lists its fields in the order and
under the names of its query's select list: rows are built positionally
(`args_row`, half the cost of by-name `class_row` on thousands of columns),
and tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg.rows import args_row, tuple_row

# Relation kinds the API serves: tables, partitioned tables, views, materialized
# views, foreign tables. Partitions are reached through their parent and
# objects owned by an extension (PostGIS's spatial_ref_sys and its
# geometry_columns / geography_columns views) are not part of the user's schema.
# The relations a service exposes (`c` in pg_class, `n` its namespace; the
# schemas are the one parameter): tables, partitioned tables, views,
# materialized views and foreign tables, less partitions and extension members.
EXPOSED_RELATION: Final = """n.nspname = ANY(%s)
    AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND NOT c.relispartition
    AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_depend e
        WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e'
    )"""
RELATIONS: Final = (
    """
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind, d.description AS comment
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
    ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE """
    + EXPOSED_RELATION
    + """
ORDER BY n.nspname, c.relname
"""
)

# Columns of the given relations (also of composite types a function returns).
# For generated columns pg_attrdef holds the generation expression, not a default.
COLUMNS: Final = """
SELECT a.attrelid AS relid, a.attnum AS position, a.attname AS name,
    pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name,
    a.atttypid AS type_oid, a.atttypmod AS typmod, a.attndims AS dimensions,
    a.attnotnull AS not_null, a.attidentity AS identity, a.attgenerated AS generated,
    pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default_expr, d.description AS comment
FROM pg_catalog.pg_attribute a
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
    ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
    AND d.objsubid = a.attnum
WHERE a.attrelid = ANY(%s::pg_catalog.oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Primary keys, unique constraints and foreign keys. Keys are attnums in key
# order (conkey's order, not attnum's); `catalog` names them from the columns it
# reads anyway, which costs far less than a lookup per constraint here.
# conparentid <> 0 rows are the copies PostgreSQL makes for partitions of a
# referenced partitioned table.
CONSTRAINTS: Final = """
SELECT con.conrelid AS relid, con.conname AS name, con.contype AS kind, con.conkey AS keys,
    con.confrelid AS ref_relid, fn.nspname AS ref_schema, fc.relname AS ref_name,
    con.confkey AS ref_keys
FROM pg_catalog.pg_constraint con
LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid = ANY(%s::pg_catalog.oid[])
    AND con.contype IN ('p', 'u', 'f')
    AND con.conparentid = 0
ORDER BY con.conrelid, con.conname
"""

# Functions and procedures; aggregates and window functions are not callable
# on their own, trigger functions not at all, and extension functions (PostGIS
# puts ~750 into public) are not the user's API. Ordered by oid: the first of
# an overloaded name leads, the others are its overloads.
ROUTINES: Final = """
SELECT p.oid, n.nspname AS schema, p.proname AS name, p.prokind AS kind,
    p.proretset AS returns_set, p.prorettype AS return_oid,
    pg_catalog.format_type(p.prorettype, NULL) AS return_type, rt.typrelid AS return_relid,
    p.proargtypes::pg_catalog.oid[] AS in_types, p.proallargtypes AS all_types,
    p.proargmodes AS modes, p.proargnames AS names, p.pronargdefaults AS defaults,
    d.description AS comment
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_type rt ON rt.oid = p.prorettype
LEFT JOIN pg_catalog.pg_description d
    ON d.objoid = p.oid AND d.classoid = 'pg_catalog.pg_proc'::regclass AND d.objsubid = 0
WHERE n.nspname = ANY(%s)
    AND p.prokind IN ('f', 'p')
    AND p.prorettype NOT IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
    AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_depend e
        WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e'
    )
ORDER BY p.oid
"""

# The given types plus, transitively, the base types of domains and the element
# types of arrays, each with its enum labels in sort order.
TYPES: Final = """
WITH RECURSIVE wanted(oid) AS (
    SELECT pg_catalog.unnest(%s::pg_catalog.oid[])
    UNION
    SELECT x.oid
    FROM wanted w
    JOIN pg_catalog.pg_type t ON t.oid = w.oid
    CROSS JOIN LATERAL (
        VALUES (t.typbasetype), (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END)
    ) AS x(oid)
    WHERE x.oid <> 0
)
SELECT t.oid, n.nspname AS schema, t.typname AS name, t.typtype AS kind,
    t.typcategory = 'A' AND t.typelem <> 0 AS is_array, t.typelem AS element_oid,
    t.typbasetype AS base_oid, t.typtypmod AS typmod, t.typndims AS dimensions,
    pg_catalog.format_type(t.oid, NULL) AS type_name,
    CASE WHEN t.typtype = 'e' THEN ARRAY(
        SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
        WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder
    ) END AS enum_labels
FROM wanted w
JOIN pg_catalog.pg_type t ON t.oid = w.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
"""

SERVER_VERSION: Final = "SHOW server_version"

# One cheap statement whose md5 changes with any DDL a snapshot reflects.
# Relations are compared by content, not by their pg_class row version:
# TRUNCATE, CLUSTER and VACUUM FULL rewrite that row (relfilenode) without a
# schema change. Where a catalog row is altered in place (a column renamed,
# retyped, made NOT NULL; a function replaced; a constraint renamed; an enum
# label renamed; a comment edited) its xmin stands for its content: every such
# ALTER writes a new row version, and xmin is the raw insert xid, which freezing
# keeps. A changed default is a new pg_attrdef row. Columns and defaults, the
# only sets that grow with the schema, are summed rather than listed (count and
# sum of xmin / oid): a change removes rows and adds rows with newer xids / oids,
# so the sums move, and listing 5,000 columns would double the cost. Data
# changes touch none of these rows. Kind 'c' covers composite function results.
FINGERPRINT: Final = """
WITH ns AS (
    SELECT oid, nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY(%s)
), rel AS (
    SELECT c.oid, c.relname, c.relkind, c.relispartition
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
)
SELECT pg_catalog.md5(pg_catalog.concat_ws('|',
    (SELECT pg_catalog.string_agg(oid || ':' || nspname, ',' ORDER BY oid) FROM ns),
    (SELECT pg_catalog.string_agg(
            pg_catalog.concat_ws(':', oid, relkind, relispartition, relname), ',' ORDER BY oid)
        FROM rel),
    (SELECT pg_catalog.count(*) || ':' || pg_catalog.sum(a.xmin::text::int8)
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = ANY(ARRAY(SELECT oid FROM rel)) AND a.attnum > 0
            AND NOT a.attisdropped),
    (SELECT pg_catalog.count(*) || ':' || pg_catalog.sum(ad.oid::int8)
        FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid = ANY(ARRAY(SELECT oid FROM rel))),
    (SELECT pg_catalog.string_agg(k.oid || ':' || k.xmin, ',' ORDER BY k.oid)
        FROM pg_catalog.pg_constraint k
        WHERE k.connamespace IN (SELECT oid FROM ns) AND k.contype IN ('p', 'u', 'f')),
    (SELECT pg_catalog.string_agg(p.oid || ':' || p.xmin, ',' ORDER BY p.oid)
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace IN (SELECT oid FROM ns) AND p.prokind IN ('f', 'p')),
    (SELECT pg_catalog.string_agg(e.oid || ':' || e.xmin, ',' ORDER BY e.oid)
        FROM pg_catalog.pg_enum e JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid
        WHERE t.typnamespace IN (SELECT oid FROM ns)),
    (SELECT pg_catalog.string_agg(
            d.objoid || ':' || d.objsubid || ':' || d.x, ',' ORDER BY d.objoid, d.objsubid)
        FROM rel CROSS JOIN LATERAL (
            -- OFFSET 0 keeps one index probe per relation: a scan of all of
            -- pg_description (every built-in's comment) costs more than the rest.
            SELECT d.objoid, d.objsubid, d.xmin AS x FROM pg_catalog.pg_description d
            WHERE d.objoid = rel.oid AND d.classoid = 'pg_catalog.pg_class'::regclass OFFSET 0
        ) AS d)
))
"""


@dataclass(frozen=True, slots=True)
class RelationRow:
    """A row of RELATIONS."""

    oid: int
    schema: str
    name: str
    kind: str
    comment: str | None


@dataclass(frozen=True, slots=True)
class ColumnRow:
    """A row of COLUMNS."""

    relid: int
    position: int
    name: str
    type_name: str
    type_oid: int
    typmod: int
    dimensions: int
    not_null: bool
    identity: str
    generated: str
    default_expr: str | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class ConstraintRow:
    """A row of CONSTRAINTS (kind "p", "u" or "f"; the ref_* fields only for "f")."""

    relid: int
    name: str
    kind: str
    keys: list[int]
    ref_relid: int
    ref_schema: str | None
    ref_name: str | None
    ref_keys: list[int] | None


@dataclass(frozen=True, slots=True)
class RoutineRow:
    """A row of ROUTINES; all_types/modes/names are NULL when every argument is IN."""

    oid: int
    schema: str
    name: str
    kind: str
    returns_set: bool
    return_oid: int
    return_type: str
    return_relid: int
    in_types: list[int]
    all_types: list[int] | None
    modes: list[str] | None
    names: list[str] | None
    defaults: int
    comment: str | None


@dataclass(frozen=True, slots=True)
class TypeRow:
    """A row of TYPES."""

    oid: int
    schema: str
    name: str
    kind: str
    is_array: bool
    element_oid: int
    base_oid: int
    typmod: int
    dimensions: int
    type_name: str
    enum_labels: list[str] | None


def fetch_relations(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> list[RelationRow]:
    """Return the exposed relations of `schemas`, by schema and name."""
    with conn.cursor(row_factory=args_row(RelationRow)) as cur:
        return cur.execute(RELATIONS, [list(schemas)]).fetchall()


def fetch_columns(conn: psycopg.Connection[Any], relids: Sequence[int]) -> list[ColumnRow]:
    """Return the live columns of the relations `relids`, by relation and position."""
    with conn.cursor(row_factory=args_row(ColumnRow)) as cur:
        return cur.execute(COLUMNS, [list(relids)]).fetchall()


def fetch_constraints(conn: psycopg.Connection[Any], relids: Sequence[int]) -> list[ConstraintRow]:
    """Return the PK, unique and FK constraints of `relids`, by relation and name."""
    with conn.cursor(row_factory=args_row(ConstraintRow)) as cur:
        return cur.execute(CONSTRAINTS, [list(relids)]).fetchall()


def fetch_routines(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> list[RoutineRow]:
    """Return the callable functions and procedures of `schemas`, by oid."""
    with conn.cursor(row_factory=args_row(RoutineRow)) as cur:
        return cur.execute(ROUTINES, [list(schemas)]).fetchall()


def fetch_types(conn: psycopg.Connection[Any], type_oids: Sequence[int]) -> dict[int, TypeRow]:
    """Return the types `type_oids` and every type they are built on, by oid."""
    with conn.cursor(row_factory=args_row(TypeRow)) as cur:
        return {row.oid: row for row in cur.execute(TYPES, [list(type_oids)])}


def fetch_server_version(conn: psycopg.Connection) -> str:
    """Return the server's `server_version` setting, e.g. "15.4 (Debian 15.4-1)"."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(SERVER_VERSION).fetchone()
    return str(row[0]) if row else ""


def fetch_fingerprint(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> str:
    """Return the md5 of everything in `schemas` that a snapshot depends on."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(FINGERPRINT, [list(schemas)]).fetchone()
    return str(row[0]) if row else ""
