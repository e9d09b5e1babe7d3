"""Nested writes of related records: belongs-to, has-many, many-to-many, under each table's policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body, error_of, run_sql

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi
make_writer = writes_support.make_writer

Maker = Callable[..., WriteApi]
AUTHORS, BOOKS = "/_table/authors", "/_table/books"
ALL_VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# The tables only these tests use; books and authors are reset by `writes_clean`.
RESET_RELATED = (
    "DELETE FROM book_tags; DELETE FROM chapters; DELETE FROM tags;"
    " SELECT setval(pg_get_serial_sequence('chapters', 'id'), 1, false);"
    " SELECT setval(pg_get_serial_sequence('tags', 'id'), 1, false)"
)


@pytest.fixture(autouse=True)
def related_clean(writes_clean: str) -> None:
    run_sql(writes_clean, RESET_RELATED)


def rule(table: str, verbs: list[str], **policy: Any) -> dict[str, Any]:
    return {"component": f"_table/{table}", "verbs": verbs, **policy}


def seed_author_with_books(api: WriteApi) -> None:
    """Author 1 with books 1 ("one") and 2 ("two"); book 3 ("loose") without an author."""
    assert api.post(AUTHORS, [{"name": "Ann"}]).status_code == 200
    books = [{"title": "one", "author_id": 1}, {"title": "two", "author_id": 1}, {"title": "loose"}]
    assert api.post(BOOKS, books).status_code == 200


# --- belongs-to ---------------------------------------------------------------------


def test_a_new_parent_is_created_first_and_linked(wapi: WriteApi) -> None:
    records = [{"title": "Dune", "authors_by_author_id": {"name": "Herbert", "country": "US"}}]
    response = wapi.post(BOOKS, records)
    assert response.status_code == 200, response.content
    assert body(response) == {"resource": [{"id": 1}]}
    assert wapi.rows("SELECT id, name, country FROM authors") == [(1, "Herbert", "US")]
    assert wapi.rows("SELECT title, author_id FROM books") == [("Dune", 1)]


def test_a_parent_with_its_key_is_updated_or_only_linked(wapi: WriteApi) -> None:
    wapi.post(AUTHORS, [{"name": "Ann"}, {"name": "Bob"}])
    records = [
        {"title": "a", "authors_by_author_id": {"id": 1, "country": "NL"}},
        {"title": "b", "authors_by_author_id": {"id": 2}},
    ]
    assert wapi.post(BOOKS, records).status_code == 200
    assert wapi.rows("SELECT id, country FROM authors ORDER BY id") == [(1, "NL"), (2, None)]
    assert wapi.rows("SELECT title, author_id FROM books ORDER BY id") == [("a", 1), ("b", 2)]
    response = wapi.patch(f"{BOOKS}/1", {"authors_by_author_id": {"id": 2}})
    assert response.status_code == 200
    assert wapi.rows("SELECT author_id FROM books WHERE id = 1") == [(2,)]


def test_a_missing_parent_fails_the_record(wapi: WriteApi) -> None:
    response = wapi.post(BOOKS, [{"title": "a", "authors_by_author_id": {"id": 9}}])
    assert response.status_code == 400
    error = error_of(response)
    assert error["context"]["error"] == [0]
    assert error["context"]["resource"][0]["message"] == "Record with identifier '9' not found."
    assert wapi.rows("SELECT count(*) FROM books") == [(0,)]


# --- has-many -----------------------------------------------------------------------


def test_a_parent_is_created_with_its_children(wapi: WriteApi) -> None:
    records = [{"name": "Ann", "books_by_author_id": [{"title": "x"}, {"title": "y"}]}]
    response = wapi.post(AUTHORS, records, fields="name")
    assert response.status_code == 200, response.content
    # The key the children needed is not added to what the caller asked for.
    assert body(response) == {"resource": [{"name": "Ann"}]}
    assert wapi.rows("SELECT title, author_id FROM books ORDER BY id") == [("x", 1), ("y", 1)]


def test_children_are_updated_linked_and_others_left_alone(wapi: WriteApi) -> None:
    seed_author_with_books(wapi)
    patch = {"books_by_author_id": [{"id": 1, "title": "one!"}, {"id": 3}, {"title": "new"}]}
    response = wapi.patch(f"{AUTHORS}/1", patch, fields="*")
    assert response.status_code == 200, response.content
    assert body(response) == {"id": 1, "name": "Ann", "country": None}
    assert wapi.rows("SELECT id, title, author_id FROM books ORDER BY id") == [
        (1, "one!", 1),
        (2, "two", 1),  # not in the array: untouched, as DreamFactory does
        (3, "loose", 1),
        (4, "new", 1),
    ]


def test_an_unlinked_child_gets_null_when_its_key_may_be_null(wapi: WriteApi) -> None:
    seed_author_with_books(wapi)
    for allow in ("false", "true"):
        patch = {"books_by_author_id": [{"id": 1, "author_id": None}]}
        response = wapi.patch(f"{AUTHORS}/1", patch, allow_related_delete=allow)
        assert response.status_code == 200, response.content
        assert wapi.rows("SELECT id, author_id FROM books WHERE id = 1") == [(1, None)]
        wapi.rows("UPDATE books SET author_id = 1 WHERE id = 1")


def test_allow_related_delete_deletes_children_that_cannot_stand_alone(wapi: WriteApi) -> None:
    wapi.post(BOOKS, [{"title": "b", "chapters_by_book_id": [{"title": "c1"}, {"title": "c2"}]}])
    assert wapi.rows("SELECT id, book_id FROM chapters ORDER BY id") == [(1, 1), (2, 1)]
    unlink = {"chapters_by_book_id": [{"id": 1, "book_id": None}]}
    refused = wapi.patch(f"{BOOKS}/1", unlink)
    assert refused.status_code == 400
    assert error_of(refused)["message"] == "Field 'book_id' can not be NULL."
    assert wapi.rows("SELECT count(*) FROM chapters") == [(2,)]
    response = wapi.patch(f"{BOOKS}/1", unlink, allow_related_delete="true")
    assert response.status_code == 200, response.content
    assert wapi.rows("SELECT id, book_id FROM chapters") == [(2, 1)]


def test_only_this_records_children_are_deleted(wapi: WriteApi) -> None:
    wapi.post(BOOKS, [{"title": "a", "chapters_by_book_id": [{"title": "c1"}]}, {"title": "b"}])
    unlink = {"chapters_by_book_id": [{"id": 1, "book_id": None}]}
    response = wapi.patch(f"{BOOKS}/2", unlink, allow_related_delete="true")
    assert response.status_code == 404
    assert error_of(response)["message"] == "Record with identifier '1' not found."
    assert wapi.rows("SELECT id, book_id FROM chapters") == [(1, 1)]


def test_related_records_nest(wapi: WriteApi) -> None:
    author = {
        "name": "Ann",
        "books_by_author_id": [{"title": "b", "chapters_by_book_id": [{"title": "c"}]}],
    }
    assert wapi.post(AUTHORS, [author]).status_code == 200
    assert wapi.rows(
        "SELECT a.name, b.title, c.title FROM chapters c"
        " JOIN books b ON b.id = c.book_id JOIN authors a ON a.id = b.author_id"
    ) == [("Ann", "b", "c")]


# --- many-to-many -------------------------------------------------------------------


def test_many_to_many_links_are_added_and_removed(wapi: WriteApi) -> None:
    wapi.rows("INSERT INTO tags (label) VALUES ('old'), ('kept')")
    record = {"title": "b", "tags_by_book_tags": [{"label": "new"}, {"id": 1}, {"id": 2}]}
    assert wapi.post(BOOKS, [record]).status_code == 200
    links = "SELECT book_id, tag_id FROM book_tags ORDER BY tag_id"
    assert wapi.rows(links) == [(1, 1), (1, 2), (1, 3)]
    assert wapi.rows("SELECT id, label FROM tags WHERE id = 3") == [(3, "new")]
    # A link that exists is not added twice; `books.id: null` removes one.
    patch = {"tags_by_book_tags": [{"id": 2, "label": "kept!"}, {"id": 1, "books.id": None}]}
    response = wapi.patch(f"{BOOKS}/1", patch)
    assert response.status_code == 200, response.content
    assert wapi.rows(links) == [(1, 2), (1, 3)]
    assert wapi.rows("SELECT id, label FROM tags ORDER BY id") == [
        (1, "old"),  # the junction row went, the tag stays
        (2, "kept!"),
        (3, "new"),
    ]


# --- batches and failures -----------------------------------------------------------


def test_plain_and_nested_records_keep_their_order(wapi: WriteApi) -> None:
    records = [
        {"name": "a"},
        {"name": "b", "books_by_author_id": [{"title": "x"}]},
        {"name": "c"},
        {"name": "d"},
    ]
    response = wapi.post(AUTHORS, records, fields="name")
    assert body(response) == {"resource": [{"name": n} for n in "abcd"]}
    assert wapi.rows("SELECT a.name FROM books JOIN authors a ON a.id = author_id") == [("b",)]


def test_a_failing_child_fails_its_parent_only(wapi: WriteApi) -> None:
    records = [
        {"name": "ok"},
        {"name": "bad", "books_by_author_id": [{"title": "fine"}, {"title": None}]},
        {"name": "later"},
    ]
    response = wapi.post(AUTHORS, records)
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"] == "Batch Error: Not all requested records could be created."
    assert error["context"]["error"] == [1]
    assert error["context"]["resource"][1]["message"] == "Field 'title' can not be NULL."
    assert wapi.rows("SELECT name FROM authors") == [("ok",)]
    assert wapi.rows("SELECT count(*) FROM books") == [(0,)]
    assert wapi.post(AUTHORS, records, **{"continue": "true"}).status_code == 400
    assert wapi.rows("SELECT name FROM authors ORDER BY name") == [("later",), ("ok",)]


def test_rollback_undoes_the_whole_batch(wapi: WriteApi) -> None:
    records = [
        {"name": "ok", "books_by_author_id": [{"title": "kept?"}]},
        {"name": "bad", "books_by_author_id": [{"title": "x" * 41}]},
    ]
    response = wapi.post(AUTHORS, records, rollback="true")
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"].endswith(" All changes rolled back.")
    assert error["context"]["resource"][1]["message"].startswith("Value too long for field 'title'")
    assert wapi.rows("SELECT count(*) FROM authors") == [(0,)]
    assert wapi.rows("SELECT count(*) FROM books") == [(0,)]


def test_related_values_of_the_wrong_shape_are_refused(wapi: WriteApi) -> None:
    response = wapi.post(AUTHORS, [{"name": "a", "books_by_author_id": {"title": "x"}}])
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Invalid value for related field 'books_by_author_id': expected an array of records."
    )
    response = wapi.post(BOOKS, [{"title": "x", "authors_by_author_id": ["a"]}])
    assert error_of(response)["message"] == (
        "Invalid value for related field 'authors_by_author_id': expected a record."
    )
    assert wapi.rows("SELECT count(*) FROM authors") == [(0,)]


# --- policies -----------------------------------------------------------------------


def test_a_relation_without_post_on_its_table_is_an_unknown_field(make_writer: Maker) -> None:
    writer = make_writer([rule("authors", ALL_VERBS), rule("books", ["GET"])])
    response = writer.post(AUTHORS, [{"name": "a", "books_by_author_id": [{"title": "x"}]}])
    assert response.status_code == 400
    assert error_of(response)["message"] == "Invalid field requested: books_by_author_id"
    assert writer.rows("SELECT count(*) FROM authors") == [(0,)]
    # Creating needs POST, updating PATCH: each table under its own verbs.
    writer = make_writer([rule("authors", ALL_VERBS), rule("books", ["POST"])])
    assert (
        writer.post(AUTHORS, [{"name": "a", "books_by_author_id": [{"title": "x"}]}]).status_code
        == 200
    )
    response = writer.patch(f"{AUTHORS}/1", {"books_by_author_id": [{"id": 1, "title": "y"}]})
    assert error_of(response)["message"] == "Invalid field requested: books_by_author_id"


def test_a_foreign_key_the_caller_may_not_write_hides_the_relation(make_writer: Maker) -> None:
    writer = make_writer(
        [rule("authors", ALL_VERBS), rule("books", ALL_VERBS, writable_columns=["title"])]
    )
    response = writer.post(BOOKS, [{"title": "x", "authors_by_author_id": {"name": "a"}}])
    assert error_of(response)["message"] == "Invalid field requested: authors_by_author_id"
    response = writer.post(AUTHORS, [{"name": "a", "books_by_author_id": [{"title": "x"}]}])
    assert error_of(response)["message"] == "Invalid field requested: books_by_author_id"
    assert writer.rows("SELECT count(*) FROM authors") == [(0,)]


def test_related_columns_presets_and_row_filters_apply(make_writer: Maker) -> None:
    writer = make_writer(
        [
            rule("authors", ALL_VERBS),
            rule("books", ALL_VERBS, writable_columns=["title", "author_id"], presets={"price": 5}),
        ]
    )
    response = writer.post(AUTHORS, [{"name": "a", "books_by_author_id": [{"pages": 3}]}])
    assert error_of(response)["message"] == "Invalid field requested: pages"
    assert (
        writer.post(AUTHORS, [{"name": "a", "books_by_author_id": [{"title": "x"}]}]).status_code
        == 200
    )
    assert writer.rows("SELECT title, price FROM books") == [("x", 5)]
    guarded = make_writer(
        [rule("authors", ALL_VERBS), rule("books", ALL_VERBS, row_filter="title like 'ok%'")]
    )
    response = guarded.post(AUTHORS, [{"name": "b", "books_by_author_id": [{"title": "no"}]}])
    assert response.status_code == 403
    assert error_of(response)["message"] == "Denied access to some of the requested fields."
    assert guarded.rows("SELECT name FROM authors") == [("a",)]


def test_many_to_many_needs_rights_on_the_junction(make_writer: Maker) -> None:
    writer = make_writer(
        [rule("books", ALL_VERBS), rule("tags", ALL_VERBS), rule("book_tags", ["GET"])]
    )
    response = writer.post(BOOKS, [{"title": "b", "tags_by_book_tags": [{"label": "t"}]}])
    assert error_of(response)["message"] == "Invalid field requested: tags_by_book_tags"
    assert writer.rows("SELECT count(*) FROM tags") == [(0,)]
