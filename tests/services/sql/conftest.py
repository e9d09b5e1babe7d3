"""Fixtures of the catalog tests: a snapshot of the target database and a throwaway connection."""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from config.database import platform_conninfo
from services.sql.catalog import introspect
from services.sql.schema import SchemaSnapshot

SCHEMAS = ("public", "extra")


@pytest.fixture(scope="module")
def snapshot(target_database: str) -> SchemaSnapshot:
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        return introspect(conn, SCHEMAS)


@pytest.fixture
def conn(target_database: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose every change is rolled back: the shared fixture stays as built."""
    with psycopg.connect(platform_conninfo(dbname=target_database)) as connection:
        yield connection
        connection.rollback()


@pytest.fixture(scope="module")
def postgis(target_database: str) -> bool:
    with psycopg.connect(platform_conninfo(dbname=target_database)) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
            is not None
        )
