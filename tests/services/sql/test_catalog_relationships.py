"""Relationships named from foreign keys: belongs-to, has-many, many-to-many."""

from typing import Any

import psycopg
import pytest

from services.sql.catalog import introspect
from services.sql.schema import Relationship, SchemaSnapshot
from tests.services.sql.conftest import SCHEMAS

pytestmark = pytest.mark.django_db


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
