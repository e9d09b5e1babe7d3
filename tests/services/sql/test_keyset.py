"""Keyset reads and write-backs: every row exactly once, in order, resumable; typed write-backs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from config.database import platform_conninfo
from services.sql.catalog import introspect
from services.sql.errors import InvalidField, InvalidValue, QueryError
from services.sql.keyset import (
    Position,
    RowSource,
    compile_chunk,
    compile_count,
    compile_existing_keys,
    compile_rows_by_keys,
    compile_watermark_max,
    fetch_keys,
    fetch_rows,
    fetch_scalar,
    row_source,
)
from services.sql.schema import SchemaSnapshot, Table
from services.sql.write_back import compile_write_back, run_write_back, write_back_columns
from tests.conftest import scratch_database

SCHEMA = """
CREATE TABLE lines (
    order_no   bigint NOT NULL,
    line_no    integer NOT NULL,
    label      text,
    amount     numeric(10, 2),
    changed    timestamptz,
    remote_id  text,
    synced_at  timestamptz,
    doubled    numeric GENERATED ALWAYS AS (amount * 2) STORED,
    PRIMARY KEY (order_no, line_no)
);
INSERT INTO lines (order_no, line_no, label, amount, changed)
SELECT o, l, 'L' || o || '-' || l, o + l / 100.0,
       -- ties on purpose: three rows share each watermark, one has none
       CASE WHEN o = 4 AND l = 3 THEN NULL
            ELSE timestamptz '2026-01-01 00:00:00.000001+00' + ((o * 10 + l) / 3) * interval '1 second'
       END
FROM generate_series(1, 5) AS o, generate_series(1, 4) AS l;
"""


@pytest.fixture(scope="module")
def database(worker_suffix: str, django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with scratch_database(f"sg_test_keyset_{worker_suffix}", django_db_blocker, [SCHEMA]) as name:
        yield name


@pytest.fixture(scope="module")
def snapshot(database: str) -> SchemaSnapshot:
    with psycopg.connect(platform_conninfo(dbname=database), autocommit=True) as conn:
        return introspect(conn, ("public",))


@pytest.fixture
def conn(database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(platform_conninfo(dbname=database)) as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def lines(snapshot: SchemaSnapshot) -> Table:
    table = snapshot.table("lines")
    assert table is not None
    return table


def read_all(
    conn: psycopg.Connection[Any], source: RowSource, *, limit: int, upto: str | None = None
) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    after: Position | None = None
    while True:
        rows = fetch_rows(conn, source, compile_chunk(source, after=after, limit=limit, upto=upto))
        if not rows:
            return keys
        keys.extend(row.key for row in rows)
        after = rows[-1].position


def test_chunks_read_every_row_once_in_key_order(conn: Any, lines: Table) -> None:
    source = row_source(lines, columns=["label", "amount"])
    keys = read_all(conn, source, limit=3)
    assert keys == [(str(o), str(line)) for o in range(1, 6) for line in range(1, 5)]
    first = fetch_rows(conn, source, compile_chunk(source, after=None, limit=1))[0]
    assert first.values == {"label": "L1-1", "amount": Decimal("1.01")}


def test_watermarked_chunks_break_ties_by_key_and_skip_rows_without_a_watermark(
    conn: Any, lines: Table
) -> None:
    source = row_source(lines, columns=["label"], watermark="changed")
    keys = read_all(conn, source, limit=2)
    assert len(keys) == 19
    assert len(set(keys)) == 19
    assert ("4", "3") not in keys
    expected = conn.execute(
        "SELECT order_no::text, line_no::text FROM lines WHERE changed IS NOT NULL "
        "ORDER BY changed, order_no, line_no"
    ).fetchall()
    assert keys == [tuple(row) for row in expected]
    assert fetch_scalar(conn, compile_count(source, after=None)) == 19


def test_a_position_resumes_exactly_where_it_stopped(conn: Any, lines: Table) -> None:
    source = row_source(lines, columns=["label"], watermark="changed")
    first = fetch_rows(conn, source, compile_chunk(source, after=None, limit=5))
    stop = first[-1].position
    assert stop.watermark is not None
    assert stop.watermark.endswith(".000001+00")
    rest = read_all_after(conn, source, stop)
    assert [row.key for row in first] + rest == read_all(conn, source, limit=100)
    assert fetch_scalar(conn, compile_count(source, after=stop)) == 14


def read_all_after(conn: Any, source: RowSource, after: Position) -> list[tuple[str, ...]]:
    rows = fetch_rows(conn, source, compile_chunk(source, after=after, limit=100))
    return [row.key for row in rows]


def test_a_watermark_bound_leaves_out_later_rows(conn: Any, lines: Table) -> None:
    source = row_source(lines, columns=[], watermark="changed")
    highest = fetch_scalar(conn, compile_watermark_max(source))
    assert len(read_all(conn, source, limit=4, upto=highest)) == 19
    conn.execute("UPDATE lines SET changed = now() + interval '1 day' WHERE order_no = 1")
    assert len(read_all(conn, source, limit=4, upto=highest)) == 15


def test_rows_by_key_and_which_keys_still_exist(conn: Any, lines: Table) -> None:
    source = row_source(lines, columns=["label"])
    rows = fetch_rows(conn, source, compile_rows_by_keys(source, [("2", "2"), ("9", "9")]))
    assert [(row.key, row.values["label"]) for row in rows] == [(("2", "2"), "L2-2")]
    conn.execute("DELETE FROM lines WHERE order_no = 3 AND line_no = 1")
    found = fetch_keys(conn, compile_existing_keys(source, [("3", "1"), ("3", "2"), ("7", "1")]))
    assert found == {("3", "2")}


def test_bad_names_and_keys_are_refused(lines: Table) -> None:
    with pytest.raises(InvalidField):
        row_source(lines, columns=["nope"])
    with pytest.raises(InvalidField):
        row_source(lines, columns=[], watermark="nope")
    source = row_source(lines, columns=[])
    with pytest.raises(QueryError, match="2 key value"):
        compile_chunk(source, after=Position(None, ("1",)), limit=5)
    with pytest.raises(QueryError):
        compile_rows_by_keys(source, [])


def test_write_back_sets_typed_values_by_key_in_one_statement(
    conn: Any, snapshot: SchemaSnapshot, lines: Table
) -> None:
    key = row_source(lines, columns=[]).key
    columns = write_back_columns(lines, ["remote_id", "synced_at"])
    moment = "2026-02-03T04:05:06.789+00:00"
    compiled = compile_write_back(
        snapshot,
        lines,
        key,
        columns,
        [
            (("1", "1"), {"remote_id": "101", "synced_at": moment}),
            (("2", "4"), {"remote_id": None}),
        ],
    )
    assert run_write_back(conn, compiled) == 2
    rows = conn.execute(
        "SELECT order_no, line_no, remote_id, synced_at FROM lines "
        "WHERE (order_no, line_no) IN ((1, 1), (2, 4)) ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        (1, 1, "101", datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)),
        (2, 4, None, None),
    ]


def test_write_back_refuses_generated_columns_and_values_that_do_not_fit(
    conn: Any, snapshot: SchemaSnapshot, lines: Table
) -> None:
    with pytest.raises(InvalidField):
        write_back_columns(lines, ["doubled"])
    key = row_source(lines, columns=[]).key
    columns = write_back_columns(lines, ["synced_at"])
    compiled = compile_write_back(
        snapshot, lines, key, columns, [(("1", "1"), {"synced_at": "not a time"})]
    )
    with pytest.raises(InvalidValue):
        run_write_back(conn, compiled)
