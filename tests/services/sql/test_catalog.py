import dataclasses
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from config.database import platform_conninfo
from services.sql import catalog_queries
from services.sql.catalog import catalog_fingerprint, introspect
from services.sql.schema import Relationship, SchemaSnapshot

pytestmark = pytest.mark.django_db

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


def test_belongs_to_and_has_many(snapshot: SchemaSnapshot) -> None:
    books = snapshot.tables["books"]
    assert books.foreign_keys[0].columns == ("author_id",)
    assert books.foreign_keys[0].ref_table == "authors"
    assert books.foreign_keys[0].ref_columns == ("id",)
    assert books.relationship("authors_by_author_id") == Relationship(
        name="authors_by_author_id",
        kind="belongs_to",
        columns=("author_id",),
        ref_table="authors",
        ref_columns=("id",),
    )
    assert snapshot.tables["authors"].relationships == (
        Relationship(
            name="books_by_author_id",
            kind="has_many",
            columns=("id",),
            ref_table="books",
            ref_columns=("author_id",),
        ),
    )


def test_many_to_many_through_a_junction(snapshot: SchemaSnapshot) -> None:
    assert snapshot.tables["books"].relationships == (
        Relationship("authors_by_author_id", "belongs_to", ("author_id",), "authors", ("id",)),
        Relationship("book_genres_by_book_id", "has_many", ("id",), "book_genres", ("book_id",)),
        Relationship(
            name="genres_by_book_genres",
            kind="many_many",
            columns=("id",),
            ref_table="genres",
            ref_columns=("id",),
            junction="book_genres",
            junction_columns=("book_id",),
            junction_ref_columns=("genre_id",),
        ),
    )
    assert snapshot.tables["genres"].relationships == (
        Relationship("book_genres_by_genre_id", "has_many", ("id",), "book_genres", ("genre_id",)),
        Relationship(
            name="books_by_book_genres",
            kind="many_many",
            columns=("id",),
            ref_table="books",
            ref_columns=("id",),
            junction="book_genres",
            junction_columns=("genre_id",),
            junction_ref_columns=("book_id",),
        ),
    )
    assert snapshot.tables["book_genres"].relationships == (
        Relationship("books_by_book_id", "belongs_to", ("book_id",), "books", ("id",)),
        Relationship("genres_by_genre_id", "belongs_to", ("genre_id",), "genres", ("id",)),
    )
    for table in ("every_type", "order_lines", "event_log", "books_with_authors", "extra.notes"):
        assert snapshot.tables[table].relationships == ()


def test_clashing_relationship_names_get_numbered(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        b"CREATE TABLE pairs (id int PRIMARY KEY, x int, y int, UNIQUE (x, y));"
        b"CREATE TABLE nodes (id int PRIMARY KEY, parent_id int REFERENCES nodes (id),"
        b" pair_x int, pair_y int, FOREIGN KEY (pair_x, pair_y) REFERENCES pairs (x, y));"
        b"CREATE TABLE people (id int PRIMARY KEY);"
        b"CREATE TABLE friendships (a int REFERENCES people, b int REFERENCES people)"
    )
    tables = introspect(conn, SCHEMAS).tables
    # A self-reference: belongs_to keeps the bare name, has_many gets _2.
    assert [(rel.name, rel.kind, rel.columns) for rel in tables["nodes"].relationships] == [
        ("nodes_by_parent_id", "belongs_to", ("parent_id",)),
        ("nodes_by_parent_id_2", "has_many", ("id",)),
        ("pairs_by_nodes", "many_many", ("id",)),
        ("pairs_by_pair_x_pair_y", "belongs_to", ("pair_x", "pair_y")),
    ]
    assert [(rel.name, rel.kind, rel.columns) for rel in tables["pairs"].relationships] == [
        ("nodes_by_nodes", "many_many", ("x", "y")),
        ("nodes_by_pair_x_pair_y", "has_many", ("x", "y")),
    ]
    # Two foreign keys of one junction to the same table: both directions, numbered.
    people = tables["people"].relationships
    assert [(rel.name, rel.junction_columns, rel.junction_ref_columns) for rel in people] == [
        ("friendships_by_a", (), ()),
        ("friendships_by_b", (), ()),
        ("people_by_friendships", ("a",), ("b",)),
        ("people_by_friendships_2", ("b",), ("a",)),
    ]


