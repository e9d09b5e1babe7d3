"""Stored functions and procedures: build the statement calling one, run it, render its result.

One rule: a routine is called only as the catalog describes it (`Routine`),
its name quoted with `psycopg.sql.Identifier`, every argument a bound
parameter cast to the argument's catalog type; results are rendered to JSON
by PostgreSQL with the table reads' own expressions (`clauses.select_list`),
and a set-returning function's `filter` / `order` / `fields` are compiled by
the table reads' `Compiler` against its result columns.

Functions run inside the request's transaction (`services.pools.
write_transaction`: they may write); procedures run on an autocommit
connection (`services.pools.autocommit_connection`), because a procedure that
COMMITs fails inside a transaction block. Matching a call's arguments to a
routine is `services.sql.routine_args`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import psycopg
from psycopg import sql

from services.sql import session
from services.sql.clauses import Compiler, select_list
from services.sql.errors import InvalidValue, QueryError
from services.sql.execute import QueryTimeout
from services.sql.policy import FULL_ACCESS, Policy
from services.sql.query import ReadQuery
from services.sql.routine_args import (
    InvalidArgument,
    RoutineCall,
    arguments_sql,
    choose_routine,
    kind_word,
    type_sql,
)
from services.sql.schema import Column, Routine, SchemaSnapshot, Table

__all__ = [
    "CallResult",
    "CompiledCall",
    "InvalidArgument",
    "RoutineCall",
    "call_function",
    "call_procedure",
    "choose_routine",
    "compile_call",
    "result_table",
]

logger = logging.getLogger(__name__)

# A procedure's writes need a read-write session default: `CALL` cannot run in
# a transaction block (a procedure's COMMIT would fail), and sessions default
# to READ ONLY (services.pools.session_options). RESET restores the value the
# connection was opened with.
ALLOW_WRITES: Final = sql.SQL("SET default_transaction_read_only = off")
RESTORE_READ_ONLY: Final = sql.SQL("RESET default_transaction_read_only")
# Errors a routine's body raises on purpose (RAISE), or for data it was given:
# their primary message is the routine's answer and holds no statement text.
TELLING_CLASSES: Final = ("P0", "22", "23")

ResultShape = Literal["value", "object", "rows", "none"]


class RoutineFailed(QueryError):
    """The routine ran and raised an error (its own RAISE, a constraint, bad data)."""


class RoutineChanged(QueryError):
    """The routine changed or vanished under a schema snapshot not yet refreshed."""

    status = 503

    def __init__(self) -> None:
        super().__init__("The service's schema changed; retry in a few seconds.")


@dataclass(frozen=True, slots=True)
class CompiledCall:
    """A call ready to run.

    shape: "value" (a bare JSON value), "object", "rows" (a JSON array, cut at
    `page_size`) or "none" (nothing to return). `checks` are (argument, cast
    target, bound value) of every argument given, to name the culprit when
    PostgreSQL rejects a value; `value_fields` the filter's fields only the
    server validates. `outputs` (procedures): the OUT / INOUT columns.
    """

    routine: Routine
    statement: sql.Composed
    params: tuple[object, ...]
    shape: ResultShape
    checks: tuple[tuple[str, sql.Composable, object], ...] = ()
    value_fields: tuple[str, ...] = ()
    page_size: int = 0
    outputs: tuple[Column, ...] = ()


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a call returned: JSON text (empty for shape "none"), and whether rows were cut."""

    shape: ResultShape
    body: str
    truncated: bool = False


# --- statements -------------------------------------------------------------------


def result_table(routine: Routine) -> Table:
    """The routine's result as a table (a view) of its result columns.

    A scalar result is one column named after the routine, as PostgreSQL
    names it; unnamed OUT arguments are `column1`, `column2` …, likewise.
    """
    columns: list[Column] = []
    for position, argument in enumerate(routine.result_columns, start=1):
        columns.append(
            Column(
                name=argument.name or f"column{position}",
                position=position,
                type_name=argument.type_name,
                base_type=argument.base_type,
                json_kind=argument.json_kind,
                nullable=True,
            )
        )
    if not columns:
        columns.append(
            Column(
                name=routine.sql_name,
                position=1,
                type_name=routine.return_type,
                base_type=routine.return_base_type,
                json_kind=routine.return_kind,
                nullable=True,
            )
        )
    return Table(
        name=routine.name,
        sql_schema=routine.sql_schema,
        sql_name=routine.sql_name,
        kind="view",
        columns=tuple(columns),
    )


