"""Introspection of functions and procedures: arguments, results, overloads."""

from typing import Any

import psycopg
import pytest

from services.sql.catalog import introspect
from services.sql.schema import SchemaSnapshot
from tests.services.sql.conftest import SCHEMAS

pytestmark = pytest.mark.django_db


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