def test_foreign_key_to_an_unexposed_schema_has_no_relationship(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute("CREATE TABLE extra.reviews (id int PRIMARY KEY, book_id int REFERENCES books)")
    reviews = introspect(conn, ("extra",)).tables["reviews"]
    assert [(fk.ref_schema, fk.ref_table, fk.ref_columns) for fk in reviews.foreign_keys] == [
        ("public", "public.books", ("id",))
    ]
    assert reviews.relationships == ()


def test_scalar_function_with_a_defaulted_argument(snapshot: SchemaSnapshot) -> None:
    routine = snapshot.routines["add_numbers"]
    assert (routine.kind, routine.return_type, routine.returns_set) == (
        "function",
        "integer",
        False,
    )
    assert [
        (a.name, a.mode, a.type_name, a.json_kind, a.has_default) for a in routine.arguments
    ] == [
        ("a", "IN", "integer", "integer", False),
        ("b", "IN", "integer", "integer", True),
    ]
    assert routine.result_columns == ()


def test_set_returning_function_of_a_table_type(snapshot: SchemaSnapshot) -> None:
    routine = snapshot.routines["books_by_author"]
    assert (routine.return_type, routine.returns_set) == ("books", True)
    assert [(a.name, a.base_type) for a in routine.arguments] == [("p_author_id", "int8")]
    assert [(c.name, c.type_name, c.json_kind) for c in routine.result_columns] == [
        ("id", "integer", "integer"),
        ("title", "text", "string"),
        ("author_id", "bigint", "integer"),
        ("published", "date", "date"),
        ("price", "numeric(8,2)", "number"),
    ]


def test_returns_table_function(snapshot: SchemaSnapshot) -> None:
    routine = snapshot.routines["price_stats"]
    assert (routine.returns_set, routine.arguments) == (True, ())
    assert [(c.name, c.mode, c.base_type, c.json_kind) for c in routine.result_columns] == [
        ("books", "TABLE", "int8", "integer"),
        ("total", "TABLE", "numeric", "number"),
    ]


def test_overloaded_function_is_listed_once_first_by_oid(snapshot: SchemaSnapshot) -> None:
    greet = snapshot.routines["greet"]
    assert [(a.name, a.mode) for a in greet.arguments] == [("name", "IN")]
    assert greet.return_type == "text"
    assert [[a.name for a in form.arguments] for form in greet.variants()] == [
        ["name"],
        ["name", "punctuation"],
    ]
    assert greet.overloads[0].overloads == ()


def test_routines_without_overloads_have_none(snapshot: SchemaSnapshot) -> None:
    routine = snapshot.routines["add_numbers"]
    assert routine.overloads == ()
    assert routine.variants() == (routine,)


def test_overloads_of_mixed_kinds_and_types(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        b"CREATE FUNCTION twin(a int) RETURNS int LANGUAGE sql AS 'SELECT a';"
        b"CREATE PROCEDURE twin(a text) LANGUAGE sql AS 'SELECT 1'"
    )
    twin = introspect(conn, SCHEMAS).routines["twin"]
    assert [(form.kind, form.arguments[0].type_name) for form in twin.variants()] == [
        ("function", "integer"),
        ("procedure", "text"),
    ]


def test_scalar_results_are_resolved_like_columns(snapshot: SchemaSnapshot) -> None:
    blob = snapshot.routines["blob_of"]
    assert (blob.return_type, blob.return_base_type, blob.return_kind) == (
        "bytea",
        "bytea",
        "string",
    )
    numbers = snapshot.routines["numbers"]
    assert (numbers.returns_set, numbers.return_base_type, numbers.return_kind) == (
        True,
        "int4",
        "integer",
    )
    assert snapshot.routines["double_it"].return_base_type == "void"


def test_procedure_with_an_inout_argument(snapshot: SchemaSnapshot) -> None:
    routine = snapshot.routines["double_it"]
    assert (routine.kind, routine.return_type, routine.returns_set) == ("procedure", "void", False)
    assert [(a.name, a.mode, a.base_type) for a in routine.arguments] == [
        ("factor", "IN", "int4"),
        ("value", "INOUT", "int4"),
    ]
    assert [(c.name, c.mode) for c in routine.result_columns] == [("value", "INOUT")]


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


def test_routine_shapes(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        b"CREATE TYPE pair AS (a int, b text);"
        b"CREATE FUNCTION pairs() RETURNS SETOF pair LANGUAGE sql AS $$ SELECT 1, 'x' $$;"
        b"CREATE FUNCTION split(IN whole int, OUT half int, OUT rest int)"
        b" LANGUAGE sql AS $$ SELECT whole / 2, whole % 2 $$;"
        b"CREATE FUNCTION total(VARIADIC xs int[]) RETURNS bigint"
        b" LANGUAGE sql AS $$ SELECT sum(x) FROM unnest(xs) x $$;"
        b"CREATE FUNCTION unnamed(int, text DEFAULT 'a') RETURNS int LANGUAGE sql AS 'SELECT $1';"
        b"CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';"
        b"CREATE AGGREGATE my_sum(int) (SFUNC = int4pl, STYPE = int)"
    )
    routines = introspect(conn, SCHEMAS).routines
    assert "touch" not in routines
    assert "my_sum" not in routines
    pairs = routines["pairs"]
    assert [(c.name, c.mode, c.json_kind) for c in pairs.result_columns] == [
        ("a", "TABLE", "integer"),
        ("b", "TABLE", "string"),
    ]
    split = routines["split"]
    assert [(a.name, a.mode) for a in split.arguments] == [
        ("whole", "IN"),
        ("half", "OUT"),
        ("rest", "OUT"),
    ]
    assert (split.return_type, split.returns_set) == ("record", False)
    assert [c.name for c in split.result_columns] == ["half", "rest"]
    total = routines["total"]
    assert [(a.name, a.mode, a.type_name, a.json_kind) for a in total.arguments] == [
        ("xs", "VARIADIC", "integer[]", "array")
    ]
    unnamed = routines["unnamed"]
    assert [(a.name, a.type_name, a.has_default) for a in unnamed.arguments] == [
        ("", "integer", False),
        ("", "text", True),
    ]


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
