"""Write values back into rows identified by key: a sync job's HubSpot ids, times, statuses, errors.

One rule: one statement per call, whatever the number of rows; the rows
travel as one bound `jsonb` document and PostgreSQL's own input functions
turn each value into its column's type (`jsonb_populate_record`, exactly as
table writes do in `services.sql.writes`); column names come only from the
catalog.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from services.sql.clauses import Compiler
from services.sql.compile import CompiledQuery
from services.sql.errors import InvalidField, QueryError
from services.sql.execute import translate_errors
from services.sql.policy import FULL_ACCESS
from services.sql.schema import Column, SchemaSnapshot, Table
from services.sql.writes import key_equal, read_raw, records_from, table_ref, value_expr


def write_back_columns(table: Table, names: Sequence[str]) -> tuple[Column, ...]:
    """The columns called `names` (in that order); raises InvalidField for an unknown one.

    Generated and identity columns cannot be written back: InvalidField too.
    """
    columns: list[Column] = []
    for name in names:
        column = table.column(name)
        if column is None or column.is_generated:
            raise InvalidField(name)
        columns.append(column)
    return tuple(columns)


def compile_write_back(
    snapshot: SchemaSnapshot,
    table: Table,
    key: tuple[Column, ...],
    columns: tuple[Column, ...],
    rows: Sequence[tuple[Sequence[str], Mapping[str, object]]],
) -> CompiledQuery:
    """UPDATE the rows with the given keys, setting `columns` to each row's values.

    `rows` are (key texts in `key` order, values by column name) pairs; a
    value missing from a row's mapping is written as NULL. The statement
    yields the number of rows updated.
    """
    if not rows or not columns:
        raise QueryError("Nothing to write back.")
    if not key:
        raise QueryError(f"Table '{table.name}' has no key to write back by.")
    document: list[dict[str, object]] = []
    for key_values, values in rows:
        if len(key_values) != len(key):
            raise QueryError(f"A key of table '{table.name}' has {len(key)} value(s).")
        entry: dict[str, object] = {column.name: values.get(column.name) for column in columns}
        entry.update({column.name: part for column, part in zip(key, key_values, strict=True)})
        document.append(entry)
    compiler = Compiler(snapshot, lambda _table: FULL_ACCESS)
    alias = sql.Identifier("t0")
    raw = [column for column in (*key, *columns) if read_raw(column)]
    source = records_from(compiler, table, json.dumps(document, default=str), raw)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column.name), value_expr(column))
        for column in columns
    )
    statement = sql.SQL(
        "WITH w AS (UPDATE {} AS {} SET {} FROM {} WHERE {} RETURNING 1) SELECT count(*) FROM w"
    ).format(table_ref(table), alias, assignments, source, key_equal(alias, key))
    return CompiledQuery(statement, tuple(compiler.bound), tuple(c.name for c in columns))


def run_write_back(conn: psycopg.Connection[Any], compiled: CompiledQuery) -> int:
    """Run a `compile_write_back` statement; return the number of rows updated.

    Raises QueryError (e.g. InvalidValue) when a value does not fit its column.
    """
    try:
        row = conn.execute(compiled.statement, compiled.params).fetchone()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
    return int(row[0]) if row is not None else 0