def compile_call(
    snapshot: SchemaSnapshot,
    routine: Routine,
    values: Mapping[int, object],
    query: ReadQuery,
    *,
    max_records: int,
) -> CompiledCall:
    """Build the statement calling `routine` with `values` (from `choose_routine`).

    `query` shapes a set-returning function's rows (`fields`, `filter`,
    `order`, `limit`, `offset`, compiled against its result columns) and
    picks the `fields` of a composite result; other parts are ignored.
    Raises QueryError for a bad argument value or a bad field, filter or order.
    """
    bound: list[object] = []
    checks: list[tuple[str, sql.Composable, object]] = []
    call = arguments_sql(routine, values, bound, checks)
    table = result_table(routine)
    alias = sql.Identifier("t")

    if routine.kind == "procedure":
        outputs = table.columns if routine.result_columns else ()
        statement = sql.SQL("CALL {}").format(call)
        return CompiledCall(
            routine, statement, tuple(bound), "none", tuple(checks), outputs=outputs
        )

    compiler = Compiler(snapshot, no_policy, query.params, query.lookups)
    untyped_record = routine.return_type == "record" and not routine.result_columns
    if routine.returns_set:
        if untyped_record:
            raise QueryError(
                f'Function "{routine.name}" returns rows of no declared type; '
                "it cannot be called through the API."
            )
        cap = max_records
        page_size = cap if query.limit is None or not 1 <= query.limit <= cap else query.limit
        fetch = page_size + 1 if query.limit is None else page_size
        columns = compiler.select_columns(table, alias, FULL_ACCESS, query.fields)
        where = compiler.where(table, alias, FULL_ACCESS, query.filter)
        order = compiler.order_by(table, alias, FULL_ACCESS, query.order, default_key=False)
        offset = (
            sql.SQL(" OFFSET {}").format(sql.Literal(query.offset)) if query.offset else sql.SQL("")
        )
        inner = sql.SQL("SELECT {} FROM {} AS {}{}{}{} LIMIT {}{}").format(
            columns, call, alias, column_aliases(routine, table), where, order, sql.Literal(fetch),
            offset,
        )  # fmt: skip
        # One row past the page tells whether the maximum cut the answer (as for tables).
        statement = sql.SQL(
            "SELECT coalesce(json_agg(p.r) FILTER (WHERE p.n <= {}), '[]'::json)::text, count(*)"
            " FROM (SELECT row_number() OVER () AS n, s AS r FROM ({}) AS s) AS p"
        ).format(sql.Literal(page_size), inner)
        return CompiledCall(
            routine, statement, (*bound, *compiler.bound), "rows", tuple(checks),
            tuple(compiler.server_checked), page_size=page_size,
        )  # fmt: skip
    if routine.return_type == "void":
        statement = sql.SQL("SELECT {}").format(call)
        return CompiledCall(routine, statement, tuple(bound), "none", tuple(checks))
    if untyped_record:
        statement = sql.SQL("SELECT to_json({})::text").format(call)
        return CompiledCall(routine, statement, tuple(bound), "object", tuple(checks))
    if routine.result_columns:
        columns = compiler.select_columns(table, alias, FULL_ACCESS, query.fields)
        statement = sql.SQL(
            "SELECT row_to_json(s)::text FROM (SELECT {} FROM {} AS {}) AS s"
        ).format(columns, call, alias)
        return CompiledCall(routine, statement, tuple(bound), "object", tuple(checks))
    value = Compiler.output_expr(alias, table.columns[0])
    statement = sql.SQL("SELECT to_json({})::text FROM {} AS {}{}").format(
        value, call, alias, column_aliases(routine, table)
    )
    return CompiledCall(routine, statement, tuple(bound), "value", tuple(checks))


def no_policy(_table: Table) -> Policy | None:
    """A routine's result has no relations: nothing else is reachable from it."""
    return None


def column_aliases(routine: Routine, table: Table) -> sql.Composable:
    """`(name)` naming a scalar result's one column; composite results name their own."""
    if routine.result_columns:
        return sql.SQL("")
    return sql.SQL("({})").format(sql.Identifier(table.columns[0].name))


def outputs_statement(outputs: Sequence[Column]) -> sql.Composed:
    """Render a procedure's OUT values (bound as their text) to a JSON object, as reads render rows."""
    values = sql.SQL(", ").join(
        sql.SQL("{}::{}").format(sql.Placeholder(), type_sql(column.type_name))
        for column in outputs
    )
    names = sql.SQL(", ").join(sql.Identifier(column.name) for column in outputs)
    return sql.SQL(
        "SELECT row_to_json(s)::text FROM (SELECT {} FROM (SELECT {}) AS t({})) AS s"
    ).format(select_list('"t"', tuple(outputs)), values, names)


