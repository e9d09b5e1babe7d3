"""Related records: belongs-to, has-many and many-to-many, one statement per page."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.services.api.conftest import Api


def test_belongs_to_is_an_object_or_null(api: Api) -> None:
    rows = api.table("books", related="authors_by_author_id", fields="id", order="id").json()
    assert rows["resource"][0] == {
        "id": 1,
        "authors_by_author_id": {"id": 1, "name": "Ursula", "country": "US"},
    }
    assert rows["resource"][4] == {"id": 5, "authors_by_author_id": None}


def test_has_many_is_an_array_with_its_own_options(api: Api) -> None:
    rows = api.table(
        "authors",
        related="books_by_author_id",
        fields="name",
        **{"books_by_author_id.fields": "title", "books_by_author_id.order": "title desc"},
    ).json()["resource"]
    assert rows[0] == {
        "name": "Ursula",
        "books_by_author_id": [{"title": "The Lathe of Heaven"}, {"title": "The Dispossessed"}],
    }
    limited = api.table(
        "authors", related="books_by_author_id", fields="name", books_by_author_id_limit=1
    ).json()["resource"]
    assert len(limited[0]["books_by_author_id"]) == 1


def test_many_to_many_through_the_junction(api: Api) -> None:
    rows = api.table(
        "books",
        ids="1",
        related="genres_by_book_genres",
        fields="title",
        **{"genres_by_book_genres.order": "name"},
    ).json()["resource"]
    assert rows == [
        {
            "title": "The Dispossessed",
            "genres_by_book_genres": [
                {"id": 1, "name": "science fiction"},
                {"id": 2, "name": "utopia"},
            ],
        }
    ]


def test_related_star_and_record_path(api: Api) -> None:
    record = api.get("/_table/books/3", related="*").json()
    assert record["authors_by_author_id"]["name"] == "Stanislaw"
    assert [genre["name"] for genre in record["genres_by_book_genres"]] == [
        "science fiction",
        "classic",
    ]


def test_unknown_relationship_and_field_are_400(api: Api) -> None:
    response = api.table("books", related="nope")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid relationship requested: nope"
    bad_field = api.table(
        "books", related="authors_by_author_id", **{"authors_by_author_id.fields": "x"}
    )
    assert bad_field.status_code == 400


def test_a_page_with_relations_is_one_platform_query_free_statement(api: Api) -> None:
    api.table("books", limit=1)  # warm the schema and pools
    with CaptureQueriesContext(connection) as platform_queries:
        response = api.table("books", related="authors_by_author_id,genres_by_book_genres")
    assert response.status_code == 200
    # No per-row work reaches the platform database; the target gets one statement.
    assert len(platform_queries) <= 2
