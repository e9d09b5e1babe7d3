"""Read a table in keyset order, chunk by chunk: the reads of a sync job's source table.

One rule: a table is never read whole. Rows come in chunks ordered by a
position (an optional watermark column, then the key columns), each chunk
starting strictly after the last position of the one before, so a reader
can stop anywhere and resume from the last position it kept. Positions
travel as PostgreSQL's own text form of each value (`CAST(col AS text)`)
and come back as bound parameters of unknown type, which PostgreSQL reads
with the column's own input function: a position round-trips exactly,
whatever the column's type. Column names come only from the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from services.sql.clauses import Compiler
from services.sql.compile import CompiledQuery
from services.sql.errors import InvalidField, QueryError
from services.sql.execute import translate_errors
from services.sql.schema import Column, Table

ALIAS = sql.Identifier("t")


@dataclass(frozen=True, slots=True)
class RowSource:
    """What a keyset reader reads of one table.

    key: the columns that identify a row (the primary key, or a unique column
    of a table without one). columns: the columns whose values are read.
    watermark: a column that grows on every change, read first in order, or None.
    """

    table: Table
    key: tuple[Column, ...]
    columns: tuple[Column, ...]
    watermark: Column | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a reader stands: the text of the watermark (None without one) and of the key."""

    watermark: str | None
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row read: its position and its values by column name (as psycopg reads them)."""

    position: Position
    values: dict[str, Any]

    @property
    def key(self) -> tuple[str, ...]:
        return self.position.key


def row_source(
    table: Table,
    *,
    columns: Sequence[str],
    key: Sequence[str] = (),
    watermark: str = "",
) -> RowSource:
    """The `RowSource` of `table` reading `columns`, keyed by `key` (default: the primary key).

    Raises InvalidField for a name the table does not have, and QueryError
    for a table with neither a primary key nor a named key.
    """
    names = tuple(key) or table.primary_key
    if not names:
        raise QueryError(f"Table '{table.name}' has no primary key; name its identifying column.")

    def found(name: str) -> Column:
        column = table.column(name)
        if column is None:
            raise InvalidField(name)
        return column

    wanted: list[Column] = []
    for name in columns:
        column = found(name)
        if column not in wanted:
            wanted.append(column)
    return RowSource(
        table=table,
        key=tuple(found(name) for name in names),
        columns=tuple(wanted),
        watermark=found(watermark) if watermark else None,
    )


def _order_columns(source: RowSource) -> tuple[Column, ...]:
    return ((source.watermark,) if source.watermark is not None else ()) + source.key


def _refs(columns: Sequence[Column]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{}.{}").format(ALIAS, sql.Identifier(c.name)) for c in columns
    )


def select_list(source: RowSource) -> sql.Composed:
    """`CAST(position columns AS text)…, value columns…` (values in the API's rendering)."""
    texts = [
        sql.SQL("CAST({}.{} AS text)").format(ALIAS, sql.Identifier(column.name))
        for column in _order_columns(source)
    ]
    values = [Compiler.output_expr(ALIAS, column) for column in source.columns]
    return sql.SQL(", ").join([*texts, *values])


def from_clause(source: RowSource) -> sql.Composed:
    table = source.table
    return sql.SQL(" FROM {} AS {}").format(sql.Identifier(table.sql_schema, table.sql_name), ALIAS)


def _position_values(source: RowSource, position: Position) -> list[str]:
    if len(position.key) != len(source.key):
        raise QueryError(
            f"A position of table '{source.table.name}' has {len(source.key)} key value(s)."
        )
    if source.watermark is not None:
        if position.watermark is None:
            raise QueryError("A position of a watermarked read needs a watermark value.")
        return [position.watermark, *position.key]
    return list(position.key)


def _range(
    source: RowSource, after: Position | None, upto: str | None
) -> tuple[sql.Composable, list[object]]:
    """The WHERE clause of rows strictly after `after` and with a watermark at most `upto`."""
    # A key part that is NULL (possible in a named key, never in a primary
    # key) has no place in the order: such rows are never read.
    parts: list[sql.Composable] = [
        sql.SQL("{}.{} IS NOT NULL").format(ALIAS, sql.Identifier(column.name))
        for column in source.key
    ]
    params: list[object] = []
    if after is not None:
        values = _position_values(source, after)
        placeholders = sql.SQL(", ").join(sql.Placeholder() for _ in values)
        parts.append(sql.SQL("({}) > ({})").format(_refs(_order_columns(source)), placeholders))
        params.extend(values)
    if source.watermark is not None:
        # Rows without a watermark have no place in the order: they are never read.
        watermark = sql.SQL("{}.{}").format(ALIAS, sql.Identifier(source.watermark.name))
        if upto is not None:
            parts.append(sql.SQL("{} <= {}").format(watermark, sql.Placeholder()))
            params.append(upto)
        else:
            parts.append(sql.SQL("{} IS NOT NULL").format(watermark))
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params


def compile_chunk(
    source: RowSource, *, after: Position | None, limit: int, upto: str | None = None
) -> CompiledQuery:
    """The next `limit` rows after `after` (from the start when None), in position order.

    `upto` (a watermark's text) leaves out rows whose watermark is beyond it.
    """
    where, params = _range(source, after, upto)
    statement = sql.SQL("SELECT {}{}{} ORDER BY {} LIMIT {}").format(
        select_list(source),
        from_clause(source),
        where,
        _refs(_order_columns(source)),
        sql.Placeholder(),
    )
    return CompiledQuery(statement, (*params, max(1, int(limit))))


def compile_count(
    source: RowSource, *, after: Position | None, upto: str | None = None
) -> CompiledQuery:
    """How many rows `compile_chunk` would hand out from `after` on, all chunks together."""
    where, params = _range(source, after, upto)
    statement = sql.SQL("SELECT count(*){}{}").format(from_clause(source), where)
    return CompiledQuery(statement, tuple(params))


def compile_watermark_max(source: RowSource) -> CompiledQuery:
    """The text of the highest watermark in the table (NULL when empty)."""
    if source.watermark is None:
        raise QueryError("This read has no watermark column.")
    statement = sql.SQL("SELECT CAST(max({}.{}) AS text){}").format(
        ALIAS, sql.Identifier(source.watermark.name), from_clause(source)
    )
    return CompiledQuery(statement, ())


def _key_list(source: RowSource, keys: Sequence[tuple[str, ...]]) -> tuple[sql.Composed, list[str]]:
    params: list[str] = []
    rows: list[sql.Composable] = []
    for key in keys:
        if len(key) != len(source.key):
            raise QueryError(
                f"A key of table '{source.table.name}' has {len(source.key)} value(s)."
            )
        rows.append(sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() for _ in key)))
        params.extend(key)
    condition = sql.SQL("({}) IN ({})").format(_refs(source.key), sql.SQL(", ").join(rows))
    return condition, params


