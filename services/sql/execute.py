"""Run compiled statements on a service connection and hand back JSON text or byte streams.

One rule: server errors a client can cause (a value that does not fit its
type, a timeout) become `QueryError`s with clean messages here; the driver's
text, which can contain SQL, never leaves this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from services.sql.compile import CompiledQuery, CompiledRead
from services.sql.errors import InvalidValue, QueryError

logger = logging.getLogger(__name__)

STREAM_BATCH_ROWS = 2000


class QueryTimeout(QueryError):
    """The statement ran past the service's statement timeout."""

    status = 504

    def __init__(self) -> None:
        super().__init__("The query took longer than the service allows and was cancelled.")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records: `resource` is the JSON array text built by PostgreSQL."""

    resource: str
    fetched: int
    total: int | None


def translate_errors(compiled: CompiledQuery, error: psycopg.Error) -> QueryError:
    """Return the QueryError a client sees for a server error it caused, or re-raise."""
    if isinstance(error, psycopg.errors.QueryCanceled):
        return QueryTimeout()
    if isinstance(error, psycopg.errors.DataError):
        field = compiled.value_fields[0] if compiled.value_fields else "value"
        return InvalidValue(field)
    raise error


def fetch_page(conn: psycopg.Connection, compiled: CompiledRead) -> Page:
    """Run a page read; return the page."""
    try:
        row = conn.execute(compiled.statement, compiled.params).fetchone()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
    assert row is not None  # an aggregate always yields one row
    return Page(resource=row[0], fetched=row[1], total=row[2])


def fetch_value(conn: psycopg.Connection, compiled: CompiledQuery) -> object:
    """Run a statement yielding one value (a count, a record's JSON text); None if no row."""
    try:
        row = conn.execute(compiled.statement, compiled.params).fetchone()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
    return None if row is None else row[0]


def stream_csv(conn: psycopg.Connection, compiled: CompiledQuery) -> Iterator[bytes]:
    """Yield CSV (with a header line) produced by PostgreSQL's COPY, chunk by chunk."""
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
        compiled.statement
    )
    try:
        with conn.cursor() as cur, cur.copy(statement, compiled.params) as copy:
            for chunk in copy:
                yield bytes(chunk)
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None


def stream_ndjson(conn: psycopg.Connection, compiled: CompiledQuery) -> Iterator[bytes]:
    """Yield one JSON object per line, read through a server-side cursor in batches."""
    statement = sql.SQL("SELECT row_to_json(s)::text FROM ({}) AS s").format(compiled.statement)
    try:
        with conn.cursor(name="sluicegate_stream") as cur:
            cur.itersize = STREAM_BATCH_ROWS
            cur.execute(statement, compiled.params)
            while rows := cur.fetchmany(STREAM_BATCH_ROWS):
                yield ("\n".join(row[0] for row in rows) + "\n").encode()
    except psycopg.Error as error:
        raise translate_errors(compiled, error) from None
