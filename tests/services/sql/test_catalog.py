"""Introspection of tables and views: columns, types, keys, names, partitions."""

import dataclasses
from typing import Any

import psycopg
import pytest

from config.database import platform_conninfo
from services.sql import catalog_queries
from services.sql.catalog import introspect
from services.sql.schema import SchemaSnapshot
from tests.services.sql.conftest import SCHEMAS

pytestmark = pytest.mark.django_db


# column: (json_kind, element_kind, base_type)
EVERY_TYPE_KINDS = {
    "id": ("integer", None, "int4"),
    "c_smallint": ("integer", None, "int2"),
    "c_integer": ("integer", None, "int4"),
    "c_bigint": ("integer", None, "int8"),
    "c_numeric": ("number", None, "numeric"),
    "c_real": ("number", None, "float4"),
    "c_double": ("number", None, "float8"),
    "c_boolean": ("boolean", None, "bool"),
    "c_text": ("string", None, "text"),
    "c_varchar": ("string", None, "varchar"),
    "c_char": ("string", None, "bpchar"),
    "c_uuid": ("string", None, "uuid"),
    "c_date": ("date", None, "date"),
    "c_time": ("time", None, "time"),
    "c_timetz": ("time", None, "timetz"),
    "c_timestamp": ("datetime", None, "timestamp"),
    "c_timestamptz": ("datetime", None, "timestamptz"),
    "c_interval": ("interval", None, "interval"),
    "c_json": ("json", None, "json"),
    "c_jsonb": ("json", None, "jsonb"),
    "c_bytea": ("string", None, "bytea"),
    "c_inet": ("string", None, "inet"),
    "c_cidr": ("string", None, "cidr"),
    "c_macaddr": ("string", None, "macaddr"),
    "c_int_array": ("array", "integer", "int4"),
    "c_text_array": ("array", "string", "text"),
    "c_int_matrix": ("array", "integer", "int4"),
    "c_enum": ("string", None, "mood"),
    "c_enum_array": ("array", "string", "mood"),
    "c_domain": ("integer", None, "int4"),
    "c_int4range": ("string", None, "int4range"),
    "c_tstzrange": ("string", None, "tstzrange"),
    "c_big_numeric": ("number", None, "numeric"),
    "c_generated": ("integer", None, "int4"),
    "c_not_null": ("string", None, "text"),
}


@pytest.mark.parametrize(("name", "expected"), EVERY_TYPE_KINDS.items())
def test_every_type_column_travels_as_its_json_kind(
    snapshot: SchemaSnapshot, name: str, expected: tuple[str, str | None, str]
) -> None:
    column = snapshot.tables["every_type"].column(name)
    assert column is not None
    assert (column.json_kind, column.element_kind, column.base_type) == expected


def test_every_type_lists_its_columns_in_table_order(
    snapshot: SchemaSnapshot, postgis: bool
) -> None:
    columns = snapshot.tables["every_type"].columns
    expected = list(EVERY_TYPE_KINDS) + (["c_geometry", "c_geography"] if postgis else [])
    assert [column.name for column in columns] == expected
    assert [column.position for column in columns] == list(range(1, len(expected) + 1))


def test_array_dimensions_and_type_names(snapshot: SchemaSnapshot) -> None:
    table = snapshot.tables["every_type"]
    dims = {name: table.by_name[name].array_dimensions for name in table.by_name}
    assert dims["c_int_array"] == dims["c_text_array"] == dims["c_enum_array"] == 1
    assert dims["c_int_matrix"] == 2
    assert dims["c_integer"] == 0
    assert table.by_name["c_int_array"].type_name == "integer[]"
    assert table.by_name["c_numeric"].type_name == "numeric(10,3)"
    assert table.by_name["c_timestamptz"].type_name == "timestamp with time zone"


def test_enum_labels_in_declared_order_also_for_enum_arrays(snapshot: SchemaSnapshot) -> None:
    table = snapshot.tables["every_type"]
    assert table.by_name["c_enum"].enum_labels == ("sad", "ok", "happy")
    assert table.by_name["c_enum_array"].enum_labels == ("sad", "ok", "happy")
    assert table.by_name["c_text"].enum_labels is None


