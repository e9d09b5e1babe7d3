"""services.pools and services.sql.session against a real PostgreSQL.

Every test gets services of its own (unique names) on one scratch database of
this module; all pools are closed after each test.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from psycopg import sql

from services import pools
from services.connection import ServiceConfig
from services.sql import session

MakeConfig = Callable[..., ServiceConfig]
_names = itertools.count()


def maintenance_conninfo() -> str:
    """Where to run CREATE/DROP DATABASE: the server's `postgres` database, as Django does.

    The platform database need not exist: pytest-django creates its test
    database only when a collected test uses the ORM, and these do not.
    """
    from config.database import platform_conninfo

    for dbname in ("postgres", None):
        conninfo = platform_conninfo(dbname=dbname)
        try:
            psycopg.connect(conninfo).close()
        except psycopg.OperationalError:
            continue
        return conninfo
    pytest.fail("no database to connect to on the platform's PostgreSQL server")


@pytest.fixture(scope="module")
def scratch_database(worker_suffix: str) -> Iterator[str]:
    """A database of this module's own, with one table `items`."""
    from config.database import platform_conninfo

    name = f"sg_test_pools_{worker_suffix}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(maintenance_conninfo(), autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(platform_conninfo(dbname=name), autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)")
    yield name
    pools.close_all()
    with psycopg.connect(maintenance_conninfo(), autocommit=True) as admin:
        admin.execute(drop)


