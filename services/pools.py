"""One psycopg connection pool per service and process, and the transaction every request runs in.

One rule: a service database is used only through `read_transaction` or
`write_transaction`: one transaction per request, whose limits (statement
and lock timeout, READ ONLY) are transaction-local, on a connection whose
session settings are fixed at connect. Nothing a request does outlives it on
the pooled connection.

Pools are opened lazily, rebuilt when a service's settings change (its
`ServiceConfig.stamp`), and belong to one process: a forked gunicorn worker
leaves the pools it inherited alone and opens its own. Each transaction costs
two round trips of its own (`services.sql.session`); a pooled connection is
checked for free (a poll of its socket) when handed out, and a database that
restarted is noticed there or, failing that, at the first statement, which is
retried once on another connection.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from time import monotonic
from typing import TypeAlias, TypeVar

import psycopg
import psycopg_pool
from django.conf import settings
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from services.connection import ServiceConfig
from services.sql import session

logger = logging.getLogger(__name__)

Connection: TypeAlias = psycopg.Connection[TupleRow]
T = TypeVar("T")
Pool: TypeAlias = ConnectionPool[Connection]

CONNECT_TIMEOUT_SECONDS = 10
DEFAULT_POOL_TIMEOUT_SECONDS = 10.0
DEFAULT_LOCK_TIMEOUT_MS = 5000
MAX_IDLE_SECONDS = 300.0
# How long a replaced pool's background close waits for its worker threads.
CLOSE_TIMEOUT_SECONDS = 5.0
# Fixed for the whole session at connect (libpq `options`): no extra round
# trip, and every value we read back has one text form whatever the server's
# defaults are.
SESSION_OPTIONS = "-c TimeZone=UTC -c IntervalStyle=iso_8601 -c DateStyle=ISO"
# TCP keepalives: an idle pooled connection whose server vanished without a
# word (host down, network cut) errors within about a minute, and the free
# socket check below then sees it, instead of a request hanging on it.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
# PostgreSQL reports these to the client whenever they change, so a
# connection on which someone ran a session-wide SET is spotted for free.
REPORTED_SETTINGS = {"TimeZone": "UTC", "IntervalStyle": "iso_8601"}
# The same, as libpq hands them over (bytes), for the check on every checkout.
_REPORTED_BYTES = tuple(
    (name.encode(), value.encode()) for name, value in REPORTED_SETTINGS.items()
)


@dataclass(frozen=True, slots=True)
class DbIdentity:
    """Who a request acts as inside a service that assumes roles (`Service.assume_roles`)."""

    pg_role: str | None
    claims: Mapping[str, object]


# The identity of the request this thread is serving. Set at the start of every
# API request (and left set, so a streamed answer read after the view returned
# still runs as it); None outside requests.
_identity: ContextVar[Callable[[], DbIdentity] | None] = ContextVar(
    "sluicegate_db_identity", default=None
)


def set_db_identity(identity: Callable[[], DbIdentity] | None) -> None:
    """Make `identity()` the one the following transactions of this request assume.

    A callable, so requests to services that assume no roles (most) never
    work out who they would be.
    """
    _identity.set(identity)


class PoolError(Exception):
    """A service database cannot be used right now."""


class ServiceUnavailable(PoolError):
    """No working connection to the service's database within the pool timeout.

    `str(error)` is safe to show a client: it names the service, nothing else.
    """

    def __init__(self, service: str) -> None:
        super().__init__(f"Service '{service}' is unavailable.")
        self.service = service


@dataclass(frozen=True, slots=True)
class _Entry:
    pool: Pool
    stamp: str


_lock = threading.Lock()
_pools: dict[str, _Entry] = {}
_pid = os.getpid()
# Pools a forked process inherited: never used, never closed (closing would
# end the parent's sessions on the sockets both processes share); referenced
# so no finalizer of theirs runs here either.
_inherited: list[Pool] = []


def get_pool(config: ServiceConfig) -> Pool:
    """Return this process's open pool for the service, creating it on first use.

    A pool built for another `config.stamp` is replaced by a new one and
    closed in the background (connections in use close when returned).
    Opening does not wait for the database; connections are made in the
    background and a request waits for one (see `read_transaction`).
    """
    _forget_if_forked()
    entry = _pools.get(config.name)
    if entry is not None and entry.stamp == config.stamp and not entry.pool.closed:
        return entry.pool
    with _lock:
        entry = _pools.get(config.name)
        if entry is not None and entry.stamp == config.stamp and not entry.pool.closed:
            return entry.pool
        pool = _open_pool(config)
        _pools[config.name] = _Entry(pool=pool, stamp=config.stamp)
    if entry is not None:
        _close_in_background(entry.pool)
    return pool


def close_pool(name: str) -> None:
    """Close the pool of service `name`, if this process has one."""
    _forget_if_forked()
    with _lock:
        entry = _pools.pop(name, None)
    if entry is not None:
        entry.pool.close()


def close_all() -> None:
    """Close every pool of this process (at shutdown, and between tests)."""
    _forget_if_forked()
    with _lock:
        entries = list(_pools.values())
        _pools.clear()
    for entry in entries:
        entry.pool.close()


@contextmanager
def read_transaction(config: ServiceConfig) -> Iterator[Connection]:
    """Yield a connection inside a READ ONLY transaction with the service's timeouts.

    The transaction is committed when the block ends and rolled back when it
    raises. Raises ServiceUnavailable when no working connection is had
    within SLUICEGATE_POOL_TIMEOUT_SECONDS; errors of the block's own
    statements propagate unchanged (a write raises ReadOnlySqlTransaction).
    """
    with _transaction(config, read_only=True) as conn:
        yield conn


def single_read(config: ServiceConfig, run: Callable[[Connection], T]) -> T:
    """Return `run(conn)` on a pooled connection outside any explicit transaction.

    Each statement `run` sends is its own READ ONLY transaction under the
    service's timeouts (the session defaults, see `session_options`): the
    cheapest way to answer a read, one round trip. A read that fails on a
    connection found dead is retried once on another. Raises
    ServiceUnavailable as `read_transaction` does.
    """
    if config.assume_roles:
        # SET LOCAL ROLE needs a transaction block.
        with read_transaction(config) as conn:
            return run(conn)
    deadline = monotonic() + _pool_timeout_seconds()
    for attempt in (1, 2):
        pool, conn = _checkout(config, deadline=deadline)
        try:
            return run(conn)
        except psycopg.OperationalError as error:
            if not conn.broken or attempt == 2:
                raise
            logger.warning("service %s: pooled connection was dead (%s)", config.name, error)
        finally:
            _release(pool, conn)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def write_transaction(config: ServiceConfig) -> Iterator[Connection]:
    """Yield a connection inside a read-write transaction with the service's timeouts.

    Commits when the block ends, rolls back when it raises. Raises
    ServiceUnavailable as `read_transaction` does, and
    psycopg.errors.InFailedSqlTransaction when the block swallowed a
    statement's error (nothing is committed then).
    """
    with _transaction(config, read_only=False) as conn:
        yield conn


@contextmanager
def _transaction(config: ServiceConfig, *, read_only: bool) -> Iterator[Connection]:
    pool, conn = _begin(config, read_only=read_only)
    try:
        try:
            yield conn
        except BaseException:
            _rollback_quietly(conn)
            raise
        session.commit(conn)
    finally:
        _release(pool, conn)


def _begin(config: ServiceConfig, *, read_only: bool) -> tuple[Pool, Connection]:
    """Check out a connection and open the transaction; retry once on a dead connection."""
    lock_timeout_ms = int(getattr(settings, "SLUICEGATE_LOCK_TIMEOUT_MS", DEFAULT_LOCK_TIMEOUT_MS))
    deadline = monotonic() + _pool_timeout_seconds()
    for attempt in (1, 2):
        pool, conn = _checkout(config, deadline=deadline)
        try:
            session.begin(
                conn,
                read_only=read_only,
                statement_timeout_ms=config.statement_timeout_ms,
                lock_timeout_ms=lock_timeout_ms,
            )
        except psycopg.OperationalError as error:
            _release(pool, conn)
            if not conn.broken:
                raise
            # Died before any statement of the request ran (a restart the
            # socket check missed): nothing to undo, so another connection
            # may take it. The pool replaces this one in the background.
            logger.warning("service %s: pooled connection was dead (%s)", config.name, error)
            if attempt == 2:
                raise ServiceUnavailable(config.name) from error
        except BaseException:
            _release(pool, conn)
            raise
        else:
            if config.assume_roles:
                _assume_identity(pool, conn)
            return pool, conn
    raise AssertionError("unreachable")  # pragma: no cover


def _assume_identity(pool: Pool, conn: Connection) -> None:
    """Run the open transaction as the request's PostgreSQL role, with its claims."""
    identify = _identity.get()
    if identify is None:
        return  # platform work (sync jobs), not a request: the service's own user
    identity = identify()
    try:
        session.assume_role(conn, pg_role=identity.pg_role, claims=identity.claims)
    except BaseException:
        _rollback_quietly(conn)
        _release(pool, conn)
        raise


