"""The schema cache: one versioned `SchemaSnapshot` per service, shared by every process.

One rule: a cached snapshot is served without a look at the database for at
most `SLUICEGATE_SCHEMA_CHECK_SECONDS` (default 5); after that it is served
again only once the version published in Redis (`sluicegate:schema:{name}`)
and the live catalog fingerprint both still match it. Otherwise the catalog is
re-introspected, the new version published and the cache replaced, so every
process and every instance picks up DDL and admin refreshes within one check
interval. This module runs no SQL of its own: `services.sql.catalog` does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from django.conf import settings
from psycopg.conninfo import make_conninfo

from services.connection import ServiceConfig
from services.sql.catalog import catalog_fingerprint, introspect
from services.sql.schema import SchemaSnapshot

logger = logging.getLogger(__name__)

DEFAULT_CHECK_SECONDS = 5.0
REDIS_KEY = "sluicegate:schema:{name}"
# A Redis that hangs must not hang API requests: the live fingerprint is checked anyway.
REDIS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class CachedSnapshot:
    """A snapshot as this process holds it: built for `stamp`, last confirmed at `checked`."""

    stamp: str
    snapshot: SchemaSnapshot
    checked: float  # time.monotonic()


# Per process, by service name. Entries are replaced whole, never mutated.
_snapshots: dict[str, CachedSnapshot] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_redis: tuple[str, redis.Redis] | None = None
_redis_guard = threading.Lock()


def get_snapshot(config: ServiceConfig) -> SchemaSnapshot:
    """Return the current schema snapshot of `config`'s service.

    Served from memory while younger than the check interval. Then one thread
    checks Redis and the live fingerprint (the others keep serving the cached
    snapshot meanwhile) and re-introspects if either moved on. A changed
    `config.stamp` always re-introspects. Raises `psycopg.Error` when the
    database cannot be reached or read; Redis errors are logged, not raised.
    """
    entry = _current(config)
    if entry is not None and not _due(entry):
        return entry.snapshot
    lock = _lock_for(config.name)
    if entry is None:
        lock.acquire()  # nothing to serve meanwhile: wait for the thread that builds it
    elif not lock.acquire(blocking=False):
        return entry.snapshot  # another thread is checking this very snapshot
    try:
        entry = _current(config)  # another thread may have just done the work
        if entry is not None and not _due(entry):
            return entry.snapshot
        return _check(config, entry)
    finally:
        lock.release()


def refresh_snapshot(config: ServiceConfig) -> SchemaSnapshot:
    """Re-introspect `config`'s service now, publish the version and cache the new snapshot.

    Always returns a newly built snapshot. Raises `psycopg.Error` when the
    database cannot be reached or read.
    """
    with _lock_for(config.name), _connect(config) as conn:
        return _rebuild(config, conn)


def _check(config: ServiceConfig, entry: CachedSnapshot | None) -> SchemaSnapshot:
    """Confirm `entry` against Redis and the live catalog, or build a new snapshot."""
    with _connect(config) as conn:
        if entry is None:
            return _rebuild(config, conn)
        reachable, published = _published_version(config.name)
        if published is not None and published != entry.snapshot.version:
            return _rebuild(config, conn)  # another process saw a different catalog
        if catalog_fingerprint(conn, config.schemas) != entry.snapshot.version:
            return _rebuild(config, conn)
    if reachable and published is None:  # Redis was emptied (restart, eviction)
        _publish(config.name, entry.snapshot.version, only_if_missing=True)
    _snapshots[config.name] = CachedSnapshot(entry.stamp, entry.snapshot, time.monotonic())
    return entry.snapshot


def _rebuild(config: ServiceConfig, conn: psycopg.Connection[Any]) -> SchemaSnapshot:
    # One REPEATABLE READ transaction: every catalog query sees the same state.
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    started = time.perf_counter()
    with conn.transaction():
        snapshot = introspect(conn, config.schemas)
    _snapshots[config.name] = CachedSnapshot(config.stamp, snapshot, time.monotonic())
    _publish(config.name, snapshot.version)
    logger.info(
        "service %s: schema version %s, %d tables, %d routines (%.0f ms)",
        config.name,
        snapshot.version,
        len(snapshot.tables),
        len(snapshot.routines),
        (time.perf_counter() - started) * 1000,
    )
    return snapshot


@contextmanager
def _connect(config: ServiceConfig) -> Iterator[psycopg.Connection[Any]]:
    """Yield a short-lived autocommit connection to the service's database.

    Introspection is rare and the fingerprint check runs once per interval per
    process, so a connection of its own costs little; `services.pools` offers
    pooled connections (`read_transaction`) this could switch to.
    """
    conninfo = make_conninfo(**config.conninfo_params(), connect_timeout="10")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn


def _current(config: ServiceConfig) -> CachedSnapshot | None:
    """Return the cached entry for `config`, unless it was built for other settings."""
    entry = _snapshots.get(config.name)
    return entry if entry is not None and entry.stamp == config.stamp else None


def _due(entry: CachedSnapshot) -> bool:
    seconds = float(getattr(settings, "SLUICEGATE_SCHEMA_CHECK_SECONDS", DEFAULT_CHECK_SECONDS))
    return time.monotonic() - entry.checked >= seconds


def _lock_for(name: str) -> threading.Lock:
    # One lock per service: a slow database never holds up another service's requests.
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def _redis_client() -> redis.Redis | None:
    """Return this process's Redis client (None when no REDIS_URL is configured)."""
    global _redis
    url = getattr(settings, "REDIS_URL", None)
    if not url:
        return None
    with _redis_guard:
        if _redis is None or _redis[0] != url:
            client = redis.Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            _redis = (url, client)
        return _redis[1]


def _published_version(name: str) -> tuple[bool, str | None]:
    """Return whether Redis answered, and the version it holds for service `name`."""
    client = _redis_client()
    if client is None:
        return False, None
    try:
        value = client.get(REDIS_KEY.format(name=name))
    except redis.RedisError as error:
        logger.warning("service %s: cannot read the schema version from Redis: %s", name, error)
        return False, None
    if value is None:
        return True, None
    return True, value.decode() if isinstance(value, bytes) else str(value)


def _publish(name: str, version: str, *, only_if_missing: bool = False) -> None:
    client = _redis_client()
    if client is None:
        return
    try:
        client.set(REDIS_KEY.format(name=name), version, nx=only_if_missing)
    except redis.RedisError as error:
        logger.warning("service %s: cannot publish the schema version to Redis: %s", name, error)
