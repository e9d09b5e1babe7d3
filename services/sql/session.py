"""Start and end the one transaction a request runs in on a service database.

One rule: every limit a request sets is transaction-local (`SET LOCAL`), so it
ends with the transaction and never outlives it on a pooled connection; the
session itself (time zone, date and interval styles) is fixed once, at
connect, by `services.pools`.

The connections are in autocommit mode, so psycopg sends no `BEGIN` of its
own: `begin` sends `BEGIN` and both `SET LOCAL`s as one simple-protocol
query (one round trip), and `commit` / `rollback` one more. The two timeouts
are integers we own, so they are rendered as literals by `psycopg.sql`
(bound parameters would force the extended protocol, which allows one
statement per message: two more round trips).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

BEGIN_READ_ONLY = sql.SQL("BEGIN READ ONLY")
# Sessions default to read-only (services.pools.session_options), so a write
# asks for READ WRITE explicitly.
BEGIN_READ_WRITE = sql.SQL("BEGIN READ WRITE")
START = sql.SQL(
    "{begin}; SET LOCAL statement_timeout = {statement}; SET LOCAL lock_timeout = {lock}"
)


def begin(
    conn: psycopg.Connection[Any],
    *,
    read_only: bool,
    statement_timeout_ms: int,
    lock_timeout_ms: int,
) -> None:
    """Open a transaction on `conn` with both timeouts set for it alone.

    `conn` must be in autocommit mode and idle. A timeout of 0 means none.
    Returns nothing; raises ValueError for a negative or non-integer timeout
    and psycopg.OperationalError when the connection turns out dead.
    """
    for value in (statement_timeout_ms, lock_timeout_ms):
        # bool is an int, but True ms is surely a mistake.
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"a timeout must be a non-negative number of ms, not {value!r}")
    query = START.format(
        begin=BEGIN_READ_ONLY if read_only else BEGIN_READ_WRITE,
        statement=sql.Literal(statement_timeout_ms),
        lock=sql.Literal(lock_timeout_ms),
    )
    # prepare=False: a multi-statement string cannot be a prepared statement.
    conn.execute(query, prepare=False)


def commit(conn: psycopg.Connection[Any]) -> None:
    """Commit the transaction `begin` opened.

    Raises psycopg.errors.InFailedSqlTransaction (after rolling back) when an
    earlier statement failed and its error was swallowed: PostgreSQL answers
    COMMIT of an aborted transaction with a silent ROLLBACK, which would pass
    for success. Raises what COMMIT raises otherwise (e.g. a deferred
    constraint violation); the transaction is over either way.
    """
    if conn.info.transaction_status == TransactionStatus.INERROR:
        conn.rollback()
        raise psycopg.errors.InFailedSqlTransaction(
            "the transaction was aborted by an earlier error and has been rolled back"
        )
    conn.commit()


def rollback(conn: psycopg.Connection[Any]) -> None:
    """Roll back the transaction `begin` opened (a no-op when none is open)."""
    conn.rollback()
