import dataclasses
import threading
from collections.abc import Iterator

import psycopg
import pytest
import redis
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings

from config.database import platform_conninfo
from services import schema_cache
from services.connection import ServiceConfig
from services.demo import drop_database, ensure_database
from services.sql.schema import SchemaSnapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def scratch_database(worker_suffix: str, django_db_setup: None) -> Iterator[str]:
    """A database of this module's own, dropped at the end."""
    dbname = f"sg_test_cache_{worker_suffix}"
    drop_database(dbname)
    ensure_database(dbname)
    yield dbname
    drop_database(dbname)


@pytest.fixture
def config(scratch_database: str, worker_suffix: str) -> Iterator[ServiceConfig]:
    """A service on the scratch database, reset to one table, with nothing cached or published."""
    ddl(
        scratch_database,
        "DROP SCHEMA IF EXISTS public, crm CASCADE; CREATE SCHEMA public;"
        " CREATE TABLE contacts (id int PRIMARY KEY, email text NOT NULL)",
    )
    db = django_settings.DATABASES["default"]
    service = ServiceConfig(
        name=f"cache_test_{worker_suffix}",
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 5432),
        database=scratch_database,
        user=db["USER"] or "postgres",
        password="",
        stamp="1",
    )
    key = schema_cache.REDIS_KEY.format(name=service.name)
    client().delete(key)
    schema_cache._snapshots.pop(service.name, None)
    yield service
    schema_cache._snapshots.pop(service.name, None)
    client().delete(key)


@pytest.fixture
def check_always(settings: Settings) -> None:
    settings.SLUICEGATE_SCHEMA_CHECK_SECONDS = 0


def client() -> redis.Redis:
    assert django_settings.REDIS_URL, "these tests need REDIS_URL"
    return redis.Redis.from_url(django_settings.REDIS_URL)


def ddl(dbname: str, statement: str) -> None:
    with psycopg.connect(platform_conninfo(dbname=dbname), autocommit=True) as conn:
        conn.execute(statement.encode())


def published(config: ServiceConfig) -> bytes | None:
    value = client().get(schema_cache.REDIS_KEY.format(name=config.name))
    assert value is None or isinstance(value, bytes)
    return value


def test_snapshot_is_cached_between_checks(config: ServiceConfig, settings: Settings) -> None:
    settings.SLUICEGATE_SCHEMA_CHECK_SECONDS = 3600
    first = schema_cache.get_snapshot(config)
    assert list(first.tables) == ["contacts"]
    ddl(config.database, "CREATE TABLE deals (id int)")
    assert schema_cache.get_snapshot(config) is first  # not looked at within the interval


def test_unchanged_schema_keeps_the_same_snapshot(
    config: ServiceConfig, check_always: None
) -> None:
    first = schema_cache.get_snapshot(config)
    assert schema_cache.get_snapshot(config) is first
    assert schema_cache.get_snapshot(config) is first


def test_added_column_and_table_show_up_after_the_check_interval(
    config: ServiceConfig, check_always: None
) -> None:
    first = schema_cache.get_snapshot(config)
    ddl(config.database, "ALTER TABLE contacts ADD COLUMN phone text")
    second = schema_cache.get_snapshot(config)
    assert second.version != first.version
    assert second.tables["contacts"].column("phone") is not None
    ddl(
        config.database,
        "CREATE TABLE deals (id int PRIMARY KEY, contact_id int REFERENCES contacts)",
    )
    third = schema_cache.get_snapshot(config)
    assert set(third.tables) == {"contacts", "deals"}
    assert third.tables["deals"].relationship("contacts_by_contact_id") is not None
    assert published(config) == third.version.encode()


def test_dropped_table_disappears(config: ServiceConfig, check_always: None) -> None:
    ddl(config.database, "CREATE TABLE deals (id int)")
    assert "deals" in schema_cache.get_snapshot(config).tables
    ddl(config.database, "DROP TABLE deals")
    assert set(schema_cache.get_snapshot(config).tables) == {"contacts"}


def test_refresh_publishes_the_version_to_redis(config: ServiceConfig) -> None:
    cached = schema_cache.get_snapshot(config)
    client().delete(schema_cache.REDIS_KEY.format(name=config.name))
    refreshed = schema_cache.refresh_snapshot(config)
    assert refreshed is not cached  # always re-read, even when nothing changed
    assert refreshed.version == cached.version
    assert published(config) == refreshed.version.encode()
    assert schema_cache.get_snapshot(config) is refreshed


def test_a_second_process_loads_its_own_copy(config: ServiceConfig) -> None:
    first = schema_cache.get_snapshot(config)
    schema_cache._snapshots.clear()  # what a freshly started process holds
    second = schema_cache.get_snapshot(config)
    assert second is not first
    assert second == first


def test_a_version_published_by_another_process_reloads(
    config: ServiceConfig, check_always: None
) -> None:
    first = schema_cache.get_snapshot(config)
    client().set(schema_cache.REDIS_KEY.format(name=config.name), "another-version")
    second = schema_cache.get_snapshot(config)
    assert second is not first
    assert published(config) == second.version.encode()
    assert schema_cache.get_snapshot(config) is second


def test_a_missing_redis_version_is_published_again(
    config: ServiceConfig, check_always: None
) -> None:
    first = schema_cache.get_snapshot(config)
    client().delete(schema_cache.REDIS_KEY.format(name=config.name))
    assert schema_cache.get_snapshot(config) is first
    assert published(config) == first.version.encode()


def test_changed_settings_reintrospect(config: ServiceConfig, settings: Settings) -> None:
    settings.SLUICEGATE_SCHEMA_CHECK_SECONDS = 3600
    first = schema_cache.get_snapshot(config)
    edited = dataclasses.replace(config, stamp="2")
    second = schema_cache.get_snapshot(edited)
    assert second is not first
    assert schema_cache.get_snapshot(edited) is second


def test_other_schemas_follow_the_config(config: ServiceConfig) -> None:
    ddl(config.database, "CREATE SCHEMA crm; CREATE TABLE crm.notes (id int)")
    both = dataclasses.replace(config, schemas=("public", "crm"), stamp="2")
    assert set(schema_cache.get_snapshot(both).tables) == {"contacts", "crm.notes"}


def test_concurrent_first_requests_build_one_snapshot(
    config: ServiceConfig, check_always: None
) -> None:
    results: list[SchemaSnapshot] = []
    start = threading.Barrier(8)

    def request() -> None:
        start.wait()
        results.append(schema_cache.get_snapshot(config))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len({id(snapshot) for snapshot in results}) == 1


def test_unreachable_database_raises(config: ServiceConfig) -> None:
    broken = dataclasses.replace(config, name=f"{config.name}_broken", database="sg_no_such_db")
    with pytest.raises(psycopg.OperationalError):
        schema_cache.get_snapshot(broken)
    assert broken.name not in schema_cache._snapshots


def test_unreachable_redis_falls_back_to_the_fingerprint(
    config: ServiceConfig, check_always: None, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    first = schema_cache.get_snapshot(config)
    assert schema_cache.get_snapshot(config) is first
    ddl(config.database, "ALTER TABLE contacts ADD COLUMN phone text")
    assert schema_cache.get_snapshot(config).tables["contacts"].column("phone") is not None
    assert "cannot read the schema version from Redis" in caplog.text