@pytest.fixture
def admin(scratch_database: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the scratch database, outside any pool."""
    from config.database import platform_conninfo

    with psycopg.connect(platform_conninfo(dbname=scratch_database), autocommit=True) as conn:
        yield conn


@pytest.fixture
def make_config(scratch_database: str, settings: Any) -> Iterator[MakeConfig]:
    """Build ServiceConfigs for the scratch database, each with a service name of its own."""
    settings.SLUICEGATE_POOL_TIMEOUT_SECONDS = 5
    db = settings.DATABASES["default"]

    def make(**overrides: Any) -> ServiceConfig:
        values: dict[str, Any] = {
            "name": f"pooltest{next(_names)}",
            "host": db.get("HOST") or "localhost",
            "port": int(db.get("PORT") or 5432),
            "database": scratch_database,
            "user": db.get("USER") or "postgres",
            "password": db.get("PASSWORD") or "",
            "pool_min_size": 1,
            "pool_max_size": 1,
            "stamp": "v1",
        }
        values.update(overrides)
        return ServiceConfig(**values)

    yield make
    pools.close_all()


def backend_pid(conn: psycopg.Connection[Any]) -> int:
    return conn.info.backend_pid


def terminate(admin: psycopg.Connection[Any], *pids: int) -> None:
    """Terminate the given backends and wait until they are gone."""
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def count_items(admin: psycopg.Connection[Any], name: str) -> int:
    row = admin.execute("SELECT count(*) FROM items WHERE name = %s", [name]).fetchone()
    assert row is not None
    return int(row[0])


# Session settings -----------------------------------------------------------


def test_session_is_utc_with_iso_styles(make_config: MakeConfig) -> None:
    with pools.read_transaction(make_config()) as conn:
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
        assert conn.execute("SHOW IntervalStyle").fetchone() == ("iso_8601",)
        date_style = conn.execute("SHOW DateStyle").fetchone()
        texts = conn.execute(
            "SELECT interval '1 day 2 hours'::text, timestamptz '2024-01-02 03:04:05+02'::text"
        ).fetchone()
    assert date_style is not None
    assert date_style[0].startswith("ISO,")
    assert texts == ("P1DT2H", "2024-01-02 01:04:05+00")


def test_read_transaction_is_read_only(make_config: MakeConfig) -> None:
    config = make_config()
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # noqa: SIM117
        with pools.read_transaction(config) as conn:
            conn.execute("INSERT INTO items (name) VALUES ('nope')")
    with pools.read_transaction(config) as conn:
        row = conn.execute("SELECT current_setting('transaction_read_only')").fetchone()
    assert row == ("on",)


def test_write_transaction_commits(make_config: MakeConfig, admin: psycopg.Connection[Any]) -> None:
    with pools.write_transaction(make_config()) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('committed')")
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("off",)
    assert count_items(admin, "committed") == 1


def test_exception_inside_write_transaction_rolls_back_and_returns_a_clean_connection(
    make_config: MakeConfig, admin: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config()

    def insert_then_raise() -> None:
        with pools.write_transaction(config) as conn:
            conn.execute("INSERT INTO items (name) VALUES ('rolled back')")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        insert_then_raise()
    assert count_items(admin, "rolled back") == 0
    with pools.read_transaction(config) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # The pool found it idle: no "rolling back returned connection" from psycopg_pool.
    assert not [
        r for r in caplog.records if r.name.startswith("psycopg") and r.levelno >= logging.WARNING
    ]


def test_failed_statement_rolls_back_the_whole_transaction(
    make_config: MakeConfig, admin: psycopg.Connection[Any]
) -> None:
    config = make_config()

    def insert_then_fail() -> None:
        with pools.write_transaction(config) as conn:
            conn.execute("INSERT INTO items (name) VALUES ('before error')")
            conn.execute("SELECT * FROM no_such_table")

    with pytest.raises(psycopg.errors.UndefinedTable):
        insert_then_fail()
    assert count_items(admin, "before error") == 0
    with pools.write_transaction(config) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_swallowed_error_is_not_committed(
    make_config: MakeConfig, admin: psycopg.Connection[Any]
) -> None:
    def insert_then_swallow_an_error() -> None:
        with pools.write_transaction(make_config()) as conn:
            conn.execute("INSERT INTO items (name) VALUES ('swallowed')")
            with contextlib.suppress(psycopg.errors.DivisionByZero):
                conn.execute("SELECT 1 / 0")

    with pytest.raises(psycopg.errors.InFailedSqlTransaction):
        insert_then_swallow_an_error()
    assert count_items(admin, "swallowed") == 0


# Timeouts ---------------------------------------------------------------------


def test_statement_timeout_cancels_a_long_statement(make_config: MakeConfig) -> None:
    config = make_config(statement_timeout_ms=100)
    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled), pools.read_transaction(config) as conn:
        conn.execute("SELECT pg_sleep(1)")
    assert time.monotonic() - started < 0.9
    with pools.read_transaction(config) as conn:  # the connection is fine afterwards
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_lock_timeout_applies(
    make_config: MakeConfig, admin: psycopg.Connection[Any], settings: Any
) -> None:
    settings.SLUICEGATE_LOCK_TIMEOUT_MS = 100
    with admin.transaction():
        admin.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        with (
            pytest.raises(psycopg.errors.LockNotAvailable),
            pools.read_transaction(make_config()) as conn,
        ):
            conn.execute("SELECT count(*) FROM items")


def test_timeouts_do_not_leak_to_the_next_user_of_the_connection(
    make_config: MakeConfig, admin: psycopg.Connection[Any], settings: Any
) -> None:
    server_default = admin.execute(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
    ).fetchone()
    settings.SLUICEGATE_LOCK_TIMEOUT_MS = 250
    config = make_config(statement_timeout_ms=100)  # max_size=1: one connection throughout
    probe = "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"

    with pools.read_transaction(config) as conn:
        assert conn.execute(probe).fetchone() == ("100ms", "250ms")
        pid = backend_pid(conn)

    # Another timeout (same stamp, so the same pool), lock timeout read anew.
    settings.SLUICEGATE_LOCK_TIMEOUT_MS = 1234
    with pools.write_transaction(replace(config, statement_timeout_ms=2500)) as conn:
        assert conn.execute(probe).fetchone() == ("2500ms", "1234ms")
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("off",)
        assert backend_pid(conn) == pid

    # Outside our helpers the same connection has the pool's own defaults
    # (the service's timeouts, read-only), not what a request set.
    with pools.get_pool(config).connection() as conn:
        assert backend_pid(conn) == pid
        assert conn.execute(probe).fetchone() == ("100ms", "250ms")
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
    assert server_default != ("100ms", "250ms")


def test_single_read_runs_read_only_under_the_service_timeouts(make_config: MakeConfig) -> None:
    config = make_config(statement_timeout_ms=100)
    probe = "SELECT current_setting('statement_timeout'), current_setting('transaction_read_only')"
    assert pools.single_read(config, lambda conn: conn.execute(probe).fetchone()) == ("100ms", "on")
    with pytest.raises(psycopg.errors.QueryCanceled):
        pools.single_read(config, lambda conn: conn.execute("SELECT pg_sleep(1)"))
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        pools.single_read(config, lambda conn: conn.execute("CREATE TABLE nope (id int)"))


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_begin_rejects_a_timeout_that_is_not_a_non_negative_int(
    admin: psycopg.Connection[Any], bad: Any
) -> None:
    with pytest.raises(ValueError, match="timeout"):
        session.begin(admin, read_only=True, statement_timeout_ms=bad, lock_timeout_ms=0)
    assert admin.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


# Recovery ---------------------------------------------------------------------


def test_terminated_backend_is_replaced_without_a_restart(
    make_config: MakeConfig, admin: psycopg.Connection[Any]
) -> None:
    config = make_config()
    with pools.read_transaction(config) as conn:
        pid = backend_pid(conn)
    terminate(admin, pid)
    with pools.read_transaction(config) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert backend_pid(conn) != pid


def test_restarted_database_with_a_full_pool_recovers_at_once(
    make_config: MakeConfig, admin: psycopg.Connection[Any]
) -> None:
    config = make_config(pool_min_size=4, pool_max_size=4)
    pool = pools.get_pool(config)
    pool.wait(timeout=5)
    pids = [
        row[0]
        for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            [f"sluicegate:{config.name}"],
        )
    ]
    assert len(pids) == 4
    terminate(admin, *pids)  # what a restart does to every pooled connection
    started = time.monotonic()
    with pools.read_transaction(config) as conn:
        assert backend_pid(conn) not in pids
    # psycopg_pool's own check= loop sleeps ~1 s, 2 s, 4 s between dead connections (7 s here).
    assert time.monotonic() - started < 2


def test_dead_connection_the_socket_check_missed_is_retried_once(
    make_config: MakeConfig,
    admin: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config()
    with pools.read_transaction(config) as conn:
        pid = backend_pid(conn)
    terminate(admin, pid)
    monkeypatch.setattr(pools, "_usable", lambda conn: True)  # as if it died after the check
    with (
        caplog.at_level(logging.WARNING, logger="services.pools"),
        pools.read_transaction(config) as conn,
    ):
        assert backend_pid(conn) != pid
    assert "pooled connection was dead" in caplog.text


def test_second_dead_connection_in_a_row_is_unavailable(
    make_config: MakeConfig, admin: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(pool_min_size=2, pool_max_size=2)
    pool = pools.get_pool(config)
    pool.wait(timeout=5)
    with pools.read_transaction(config) as first, pools.read_transaction(config) as second:
        pids = (backend_pid(first), backend_pid(second))
    terminate(admin, *pids)
    monkeypatch.setattr(pools, "_usable", lambda conn: True)
    with pytest.raises(pools.ServiceUnavailable) as caught, pools.read_transaction(config):
        pass
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    monkeypatch.undo()
    with pools.read_transaction(config) as conn:  # and the pool recovers
        assert backend_pid(conn) not in pids


def test_unreachable_database_is_unavailable_within_the_pool_timeout(
    make_config: MakeConfig, settings: Any
) -> None:
    settings.SLUICEGATE_POOL_TIMEOUT_SECONDS = 0.3
    config = make_config(host="127.0.0.1", port=1)  # nothing listens there
    started = time.monotonic()
    with pytest.raises(pools.ServiceUnavailable, match=r"^Service '.+' is unavailable\.$"):  # noqa: SIM117
        with pools.read_transaction(config):
            pass
    assert time.monotonic() - started < 2


# Pool life cycle --------------------------------------------------------------


def test_same_stamp_reuses_the_pool(make_config: MakeConfig) -> None:
    config = make_config()
    assert pools.get_pool(config) is pools.get_pool(replace(config, statement_timeout_ms=1))


def test_changed_stamp_rebuilds_the_pool_and_closes_the_old_one(make_config: MakeConfig) -> None:
    config = make_config()
    old = pools.get_pool(config)
    with pools.read_transaction(config) as conn:
        old_pid = backend_pid(conn)
        # Settings edited while a request holds a connection of the old pool.
        new = pools.get_pool(replace(config, stamp="v2"))
        assert new is not old
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the request finishes undisturbed
    deadline = time.monotonic() + 5
    while not old.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert old.closed
    assert conn.closed  # returned to a closed pool: closed, not pooled
    with pools.read_transaction(replace(config, stamp="v2")) as conn:
        assert backend_pid(conn) != old_pid
    assert pools.get_pool(replace(config, stamp="v2")) is new


def test_close_pool_closes_it_and_the_next_use_opens_another(make_config: MakeConfig) -> None:
    config = make_config()
    first = pools.get_pool(config)
    pools.close_pool(config.name)
    assert first.closed
    pools.close_pool(config.name)  # nothing left to close: no error
    with pools.read_transaction(config) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert pools.get_pool(config) is not first


def test_forked_process_leaves_inherited_pools_alone_and_opens_its_own(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config()
    with pools.read_transaction(config) as conn:
        parent_pid = backend_pid(conn)
    parent = pools.get_pool(config)
    monkeypatch.setattr(pools, "_inherited", [])
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)  # what a forked worker sees

    child = pools.get_pool(config)
    assert child is not parent
    assert not parent.closed  # its sockets are the parent's: not closed, not used
    assert pools._inherited == [parent]
    with pools.read_transaction(config) as conn:
        assert backend_pid(conn) != parent_pid

    pools.close_all()
    assert child.closed
    assert not parent.closed
    parent.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_real_fork_keeps_the_parent_session_alive(make_config: MakeConfig) -> None:
    config = make_config()
    with pools.read_transaction(config) as conn:
        parent_backend = backend_pid(conn)

    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code only
        code = 1
        try:
            with pools.read_transaction(config) as conn:
                code = 0 if backend_pid(conn) != parent_backend else 2
            pools.close_all()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The child neither used nor closed the parent's connection.
    with pools.read_transaction(config) as conn:
        assert backend_pid(conn) == parent_backend


def test_many_threads_share_a_small_pool(make_config: MakeConfig) -> None:
    config = make_config(pool_min_size=1, pool_max_size=3)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                with pools.read_transaction(config) as conn:
                    assert conn.execute("SELECT 1").fetchone() == (1,)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert pools.get_pool(config).get_stats()["pool_max"] == 3


def test_exhausted_pool_raises_service_unavailable(make_config: MakeConfig, settings: Any) -> None:
    settings.SLUICEGATE_POOL_TIMEOUT_SECONDS = 0.2
    config = make_config()
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with pools.read_transaction(config):
            holding.set()
            done.wait(timeout=10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        started = time.monotonic()
        with pytest.raises(pools.ServiceUnavailable) as caught:  # noqa: SIM117
            with pools.read_transaction(config):
                pass
        assert 0.15 < time.monotonic() - started < 2
        assert str(caught.value) == f"Service '{config.name}' is unavailable."
        assert caught.value.service == config.name
    finally:
        done.set()
        holder.join(timeout=10)
    with pools.read_transaction(config) as conn:  # free again once the holder is done
        assert conn.execute("SELECT 1").fetchone() == (1,)