def _checkout(config: ServiceConfig, *, deadline: float) -> tuple[Pool, Connection]:
    """Return a pool and a working, idle connection of it, by `deadline`.

    Raises ServiceUnavailable when none is had in time.
    """
    pool = get_pool(config)
    while True:
        # A pool never hands out a connection for a timeout <= 0, even a ready one.
        remaining = max(deadline - monotonic(), 0.001)
        try:
            conn = pool.getconn(timeout=remaining)
        except psycopg_pool.PoolClosed as error:
            # Replaced (settings changed) or closed between get_pool and here.
            fresh = get_pool(config)
            if fresh is pool or monotonic() >= deadline:
                raise ServiceUnavailable(config.name) from error
            pool = fresh
            continue
        except (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests) as error:
            logger.warning("service %s: no connection: %s", config.name, error)
            raise ServiceUnavailable(config.name) from error
        if _usable(conn):
            return pool, conn
        # Dead or dirty: closed, so the pool discards it and opens another.
        # No back-off here (unlike psycopg_pool's `check=` loop, which sleeps
        # 1 s, 2 s, 4 s ... between failed checks): after a restart every idle
        # connection is dead, and each costs one poll to find out.
        conn.close()
        pool.putconn(conn)
        if monotonic() >= deadline:
            raise ServiceUnavailable(config.name)