# --- running ----------------------------------------------------------------------


def call_function(conn: psycopg.Connection[Any], compiled: CompiledCall) -> CallResult:
    """Run a compiled function call inside the caller's open transaction.

    Returns the result. Raises QueryError subclasses for what a client can
    cause (InvalidArgument, InvalidValue, RoutineFailed, QueryTimeout,
    RoutineChanged); the transaction is rolled back then. Connection
    failures propagate.
    """
    try:
        row = conn.execute(compiled.statement, compiled.params).fetchone()
    except psycopg.Error as error:
        if not isinstance(error, psycopg.OperationalError) or isinstance(
            error, psycopg.errors.QueryCanceled
        ):
            # Over already; the arguments are checked outside it (see `failure`).
            session.rollback(conn)
        raise failure(conn, compiled, error) from None
    if compiled.shape == "none":
        return CallResult("none", "")
    assert row is not None  # each of these statements yields exactly one row
    if compiled.shape == "rows":
        return CallResult("rows", row[0], truncated=row[1] > compiled.page_size)
    return CallResult(compiled.shape, "null" if row[0] is None else str(row[0]))


def call_procedure(conn: psycopg.Connection[Any], compiled: CompiledCall) -> CallResult:
    """Run a compiled CALL on an autocommit connection (no transaction block open).

    Returns the OUT / INOUT values as a JSON object, or shape "none" when the
    procedure has none. The session is writable for the CALL only; the
    connection is closed when that cannot be undone. Raises as `call_function`.
    """
    conn.execute(ALLOW_WRITES)
    try:
        try:
            cursor = conn.execute(compiled.statement, compiled.params)
        except psycopg.Error as error:
            raise failure(conn, compiled, error) from None
        result = cursor.pgresult
        texts: list[str | None] = []
        if compiled.outputs and result is not None and result.ntuples:
            for index in range(result.nfields):
                raw = result.get_value(0, index)
                texts.append(None if raw is None else bytes(raw).decode())
    finally:
        try:
            conn.execute(RESTORE_READ_ONLY)
        except psycopg.Error:
            conn.close()
            raise
    if not compiled.outputs:
        return CallResult("none", "")
    if len(texts) != len(compiled.outputs):
        raise RoutineChanged()
    row = conn.execute(outputs_statement(compiled.outputs), texts).fetchone()
    assert row is not None
    return CallResult("object", str(row[0]))


def failure(
    conn: psycopg.Connection[Any], compiled: CompiledCall, error: psycopg.Error
) -> Exception:
    """The error a client sees for a failed call (or `error` itself, to propagate).

    Values PostgreSQL rejected (data exceptions) are traced to the argument
    by casting each given value on its own; `conn` must be out of any failed
    transaction by then.
    """
    routine = compiled.routine
    what = f'{kind_word(routine).lower()} "{routine.name}"'
    if isinstance(error, psycopg.errors.QueryCanceled):
        return QueryTimeout()
    if isinstance(error, psycopg.OperationalError):
        return error
    if isinstance(error, psycopg.errors.UndefinedFunction) and error.diag.context is None:
        return RoutineChanged()
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return QueryError(f"The service's database user may not call {what}.")
    if isinstance(error, psycopg.errors.DataError):
        culprit = rejected_argument(conn, compiled)
        if culprit is not None:
            return InvalidArgument(culprit)
        if compiled.value_fields:
            return InvalidValue(compiled.value_fields[0])
    sqlstate = error.sqlstate or ""
    if sqlstate[:2] in TELLING_CLASSES and error.diag.message_primary:
        return RoutineFailed(
            f'{kind_word(routine)} "{routine.name}" failed: {error.diag.message_primary}'
        )
    logger.warning("call of %s failed (%s)", what, sqlstate, exc_info=True)
    return RoutineFailed(f"Failed to call {what}.")


def rejected_argument(conn: psycopg.Connection[Any], compiled: CompiledCall) -> str | None:
    """The first given argument whose value PostgreSQL cannot cast to its type, or None."""
    for label, target, value in compiled.checks:
        try:
            conn.execute(sql.SQL("SELECT {}::{}").format(sql.Placeholder(), target), [value])
        except psycopg.DataError:
            return label
        except psycopg.Error:
            return None
    return None
