"""Upsert records into a table by a match column, and read or delete rows by that column.

One rule: one statement per call, whatever the number of records; the
records travel as one bound `jsonb` document and PostgreSQL's own input
functions turn each value into its column's type (`jsonb_populate_record`,
as `services.sql.write_back` and table writes do); column names come only
from the catalog. A write is conditional: a row whose compared columns
already hold the incoming values is not touched (`IS DISTINCT FROM`), so
applying the same records twice changes nothing the second time.

Text match columns compare trimmed and lower-cased on both sides (HubSpot
stores emails and domains lower-cased); other types compare as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.sql.clauses import Compiler
from services.sql.compile import CompiledQuery
from services.sql.errors import QueryError
from services.sql.execute import translate_errors
from services.sql.keyset import ALIAS, RowSource, from_clause, select_list
from services.sql.policy import FULL_ACCESS
from services.sql.schema import Column, SchemaSnapshot, Table
from services.sql.writes import read_raw, records_from, table_ref, value_expr


@dataclass(frozen=True, slots=True)
class UpsertPlan:
    """What an upsert writes: by `match`, `compared` columns (the change test) and `touched` ones.

    `touched` columns (a sync time, a status) are written with the compared
    ones but never make a row count as changed. `insert` / `update` say
    which halves run (update only, create only, or both).
    """

    table: Table
    match: Column
    compared: tuple[Column, ...]
    touched: tuple[Column, ...] = ()
    insert: bool = True
    update: bool = True

    @property
    def folds(self) -> bool:
        return self.match.json_kind == "string" and self.match.base_type in TEXT_TYPES


TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "citext", "name"})


def _document(plan: UpsertPlan, records: Sequence[Mapping[str, object]]) -> str:
    names = {column.name for column in (plan.match, *plan.compared, *plan.touched)}
    return json.dumps(
        [{name: value for name, value in record.items() if name in names} for record in records],
        default=str,
    )


def _matched(plan: UpsertPlan, left: sql.Composable, right: sql.Composable) -> sql.Composed:
    if plan.folds:
        return sql.SQL("lower(btrim({})) = lower(btrim({}))").format(left, right)
    return sql.SQL("{} = {}").format(left, right)


def _source(compiler: Compiler, plan: UpsertPlan, document: str) -> sql.Composed:
    """`SELECT e.n, <each column's new value> FROM <the document's records>`."""
    columns = _columns(plan)
    raw = [column for column in columns if read_raw(column)]
    values = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(value_expr(column), sql.Identifier(column.name))
        for column in columns
    )
    return sql.SQL("SELECT e.n, {} FROM {}").format(
        values, records_from(compiler, plan.table, document, raw)
    )


def _columns(plan: UpsertPlan) -> tuple[Column, ...]:
    seen: list[Column] = []
    for column in (plan.match, *plan.compared, *plan.touched):
        if column not in seen:
            seen.append(column)
    return tuple(seen)


def compile_upsert(
    snapshot: SchemaSnapshot, plan: UpsertPlan, records: Sequence[Mapping[str, object]]
) -> CompiledQuery:
    """Insert the records no row matches and update the matched rows that differ.

    `records` map column names to values (PostgreSQL's text forms, numbers,
    booleans, lists); a value missing from a record is written as NULL. The
    statement yields one row: (ordinals updated, ordinals inserted), each an
    array of the records' 1-based positions.
    """
    if not records:
        raise QueryError("Nothing to upsert.")
    compiler = Compiler(snapshot, lambda _table: FULL_ACCESS)
    table = table_ref(plan.table)
    target = sql.Identifier("t0")
    s = sql.Identifier("s")
    match = sql.Identifier(plan.match.name)
    parts = [sql.SQL("src AS ({})").format(_source(compiler, plan, _document(plan, records)))]
    updated: sql.Composable = sql.SQL("ARRAY[]::bigint[]")
    inserted: sql.Composable = sql.SQL("ARRAY[]::bigint[]")
    if plan.update:
        written = (*plan.compared, *plan.touched)
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = s.{}").format(sql.Identifier(c.name), sql.Identifier(c.name))
            for c in written
        )
        old = sql.SQL(", ").join(Compiler.column_ref(target, c) for c in plan.compared)
        new = sql.SQL(", ").join(Compiler.column_ref(s, c) for c in plan.compared)
        differs = (
            sql.SQL(" AND ROW({}) IS DISTINCT FROM ROW({})").format(old, new)
            if plan.compared
            else sql.SQL(" AND false")
        )
        parts.append(
            sql.SQL("u AS (UPDATE {} AS {} SET {} FROM src AS s WHERE {}{} RETURNING s.n)").format(
                table,
                target,
                assignments,
                _matched(
                    plan, sql.SQL("{}.{}").format(target, match), sql.SQL("s.{}").format(match)
                ),
                differs,
            )
        )
        updated = sql.SQL("ARRAY(SELECT n FROM u ORDER BY n)")
    if plan.insert:
        columns = _columns(plan)
        names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
        picked = sql.SQL(", ").join(Compiler.column_ref(s, c) for c in columns)
        missing = _matched(plan, sql.SQL("t1.{}").format(match), sql.SQL("s.{}").format(match))
        parts.append(
            sql.SQL(
                "fresh AS (SELECT * FROM src AS s WHERE NOT EXISTS (SELECT 1 FROM {} AS t1 WHERE {}))"
            ).format(table, missing)
        )
        parts.append(
            sql.SQL("i AS (INSERT INTO {} ({}) SELECT {} FROM fresh AS s RETURNING 1)").format(
                table, names, picked
            )
        )
        inserted = sql.SQL("ARRAY(SELECT n FROM fresh ORDER BY n)")
    tail = sql.SQL(" SELECT {}, {}").format(updated, inserted)
    if plan.insert:
        tail = sql.SQL(" SELECT {}, {} FROM (SELECT count(*) FROM i) AS done").format(
            updated, inserted
        )
    statement = sql.SQL("WITH ") + sql.SQL(", ").join(parts) + tail
    return CompiledQuery(statement, tuple(compiler.bound), tuple(c.name for c in plan.compared))


def run_upsert(conn: psycopg.Connection[Any], compiled: CompiledQuery) -> tuple[set[int], set[int]]:
    """Run a `compile_upsert` statement; return the ordinals (1-based) updated and inserted.

    Raises QueryError (e.g. InvalidValue) when a value does not fit its
    column, and psycopg's error for a constraint the records break.
    """
    try:
        row = conn.execute(compiled.statement, compiled.params).fetchone()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
    if row is None:
        return set(), set()
    return {int(n) for n in row[0] or ()}, {int(n) for n in row[1] or ()}


def compile_rows_by_match(
    snapshot: SchemaSnapshot, source: RowSource, plan: UpsertPlan, values: Sequence[object]
) -> CompiledQuery:
    """The rows (read like `keyset.compile_chunk`) whose match column holds one of `values`."""
    if not values:
        raise QueryError("No match values given.")
    compiler = Compiler(snapshot, lambda _table: FULL_ACCESS)
    document = json.dumps([{plan.match.name: value} for value in values], default=str)
    raw = [plan.match] if read_raw(plan.match) else []
    wanted = sql.SQL("SELECT {} FROM {}").format(
        value_expr(plan.match), records_from(compiler, plan.table, document, raw)
    )
    column = sql.SQL("{}.{}").format(ALIAS, sql.Identifier(plan.match.name))
    if plan.folds:
        condition = sql.SQL("lower(btrim({})) IN (SELECT lower(btrim(v)) FROM ({}) AS w(v))")
    else:
        condition = sql.SQL("{} IN (SELECT v FROM ({}) AS w(v))")
    statement = sql.SQL("SELECT {}{} WHERE {}").format(
        select_list(source), from_clause(source), condition.format(column, wanted)
    )
    return CompiledQuery(statement, tuple(compiler.bound))


def compile_delete_by(
    snapshot: SchemaSnapshot, table: Table, column: Column, values: Sequence[object]
) -> CompiledQuery:
    """DELETE the rows whose `column` holds one of `values`; yields the number deleted."""
    if not values:
        raise QueryError("No values given.")
    compiler = Compiler(snapshot, lambda _table: FULL_ACCESS)
    document = json.dumps([{column.name: value} for value in values], default=str)
    raw = [column] if read_raw(column) else []
    statement = sql.SQL(
        "WITH d AS (DELETE FROM {} AS t0 WHERE t0.{} IN (SELECT {} FROM {}) RETURNING 1)"
        " SELECT count(*) FROM d"
    ).format(
        table_ref(table),
        sql.Identifier(column.name),
        value_expr(column),
        records_from(compiler, table, document, raw),
    )
    return CompiledQuery(statement, tuple(compiler.bound))