def _usable(conn: Connection) -> bool:
    """Return whether a connection just handed out by the pool can start a transaction.

    Free in the normal case: an idle connection has nothing to read, so a
    poll of its socket tells whether the server closed or terminated it
    (its FATAL message or EOF is waiting there). Only when something is
    waiting does `ConnectionPool.check_connection` (one round trip) decide.
    """
    # Straight from libpq (`conn.info` builds a new object on every access):
    # this runs on every checkout.
    pgconn = conn.pgconn
    if conn.closed or pgconn.transaction_status != TransactionStatus.IDLE:
        return False
    for name, expected in _REPORTED_BYTES:
        value = pgconn.parameter_status(name)
        if value is not None and value != expected:
            logger.warning("discarding a pooled connection whose session settings were changed")
            return False
    if not conn.autocommit:
        # Someone used get_pool() directly and changed it; no round trip when idle.
        conn.autocommit = True
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if not poller.poll(0):
        return True
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        return False
    return True


def _rollback_quietly(conn: Connection) -> None:
    """Roll back after the block raised; a connection that cannot is closed (and replaced)."""
    status = conn.info.transaction_status
    if status in (TransactionStatus.IDLE, TransactionStatus.UNKNOWN):
        return
    if status == TransactionStatus.ACTIVE:
        # Raised mid-result (e.g. while streaming): the protocol is out of
        # step, so the connection cannot be reused.
        conn.close()
        return
    try:
        session.rollback(conn)
    except psycopg.Error:
        conn.close()


def _release(pool: Pool, conn: Connection) -> None:
    """Give a connection back, idle or closed; a pool closed meanwhile just closes it."""
    if conn.pgconn.transaction_status != TransactionStatus.IDLE:
        _rollback_quietly(conn)
    pool.putconn(conn)


