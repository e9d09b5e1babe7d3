"""Build the INSERT, UPDATE and DELETE statements of table writes under a caller's policy.

One rule: records travel as one bound `jsonb` document per statement and
PostgreSQL's own input functions turn them into column values
(`jsonb_populate_record`), so every type is cast exactly as the server casts
it; identifiers come only from the catalog; the policy's row filter is ANDed
into every UPDATE and DELETE and checked, in the same statement, on every
row a write creates or changes.

Each statement yields one row: (rows outside the row filter, the result
records as JSON texts in request order, rows touched). Records are checked
and prepared by `services.sql.write_records`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from services.sql.ast import Expr
from services.sql.clauses import Compiler, select_list
from services.sql.policy import Policy
from services.sql.schema import Column, Table
from services.sql.write_records import Prepared, WriteTarget, dump_document

# The ordinal of each record in its statement's document, returned by keyed
# updates and deletes so results can be put back in request order.
ORDINAL = "__sluicegate_n"
SRID = re.compile(r",\s*(\d+)\s*\)\s*$")
JSON_TYPES = {"json": sql.SQL("json"), "jsonb": sql.SQL("jsonb")}
UNRESTRICTED = Policy()


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement and its bound parameters; yields (denied, results text[], count)."""

    query: sql.Composed
    params: tuple[object, ...]


# --- statements ---------------------------------------------------------------------


def table_ref(table: Table) -> sql.Identifier:
    return sql.Identifier(table.sql_schema, table.sql_name)


def srid_of(column: Column) -> int | None:
    match = SRID.search(column.type_name)
    return int(match.group(1)) if match else None


def read_raw(column: Column) -> bool:
    """Whether the column's value is read from the document itself, not from the populated row."""
    return (column.base_type == "bytea" and column.json_kind != "array") or column.json_kind in (
        "geojson",
        "json",
    )


def value_expr(column: Column) -> sql.Composable:
    """The SQL expression giving `column`'s new value from the record `r` / document `e.doc`."""
    name = sql.Literal(column.name)
    if column.base_type == "bytea" and column.json_kind != "array":
        return sql.SQL("decode(e.doc ->> {}, 'base64')").format(name)
    if column.json_kind == "geojson":
        geometry: sql.Composable = sql.SQL("ST_GeomFromGeoJSON(e.doc ->> {})").format(name)
        srid = srid_of(column)
        if srid is None and column.base_type == "geography":
            srid = 4326
        if srid is not None:
            geometry = sql.SQL("ST_SetSRID({}, {})").format(geometry, sql.Literal(srid))
        if column.base_type == "geography":
            geometry = sql.SQL("CAST({} AS geography)").format(geometry)
        return geometry
    if column.json_kind == "json":
        json_type = JSON_TYPES.get(column.base_type, JSON_TYPES["jsonb"])
        return sql.SQL("CAST(e.doc ->> {} AS {})").format(name, json_type)
    return sql.SQL("r.{}").format(sql.Identifier(column.name))


def records_from(
    compiler: Compiler, table: Table, document: str, raw: Sequence[Column]
) -> sql.Composed:
    """`jsonb_array_elements(doc) … AS e(doc, n) CROSS JOIN LATERAL jsonb_populate_record(…) AS r`."""
    doc: sql.Composable = sql.SQL("e.doc")
    if raw:
        names = sql.SQL(", ").join(sql.Literal(column.name) for column in raw)
        doc = sql.SQL("e.doc - ARRAY[{}]::text[]").format(names)
    return sql.SQL(
        "jsonb_array_elements(CAST({} AS jsonb)) WITH ORDINALITY AS e(doc, n)"
        " CROSS JOIN LATERAL jsonb_populate_record(CAST(NULL AS {}), {}) AS r"
    ).format(compiler.bind(document), table_ref(table), doc)


def key_equal(alias: sql.Identifier, key: Sequence[Column]) -> sql.Composed:
    left = sql.SQL(", ").join(Compiler.column_ref(alias, column) for column in key)
    right = sql.SQL(", ").join(value_expr(column) for column in key)
    return sql.SQL("({}) = ({})").format(left, right)


def result_tail(
    compiler: Compiler,
    target: WriteTarget,
    *,
    check: bool,
    order: sql.Composable,
    count_only: bool = False,
) -> sql.Composed:
    """The SELECT over the CTE `w` of touched rows: (denied, results, count)."""
    w = sql.Identifier("w")
    denied: sql.Composable = sql.SQL("0")
    if check and target.policy.row_filter is not None:
        condition = compiler.expr(target.policy.row_filter, target.table, w, UNRESTRICTED)
        denied = sql.SQL("(SELECT count(*) FROM w WHERE NOT coalesce(({}), false))").format(
            condition
        )
    if count_only:
        results: sql.Composable = sql.SQL("NULL::text[]")
    else:
        row = select_list(w.as_string(None), target.output) if target.output else sql.SQL("")
        results = sql.SQL(
            "(SELECT coalesce(array_agg((SELECT row_to_json(o)::text FROM (SELECT {}) AS o){}),"
            " '{{}}'::text[]) FROM w)"
        ).format(row, order)
    return sql.SQL(" SELECT {}, {}, (SELECT count(*) FROM w)").format(denied, results)