def compile_rows_by_keys(source: RowSource, keys: Sequence[tuple[str, ...]]) -> CompiledQuery:
    """The rows with the given keys (texts of the key columns), in position order."""
    if not keys:
        raise QueryError("No keys given.")
    condition, params = _key_list(source, keys)
    statement = sql.SQL("SELECT {}{} WHERE {} ORDER BY {}").format(
        select_list(source), from_clause(source), condition, _refs(_order_columns(source))
    )
    return CompiledQuery(statement, tuple(params))


def compile_existing_keys(source: RowSource, keys: Sequence[tuple[str, ...]]) -> CompiledQuery:
    """Which of the given keys the table still has: one row of key texts per key found."""
    if not keys:
        raise QueryError("No keys given.")
    condition, params = _key_list(source, keys)
    texts = sql.SQL(", ").join(
        sql.SQL("CAST({}.{} AS text)").format(ALIAS, sql.Identifier(column.name))
        for column in source.key
    )
    statement = sql.SQL("SELECT {}{} WHERE {}").format(texts, from_clause(source), condition)
    return CompiledQuery(statement, tuple(params))


def fetch_rows(
    conn: psycopg.Connection[Any], source: RowSource, compiled: CompiledQuery
) -> list[SourceRow]:
    """Run a `compile_chunk` or `compile_rows_by_keys` statement; return its rows."""
    try:
        rows = conn.execute(compiled.statement, compiled.params).fetchall()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
    marked = 1 if source.watermark is not None else 0
    width = marked + len(source.key)
    found: list[SourceRow] = []
    for row in rows:
        position = Position(
            watermark=row[0] if marked else None,
            key=tuple(str(part) for part in row[marked:width]),
        )
        values = {column.name: row[width + i] for i, column in enumerate(source.columns)}
        found.append(SourceRow(position, values))
    return found


def fetch_keys(conn: psycopg.Connection[Any], compiled: CompiledQuery) -> set[tuple[str, ...]]:
    """Run a `compile_existing_keys` statement; return the keys found."""
    try:
        rows = conn.execute(compiled.statement, compiled.params).fetchall()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
    return {tuple(str(part) for part in row) for row in rows}


def fetch_scalar(conn: psycopg.Connection[Any], compiled: CompiledQuery) -> Any:
    """Run a statement yielding one value (a count, a maximum); return it."""
    try:
        row = conn.execute(compiled.statement, compiled.params).fetchone()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
    return None if row is None else row[0]