def session_options(config: ServiceConfig) -> str:
    """libpq `options` for a service's connections.

    Besides the fixed formats, every session defaults to READ ONLY with the
    service's statement and lock timeouts. These are the same on every
    connection of a pool (a changed config builds a new pool), so a single
    read needs no transaction of its own (`single_read`: one round trip),
    and nothing a request sets can outlive it: requests only ever use SET
    LOCAL.
    """
    lock_timeout_ms = int(getattr(settings, "SLUICEGATE_LOCK_TIMEOUT_MS", DEFAULT_LOCK_TIMEOUT_MS))
    return (
        f"{SESSION_OPTIONS} -c default_transaction_read_only=on"
        f" -c statement_timeout={int(config.statement_timeout_ms)}"
        f" -c lock_timeout={lock_timeout_ms}"
    )


def _open_pool(config: ServiceConfig) -> Pool:
    conninfo = make_conninfo(
        "",
        **config.conninfo_params(),
        **KEEPALIVES,
        connect_timeout=str(CONNECT_TIMEOUT_SECONDS),
        options=session_options(config),
        client_encoding="UTF8",
    )
    pool: Pool = ConnectionPool(
        conninfo,
        # psycopg sends no BEGIN of its own; services.sql.session does.
        kwargs={"autocommit": True},
        min_size=config.pool_min_size,
        max_size=config.pool_max_size,
        open=False,
        name=f"sluicegate:{config.name}",
        timeout=DEFAULT_POOL_TIMEOUT_SECONDS,
        max_idle=MAX_IDLE_SECONDS,
    )
    pool.open(wait=False)
    return pool


def _close_in_background(pool: Pool) -> None:
    threading.Thread(
        target=pool.close,
        kwargs={"timeout": CLOSE_TIMEOUT_SECONDS},
        name=f"{pool.name}-close",
        daemon=True,
    ).start()


def _pool_timeout_seconds() -> float:
    return float(getattr(settings, "SLUICEGATE_POOL_TIMEOUT_SECONDS", DEFAULT_POOL_TIMEOUT_SECONDS))


def _forget_if_forked() -> None:
    """In a forked child, drop the parent's pools from the registry without closing them."""
    global _pid
    pid = os.getpid()
    if pid == _pid:
        return
    with _lock:
        if pid == _pid:
            return
        _inherited.extend(entry.pool for entry in _pools.values())
        _pools.clear()
        _pid = pid


def _after_fork_in_child() -> None:
    global _lock
    # A thread of the parent may have held the lock at fork; in the child it
    # would stay held forever.
    _lock = threading.Lock()
    _forget_if_forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def autocommit_connection(config: ServiceConfig) -> Iterator[Connection]:
    """Yield a pooled connection in autocommit mode, outside any transaction block.

    For statements that manage transactions themselves: a `CALL` of a
    procedure that commits fails inside `BEGIN … COMMIT`. Each statement is
    its own transaction under the session defaults (READ ONLY, the service's
    timeouts; see `session_options`); a block that needs writes changes the
    session default and restores it before it ends. A connection handed back
    with the default still changed, or inside a transaction, is closed rather
    than pooled again, so nothing the block did outlives it. On a service
    that assumes roles, the request's role and claims are set for the session
    and reset before the connection goes back (closed if that fails). Raises
    ServiceUnavailable as `read_transaction` does.
    """
    pool, conn = _checkout(config, deadline=monotonic() + _pool_timeout_seconds())
    identify = _identity.get() if config.assume_roles else None
    identity = identify() if identify is not None else None
    try:
        if identity is not None:
            session.assume_session_role(conn, pg_role=identity.pg_role, claims=identity.claims)
        yield conn
        if identity is not None:
            session.reset_session_role(conn)
            identity = None
    finally:
        if identity is not None:
            conn.close()  # could not be reset: never pooled again
        # PostgreSQL 14+ reports this setting to the client whenever it changes.
        if conn.info.parameter_status("default_transaction_read_only") not in (None, "on"):
            conn.close()
        _release(pool, conn)
