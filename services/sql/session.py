"""Start and end the one transaction a request runs in on a service database; assume a role in it.

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

`assume_role` is PostgREST's model: `SET LOCAL ROLE` plus the caller's
claims in the transaction-local setting `request.claims`, so the database's
own row-level security applies to the request as well; both end with the
transaction, like the limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

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
SET_LOCAL_ROLE = sql.SQL("SET LOCAL ROLE {role}")
# is_local = true: the claims end with the transaction, as SET LOCAL does.
SET_CLAIMS: Final = "SELECT set_config('request.claims', %s, true)"


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


def assume_role(
    conn_or_cursor: psycopg.Connection[Any] | psycopg.Cursor[Any],
    *,
    pg_role: str | None,
    claims: Mapping[str, object],
) -> None:
    """Run the rest of the open transaction as `pg_role`, with `claims` in `request.claims`.

    Sends `SET LOCAL ROLE "<pg_role>"` (skipped when `pg_role` is None or
    "") and `set_config('request.claims', <claims as JSON>, true)`; both end
    with the transaction, so nothing reaches the next user of a pooled
    connection. Policies read the claims as
    `nullif(current_setting('request.claims', true), '')::jsonb`: once a
    connection has set them, the setting reads '' (not NULL) outside.

    The connecting role must be a member of `pg_role` (`GRANT <pg_role> TO
    <service user>`). Returns nothing; raises psycopg.ProgrammingError when
    no transaction is open (a `SET LOCAL` outside one would be lost at once,
    and the request would run as the connecting role), TypeError when a
    claim is not JSON-serialisable, and what PostgreSQL raises for an
    unknown role (InvalidParameterValue) or one the connecting role may not
    assume (InsufficientPrivilege); the transaction is aborted then.
    """
    conn = (
        conn_or_cursor
        if isinstance(conn_or_cursor, psycopg.Connection)
        else conn_or_cursor.connection
    )
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        raise psycopg.ProgrammingError(
            "assume_role needs an open transaction without errors (see begin())"
        )
    payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True)
    if pg_role:
        # A utility statement takes no bound parameters; the name is quoted
        # as an identifier, and PostgreSQL checks that it exists and that the
        # connecting role may assume it. prepare=False: one text per role,
        # not worth a prepared statement on every pooled connection.
        conn_or_cursor.execute(SET_LOCAL_ROLE.format(role=sql.Identifier(pg_role)), prepare=False)
    conn_or_cursor.execute(SET_CLAIMS, [payload])


SET_SESSION_ROLE = sql.SQL("SET ROLE {role}")
SET_SESSION_CLAIMS: Final = "SELECT set_config('request.claims', %s, false)"
RESET_SESSION_IDENTITY: Final = "RESET ROLE; RESET request.claims"


def assume_session_role(
    conn: psycopg.Connection[Any], *, pg_role: str | None, claims: Mapping[str, object]
) -> None:
    """`assume_role` for an autocommit connection: until `reset_session_role`.

    For statements that cannot run in a transaction block (a procedure that
    commits). The caller must reset before the connection is reused.
    """
    payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True)
    if pg_role:
        conn.execute(SET_SESSION_ROLE.format(role=sql.Identifier(pg_role)), prepare=False)
    conn.execute(SET_SESSION_CLAIMS, [payload])


def reset_session_role(conn: psycopg.Connection[Any]) -> None:
    """Undo `assume_session_role`."""
    conn.execute(RESET_SESSION_IDENTITY, prepare=False)
