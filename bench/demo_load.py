"""Demo loading: COPY (what `manage.py demo` does) against row-by-row INSERTs."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from config.database import platform_conninfo
from services.demo import CONTACT_COLUMNS, drop_database, ensure_database
from services.demo.data import generate_demo_data

TABLE = sql.SQL(
    "CREATE TEMP TABLE bench_contacts (id bigint, external_id uuid, email text, first_name text,"
    " last_name text, phone text, job_title text, company_id bigint, status text, tags text[],"
    " attributes jsonb, lifetime_value numeric(12,2), birthday date, created_at timestamptz,"
    " updated_at timestamptz)"
)
COLUMNS = sql.SQL(", ").join(map(sql.Identifier, CONTACT_COLUMNS))


def timed_copy(conn: psycopg.Connection, rows: list[tuple[object, ...]]) -> float:
    started = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy(sql.SQL("COPY bench_contacts ({}) FROM STDIN").format(COLUMNS)) as copy,
    ):
        for row in rows:
            copy.write_row(row)
    return time.perf_counter() - started


def timed_inserts(conn: psycopg.Connection, rows: list[tuple[object, ...]]) -> float:
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(CONTACT_COLUMNS))
    statement = sql.SQL("INSERT INTO bench_contacts ({}) VALUES ({})").format(COLUMNS, placeholders)
    started = time.perf_counter()
    with conn.cursor() as cur:
        for row in rows:
            cur.execute(statement, row)
    return time.perf_counter() - started


def run() -> list[str]:
    rows = generate_demo_data().contacts
    dbname = "sluicegate_bench"
    ensure_database(dbname)
    try:
        with psycopg.connect(platform_conninfo(dbname=dbname)) as conn:
            conn.execute(TABLE)
            best_copy = min(timed_copy(conn, rows) for _ in range(3))
            conn.execute("TRUNCATE bench_contacts")
            best_insert = min(timed_inserts(conn, rows) for _ in range(3))
            conn.rollback()
    finally:
        drop_database(dbname)
    return [
        f"{len(rows)} contacts: COPY {best_copy * 1000:.0f} ms, "
        f"one INSERT per row {best_insert * 1000:.0f} ms (baseline)",
        f"COPY is {best_insert / best_copy:.1f}x faster than the baseline",
    ]