def by_ordinal() -> sql.Composed:
    return sql.SQL(" ORDER BY w.{}").format(sql.Identifier(ORDINAL))


def by_key(target: WriteTarget) -> sql.Composable:
    if not target.key:
        return sql.SQL("")
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(
        sql.SQL("w.{}").format(sql.Identifier(column.name)) for column in target.key
    )


def new_compiler(target: WriteTarget) -> Compiler:
    return Compiler(target.snapshot, target.policy_for, target.params, target.lookups)


def finish_statement(compiler: Compiler, query: sql.Composed) -> Statement:
    return Statement(query, tuple(compiler.bound))


def insert_statement(target: WriteTarget, items: Sequence[Prepared]) -> Statement:
    """INSERT of records that all set the same columns; results in their order."""
    compiler = new_compiler(target)
    table = target.table
    columns = items[0].columns
    if not columns:
        # Every column takes its default: one VALUES row of DEFAULT per record.
        first = sql.Identifier(table.columns[0].name)
        rows = sql.SQL(", ").join(sql.SQL("(DEFAULT)") for _ in items)
        cte = sql.SQL("INSERT INTO {} ({}) VALUES {} RETURNING *").format(
            table_ref(table), first, rows
        )
    else:
        source = records_from(
            compiler, table, dump_document(items), [c for c in columns if read_raw(c)]
        )
        cte = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY e.n RETURNING *").format(
            table_ref(table),
            sql.SQL(", ").join(sql.Identifier(column.name) for column in columns),
            sql.SQL(", ").join(value_expr(column) for column in columns),
            source,
        )
    # A data-modifying CTE returns rows in the order they were inserted.
    tail = result_tail(compiler, target, check=True, order=sql.SQL(""))
    return finish_statement(compiler, sql.SQL("WITH w AS ({}){}").format(cte, tail))


def update_statement(
    target: WriteTarget,
    items: Sequence[Prepared],
    *,
    client_filter: Expr | None = None,
    lock: bool = True,
) -> Statement:
    """UPDATE of rows matched by key (records carrying keys) or by `client_filter`.

    Keyed: one document entry per record, results in request order. Filtered:
    one entry applied to every match, results in key order. The row filter
    limits the rows matched and is checked on the rows as updated. Records
    that set no column only select the matching rows (locked unless `lock`
    is False: a look-up of rows the write will not change).
    """
    compiler = new_compiler(target)
    table = target.table
    alias = sql.Identifier("t0")
    keyed = client_filter is None
    columns = items[0].columns
    raw = [c for c in table.columns if read_raw(c) and c.name in items[0].values]
    source = records_from(compiler, table, dump_document(items), raw)
    extra: list[sql.Composable] = [key_equal(alias, target.key)] if keyed else []
    where = compiler.where(table, alias, target.policy, client_filter, extra)
    ordinal = sql.SQL("e.n AS {}, ").format(sql.Identifier(ORDINAL)) if keyed else sql.SQL("")
    if columns:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column.name), value_expr(column))
            for column in columns
        )
        cte = sql.SQL("UPDATE {} AS {} SET {} FROM {}{} RETURNING {}{}.*").format(
            table_ref(table), alias, assignments, source, where, ordinal, alias
        )
    else:
        # Nothing to change: the matching rows, locked as an update would lock them.
        locking = sql.SQL(" FOR UPDATE OF {}").format(alias) if lock else sql.SQL("")
        cte = sql.SQL("SELECT {}{}.* FROM {}, {} AS {}{}{}").format(
            ordinal, alias, source, table_ref(table), alias, where, locking
        )
    order: sql.Composable = by_ordinal() if keyed else by_key(target)
    tail = result_tail(compiler, target, check=bool(columns), order=order)
    return finish_statement(compiler, sql.SQL("WITH w AS ({}){}").format(cte, tail))


def delete_statement(
    target: WriteTarget,
    items: Sequence[Prepared] | None,
    *,
    client_filter: Expr | None = None,
    count_only: bool = False,
) -> Statement:
    """DELETE of rows matched by key (`items`), by `client_filter`, or of every visible row."""
    compiler = new_compiler(target)
    table = target.table
    alias = sql.Identifier("t0")
    if items is not None:
        source = records_from(
            compiler, table, dump_document(items), [c for c in target.key if read_raw(c)]
        )
        where = compiler.where(table, alias, target.policy, None, [key_equal(alias, target.key)])
        cte = sql.SQL("DELETE FROM {} AS {} USING {}{} RETURNING e.n AS {}, {}.*").format(
            table_ref(table), alias, source, where, sql.Identifier(ORDINAL), alias
        )
        order: sql.Composable = by_ordinal()
    else:
        where = compiler.where(table, alias, target.policy, client_filter)
        cte = sql.SQL("DELETE FROM {} AS {}{} RETURNING {}.*").format(
            table_ref(table), alias, where, alias
        )
        order = by_key(target)
    tail = result_tail(compiler, target, check=False, order=order, count_only=count_only)
    return finish_statement(compiler, sql.SQL("WITH w AS ({}){}").format(cte, tail))
