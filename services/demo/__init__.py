"""The demo CRM database: a realistic schema with seeded, deterministic data.

One rule: loading is idempotent and all-or-nothing. The whole schema and its
rows are written in one transaction under an advisory lock, and a database
that already holds this version of the demo is left as it is (`reset=True`
rebuilds it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from config.database import platform_conninfo
from services.demo.data import DemoData, generate_demo_data

DEMO_VERSION = 1
VERSION_MARK = f"sluicegate-demo v{DEMO_VERSION}"
# Any fixed number: serialises concurrent loaders of the same database.
LOCK_KEY = 0x5164_656D


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What `load_demo` did: the database, whether it loaded rows, the row counts."""

    database: str
    loaded: bool
    postgis: bool
    counts: dict[str, int]


TABLES = ("companies", "contacts", "deals", "segments", "contact_segments")
# Column order of the generated rows (services.demo.data); `location` is
# appended to companies when PostGIS is there.
COMPANY_COLUMNS = (
    "id", "name", "domain", "industry", "employees", "annual_revenue", "country",
    "city", "founded", "is_public", "created_at", "updated_at",
)  # fmt: skip
CONTACT_COLUMNS = (
    "id", "external_id", "email", "first_name", "last_name", "phone", "job_title",
    "company_id", "status", "tags", "attributes", "lifetime_value", "birthday",
    "created_at", "updated_at",
)  # fmt: skip
DEAL_COLUMNS = (
    "id", "name", "contact_id", "company_id", "amount", "stage", "close_date",
    "created_at", "updated_at",
)  # fmt: skip


def ensure_database(dbname: str) -> None:
    """Create the database `dbname` on the platform's server if it does not exist."""
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if exists:
            return
        # A concurrent loader may create it between the look-up and here.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def drop_database(dbname: str) -> None:
    """Drop the database `dbname` (used by tests and `demo --drop`)."""
    with psycopg.connect(platform_conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


def count_rows(conn: psycopg.Connection) -> dict[str, int]:
    """Return the row count of every demo table."""
    counts = {}
    for table in TABLES:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
        counts[table] = row[0] if row else 0
    return counts


def load_demo(dbname: str, *, reset: bool = False) -> DemoResult:
    """Create and fill the demo database `dbname` unless it already holds this version.

    Returns what was done. Raises psycopg errors only for server failures.
    """
    ensure_database(dbname)
    with psycopg.connect(platform_conninfo(dbname=dbname)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        mark = conn.execute(
            "SELECT obj_description('public'::regnamespace, 'pg_namespace')"
        ).fetchone()
        postgis_available = bool(
            conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
        )
        if mark and mark[0] == VERSION_MARK and not reset:
            postgis = bool(
                conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone()
            )
            return DemoResult(dbname, loaded=False, postgis=postgis, counts=count_rows(conn))

        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
        schema = resources.files("services.demo").joinpath("schema.sql").read_text()
        conn.execute(schema.encode())  # static DDL shipped with the code; no input in it
        if postgis_available:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
            conn.execute("ALTER TABLE companies ADD COLUMN location geography(Point, 4326)")
        copy_rows(conn, generate_demo_data(), postgis=postgis_available)
        conn.execute("REFRESH MATERIALIZED VIEW company_revenue")
        conn.execute(sql.SQL("COMMENT ON SCHEMA public IS {}").format(sql.Literal(VERSION_MARK)))
        return DemoResult(dbname, loaded=True, postgis=postgis_available, counts=count_rows(conn))


def copy_rows(conn: psycopg.Connection, data: DemoData, *, postgis: bool) -> None:
    """COPY the generated rows into the demo tables and move the identity sequences on."""
    company_columns = COMPANY_COLUMNS + (("location",) if postgis else ())
    companies = data.companies if postgis else [row[:-1] for row in data.companies]
    tables = (
        ("companies", company_columns, companies),
        ("contacts", CONTACT_COLUMNS, data.contacts),
        ("deals", DEAL_COLUMNS, data.deals),
        ("segments", ("id", "name", "description"), data.segments),
        ("contact_segments", ("contact_id", "segment_id", "added_at"), data.contact_segments),
    )
    with conn.cursor() as cur:
        for table, columns, rows in tables:
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with cur.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        for table in ("companies", "contacts", "deals", "segments"):
            cur.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), max(id)) FROM {}").format(
                    sql.Literal(table), sql.Identifier(table)
                )
            )
