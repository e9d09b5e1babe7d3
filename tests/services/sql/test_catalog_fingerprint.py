"""The catalog fingerprint: stable, moved by DDL only, and the snapshot version."""

from typing import Any

import psycopg
import pytest

from config.database import platform_conninfo
from services.sql.catalog import catalog_fingerprint
from services.sql.schema import SchemaSnapshot
from tests.services.sql.conftest import SCHEMAS

pytestmark = pytest.mark.django_db


def test_snapshot_version_is_the_fingerprint(
    snapshot: SchemaSnapshot, target_database: str
) -> None:
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()
        assert snapshot.version == catalog_fingerprint(conn, SCHEMAS)
    assert server_version is not None
    assert snapshot.server_version == server_version[0]
    assert len(snapshot.version) == 32


def fingerprint(target_database: str) -> str:
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        return catalog_fingerprint(conn, SCHEMAS)


def test_fingerprint_is_stable(target_database: str) -> None:
    assert fingerprint(target_database) == fingerprint(target_database)


SCHEMA_CHANGES = [
    "CREATE TABLE brand_new (id int)",
    "CREATE TABLE extra.brand_new (id int)",
    "DROP TABLE event_log",
    "ALTER TABLE event_log RENAME TO event_journal",
    "CREATE VIEW brand_new_view AS SELECT 1 AS one",
    "DROP VIEW books_with_authors",
    "CREATE MATERIALIZED VIEW brand_new_matview AS SELECT 1 AS one",
    "ALTER TABLE event_log ADD COLUMN level int",
    "ALTER TABLE extra.notes ADD COLUMN level int",
    "ALTER TABLE event_log DROP COLUMN message",
    "ALTER TABLE event_log DROP COLUMN message, ADD COLUMN message text NOT NULL DEFAULT ''",
    "DROP TABLE event_log; CREATE TABLE event_log (happened_at timestamptz NOT NULL,"
    " message text NOT NULL)",
    "ALTER TABLE event_log RENAME COLUMN message TO text",
    "ALTER TABLE event_log ALTER COLUMN message TYPE varchar(200)",
    "ALTER TABLE books ALTER COLUMN price TYPE numeric(10, 2)",
    "ALTER TABLE event_log ALTER COLUMN message DROP NOT NULL",
    "ALTER TABLE authors ALTER COLUMN country SET NOT NULL",
    "ALTER TABLE authors ALTER COLUMN country SET DEFAULT 'NL'",
    "ALTER TABLE every_type ALTER COLUMN c_not_null SET DEFAULT 'y'",
    "ALTER TABLE every_type ALTER COLUMN c_not_null DROP DEFAULT",
    "ALTER TABLE books ALTER COLUMN id DROP IDENTITY",
    "ALTER TABLE event_log ADD PRIMARY KEY (happened_at)",
    "ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey",
    "ALTER TABLE books ADD UNIQUE (title)",
    "ALTER TABLE authors DROP CONSTRAINT authors_name_key",
    "ALTER TABLE order_lines ADD FOREIGN KEY (order_id) REFERENCES books (id)",
    "ALTER TABLE books DROP CONSTRAINT books_author_id_fkey",
    "ALTER TABLE books RENAME CONSTRAINT books_author_id_fkey TO books_author_fk",
    "CREATE FUNCTION brand_new() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION greet(name text, punctuation text, times int) RETURNS text"
    " LANGUAGE sql AS 'SELECT name'",
    "DROP FUNCTION price_stats()",
    "CREATE OR REPLACE FUNCTION add_numbers(a integer, b integer DEFAULT 2) RETURNS integer"
    " LANGUAGE sql IMMUTABLE AS 'SELECT a + b'",
    "CREATE PROCEDURE brand_new_proc() LANGUAGE sql AS 'SELECT 1'",
    "DROP PROCEDURE double_it(integer, integer)",
    "ALTER TYPE mood ADD VALUE 'ecstatic'",
    "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'",
    "COMMENT ON TABLE books IS 'All the books'",
    "COMMENT ON COLUMN books.title IS 'The title'",
]


@pytest.mark.parametrize("ddl", SCHEMA_CHANGES)
def test_fingerprint_changes_with_ddl(
    target_database: str, conn: psycopg.Connection[Any], ddl: str
) -> None:
    before = fingerprint(target_database)
    assert catalog_fingerprint(conn, SCHEMAS) == before
    conn.execute(ddl.encode())
    assert catalog_fingerprint(conn, SCHEMAS) != before
    conn.rollback()
    assert catalog_fingerprint(conn, SCHEMAS) == before


UNRELATED_CHANGES = [
    "INSERT INTO event_log VALUES (now(), 'again')",
    "UPDATE books SET price = price + 1",
    "DELETE FROM book_genres",
    "TRUNCATE event_log",
    "ANALYZE books",
    "REFRESH MATERIALIZED VIEW author_book_counts",
    "CREATE TEMP TABLE scratch (id int)",
    "CREATE INDEX ON books (title)",
]


@pytest.mark.parametrize("dml", UNRELATED_CHANGES)
def test_fingerprint_ignores_data_changes(
    target_database: str, conn: psycopg.Connection[Any], dml: str
) -> None:
    before = fingerprint(target_database)
    conn.execute(dml.encode())
    assert catalog_fingerprint(conn, SCHEMAS) == before


def test_fingerprint_survives_vacuum_full(target_database: str) -> None:
    before = fingerprint(target_database)
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        conn.execute("VACUUM (FULL, FREEZE, ANALYZE) event_log")
        conn.execute("VACUUM (FREEZE) pg_catalog.pg_attribute")
    assert fingerprint(target_database) == before