def test_lengths_precision_scale_and_domain(snapshot: SchemaSnapshot) -> None:
    table = snapshot.tables["every_type"]
    numeric, big = table.by_name["c_numeric"], table.by_name["c_big_numeric"]
    assert (numeric.precision, numeric.scale) == (10, 3)
    assert (big.precision, big.scale) == (None, None)
    assert table.by_name["c_varchar"].max_length == 20
    assert table.by_name["c_char"].max_length == 3
    assert table.by_name["c_text"].max_length is None
    assert table.by_name["c_domain"].domain == "positive_int"
    assert table.by_name["c_domain"].type_name == "positive_int"
    assert table.by_name["c_integer"].domain is None
    price = snapshot.tables["books"].by_name["price"]
    assert (price.precision, price.scale) == (8, 2)


def test_nullability_defaults_identity_generated_and_auto(snapshot: SchemaSnapshot) -> None:
    every = snapshot.tables["every_type"].by_name
    serial = every["id"]
    assert serial.auto
    assert not serial.nullable
    assert not serial.is_identity
    assert serial.default is not None
    assert serial.default.startswith("nextval(")
    generated = every["c_generated"]
    assert generated.is_generated
    assert generated.auto
    assert generated.default is None
    not_null = every["c_not_null"]
    assert not not_null.nullable
    assert not_null.default == "'x'::text"
    assert not not_null.auto
    assert every["c_text"].nullable
    assert not every["c_text"].auto
    always = snapshot.tables["authors"].by_name["id"]
    by_default = snapshot.tables["books"].by_name["id"]
    for identity in (always, by_default):
        assert identity.is_identity
        assert identity.auto
        assert identity.default is None
    assert snapshot.tables["order_lines"].by_name["quantity"].default == "1"


def test_primary_and_unique_keys(snapshot: SchemaSnapshot) -> None:
    assert snapshot.tables["order_lines"].primary_key == ("order_id", "line_no")
    assert snapshot.tables["book_genres"].primary_key == ("book_id", "genre_id")
    assert snapshot.tables["event_log"].primary_key == ()
    assert snapshot.tables["authors"].primary_key == ("id",)
    assert snapshot.tables["authors"].unique == (("name",),)
    assert snapshot.tables["genres"].unique == (("name",),)


def test_views_and_materialized_views(snapshot: SchemaSnapshot) -> None:
    view = snapshot.tables["books_with_authors"]
    assert (view.kind, view.is_view, view.primary_key) == ("view", True, ())
    assert [column.name for column in view.columns] == ["id", "title", "author"]
    assert view.by_name["id"].json_kind == "integer"
    counts = snapshot.tables["author_book_counts"]
    assert (counts.kind, counts.is_view) == ("materialized_view", True)
    assert counts.by_name["books"].base_type == "int8"
    assert snapshot.tables["books"].kind == "table"
    assert not snapshot.tables["books"].is_view


def test_first_schema_gives_bare_names_the_others_qualified(snapshot: SchemaSnapshot) -> None:
    assert set(snapshot.tables) == {
        "every_type", "order_lines", "event_log", "authors", "books", "genres", "book_genres",
        "books_with_authors", "author_book_counts", "secrets", "extra.notes",
    }  # fmt: skip
    notes = snapshot.tables["extra.notes"]
    assert (notes.name, notes.sql_schema, notes.sql_name) == ("extra.notes", "extra", "notes")
    assert notes.primary_key == ("id",)
    assert snapshot.schemas == SCHEMAS


def test_names_follow_the_order_of_the_schemas(target_database: str) -> None:
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        flipped = introspect(conn, ("extra", "public"))
    assert "notes" in flipped.tables
    assert "public.books" in flipped.tables
    books = flipped.tables["public.books"]
    assert books.foreign_keys[0].ref_table == "public.authors"
    assert [rel.name for rel in books.relationships] == [
        "public.authors_by_author_id",
        "public.book_genres_by_book_id",
        "public.genres_by_public.book_genres",
    ]
    assert "public.add_numbers" in flipped.routines


