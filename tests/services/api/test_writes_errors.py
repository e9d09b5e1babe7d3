"""Constraint violations and refusals by the database: clean 400s naming the field, never SQL."""

from __future__ import annotations

from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body, error_of

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi

BOOKS = "/_table/books"
AUTHORS = "/_table/authors"


def inner(response: object) -> dict[str, object]:
    """The first record's error of a batch error."""
    error = error_of(response)
    assert error["code"] == 1000, error
    result: dict[str, object] = error["context"]["resource"][error["context"]["error"][0]]
    return result


def test_foreign_key_violation_names_the_field(wapi: WriteApi) -> None:
    response = wapi.post(BOOKS, [{"title": "Orphan", "author_id": 99}])
    assert response.status_code == 400
    assert inner(response)["message"] == (
        "Invalid reference in field 'author_id': the referenced record does not exist."
    )


def test_deleting_a_referenced_record_is_refused(wapi: WriteApi) -> None:
    wapi.post(AUTHORS, [{"name": "Ursula"}])
    wapi.post(BOOKS, [{"title": "Dispossessed", "author_id": 1}])
    response = wapi.delete(f"{AUTHORS}/1")
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "The record is referenced by other records and can not be changed."
    )
    response = wapi.delete(AUTHORS, filter="id = 1")
    assert response.status_code == 400
    assert wapi.rows("SELECT count(*) FROM authors") == [(1,)]


def test_check_constraints_name_the_field(wapi: WriteApi) -> None:
    response = wapi.post(AUTHORS, [{"name": "Nobody", "country": "XX"}])
    assert inner(response)["message"] == (
        "Invalid value for field 'country': it fails a check constraint."
    )
    response = wapi.post(BOOKS, [{"title": "Cheap", "price": -1}])
    assert (
        inner(response)["message"]
        == "Invalid value for field 'price': it fails a check constraint."
    )
    response = wapi.post(BOOKS, [{"title": "Thin", "pages": 0}])
    assert (
        inner(response)["message"]
        == "Invalid value for field 'pages': it fails a check constraint."
    )


def test_composite_unique_names_both_fields(wapi: WriteApi) -> None:
    wapi.post(AUTHORS, [{"name": "Ursula"}])
    records = [{"title": "Same", "author_id": 1}, {"title": "Same", "author_id": 1}]
    response = wapi.post(BOOKS, records)
    assert inner(response)["message"] == "Duplicate entry detected for fields 'author_id', 'title'."


def test_duplicate_primary_key(wapi: WriteApi) -> None:
    wapi.post(BOOKS, [{"id": 1, "title": "One"}])
    response = wapi.post(BOOKS, [{"id": 1, "title": "Again"}])
    assert inner(response)["message"] == "Duplicate entry detected for field 'id'."


def test_value_too_long_on_update_by_filter(wapi: WriteApi) -> None:
    wapi.post(BOOKS, [{"title": "Short"}])
    response = wapi.patch(BOOKS, {"title": "x" * 41}, filter="id = 1")
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Value too long for field 'title' (at most 40 characters)."
    )


def test_a_trigger_refusal_is_passed_on(wapi: WriteApi) -> None:
    response = wapi.post("/_table/guarded", [{"word": "fine"}, {"word": "forbidden"}])
    assert inner(response)["message"] == "The word is not allowed here."
    assert wapi.rows("SELECT word FROM guarded") == [("fine",)]


def test_errors_never_carry_sql(wapi: WriteApi) -> None:
    wapi.post(BOOKS, [{"title": "One"}])
    responses = [
        wapi.post(BOOKS, [{"title": None}]),
        wapi.post(BOOKS, [{"title": "t", "price": "cheap"}]),
        wapi.post(BOOKS, [{"title": "t", "author_id": 5}]),
        wapi.patch(BOOKS, {"price": "x"}, filter="id > 0"),
        wapi.delete(BOOKS, filter="nope = 1"),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500, response.content
        text = response.content.decode()
        for word in ("INSERT", "UPDATE", "SELECT", "jsonb_", "psycopg", "Traceback"):
            assert word not in text


def test_single_record_paths_unwrap_the_error(wapi: WriteApi) -> None:
    wapi.post(BOOKS, [{"title": "One"}])
    response = wapi.patch(f"{BOOKS}/1", {"title": None})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 400
    assert error["message"] == "Field 'title' can not be NULL."
    assert body(wapi.get(f"{BOOKS}/1"))["title"] == "One"