def test_extension_objects_are_not_exposed(snapshot: SchemaSnapshot, postgis: bool) -> None:
    for name in ("spatial_ref_sys", "geometry_columns", "geography_columns"):
        assert name not in snapshot.tables
    assert set(snapshot.routines) == {
        "add_numbers", "books_by_author", "price_stats", "greet", "double_it", "sum_all",
        "split_number", "make_label", "note_call", "first_book", "numbers", "sample_values",
        "blob_of", "describe_mood", "echo_inet", "fail_with", "pick", "unnamed_pair",
        "extra.shout", "note_once", "note_twice", "count_books",
    }  # fmt: skip
    if postgis:
        table = snapshot.tables["every_type"]
        assert table.by_name["c_geometry"].json_kind == "geojson"
        assert table.by_name["c_geometry"].base_type == "geometry"
        assert table.by_name["c_geometry"].type_name == "geometry(Point,4326)"
        assert table.by_name["c_geography"].json_kind == "geojson"
        assert table.by_name["c_geography"].base_type == "geography"
    else:
        assert "c_geometry" not in snapshot.tables["every_type"].by_name


def test_introspection_does_not_query_per_table(conn: psycopg.Connection[Any]) -> None:
    statements: list[str] = []

    class Counting(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            statements.append(str(query))
            return super().execute(query, params, **kwargs)

    conn.cursor_factory = Counting
    introspect(conn, SCHEMAS)
    few = len(statements)
    conn.execute(
        b"DO $$ BEGIN FOR i IN 1..30 LOOP EXECUTE format("
        b"'CREATE TABLE many_%s (id int PRIMARY KEY, ref int REFERENCES books (id))', i);"
        b" END LOOP; END $$"
    )
    statements.clear()
    snapshot = introspect(conn, SCHEMAS)
    assert len(statements) == few <= 8
    assert len(snapshot.tables["books"].relationships) == 3 + 30


def test_partitions_domains_over_arrays_and_comments(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        b"CREATE TABLE readings (at date NOT NULL, value numeric) PARTITION BY RANGE (at);"
        b"CREATE TABLE readings_2024 PARTITION OF readings"
        b" FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        b"CREATE DOMAIN int_list AS int[];"
        b"CREATE DOMAIN code AS varchar(8);"
        b"CREATE TABLE tagged (ids int_list, code code, labels varchar(5)[]);"
        b"CREATE VIEW tagged_view AS SELECT ids, labels FROM tagged;"
        b"COMMENT ON TABLE tagged IS 'Tagged things';"
        b"COMMENT ON COLUMN tagged.code IS 'Short code'"
    )
    tables = introspect(conn, SCHEMAS).tables
    assert tables["readings"].kind == "table"
    assert "readings_2024" not in tables
    tagged = tables["tagged"]
    ids, code, labels = tagged.columns
    assert (ids.json_kind, ids.element_kind, ids.domain, ids.array_dimensions) == (
        "array",
        "integer",
        "int_list",
        1,
    )
    assert (code.json_kind, code.base_type, code.domain, code.max_length) == (
        "string",
        "varchar",
        "code",
        8,
    )
    assert (labels.json_kind, labels.max_length, labels.array_dimensions) == ("array", 5, 1)
    view_ids = tables["tagged_view"].by_name["ids"]
    assert (view_ids.json_kind, view_ids.array_dimensions) == ("array", 1)
    assert tagged.comment == "Tagged things"
    assert code.comment == "Short code"
    assert ids.comment is None


@pytest.mark.parametrize(
    ("query", "row_type", "params"),
    [
        (catalog_queries.RELATIONS, catalog_queries.RelationRow, [list(SCHEMAS)]),
        (catalog_queries.COLUMNS, catalog_queries.ColumnRow, [[]]),
        (catalog_queries.CONSTRAINTS, catalog_queries.ConstraintRow, [[]]),
        (catalog_queries.ROUTINES, catalog_queries.RoutineRow, [list(SCHEMAS)]),
        (catalog_queries.TYPES, catalog_queries.TypeRow, [[]]),
    ],
)
def test_row_fields_match_the_select_lists(
    conn: psycopg.Connection[Any], query: str, row_type: type, params: list[object]
) -> None:
    cursor = conn.execute(query, params)
    assert cursor.description is not None
    names = [column.name for column in cursor.description]
    assert names == [field.name for field in dataclasses.fields(row_type)]
