"""Each read parameter of API.md, with DreamFactory's envelopes and messages."""

from typing import Any

from services.api.registry import forget_services
from services.models import Service
from tests.services.api.conftest import Api


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["resource"]]


def test_fields_and_select_alias(api: Api) -> None:
    rows = api.table("books", fields="id,title", limit=2).json()["resource"]
    assert rows == [
        {"id": 1, "title": "The Dispossessed"},
        {"id": 2, "title": "The Lathe of Heaven"},
    ]
    assert api.table("books", select="title", limit=1).json()["resource"] == [
        {"title": "The Dispossessed"}
    ]
    assert set(api.table("books", fields="*", limit=1).json()["resource"][0]) == {
        "id", "title", "author_id", "published", "price",
    }  # fmt: skip


def test_unknown_field_is_named(api: Api) -> None:
    response = api.table("books", fields="id,nope")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid field requested: nope"


def test_filter_and_where_alias(api: Api) -> None:
    assert titles(api.table("books", filter="author_id = 1")) == [
        "The Dispossessed",
        "The Lathe of Heaven",
    ]
    assert titles(api.table("books", where="price > 10.5 AND price < 11.5")) == ["Solaris"]
    assert titles(api.table("books", filter="author_id IS NULL")) == ["Anonymous"]
    assert titles(api.table("books", filter="author_id = null")) == ["Anonymous"]
    assert titles(api.table("books", filter="title CONTAINS 'of'")) == ["The Lathe of Heaven"]
    assert (
        titles(api.table("books", filter="title starts with 'The' and not (author_id = 1)")) == []
    )
    assert titles(api.table("books", filter="id IN (3, 4) OR title ENDS WITH 'ous'")) == [
        "Solaris", "Kindred", "Anonymous",
    ]  # fmt: skip
    assert titles(api.table("books", filter="published BETWEEN '1970-01-01' AND '1975-12-31'")) == [
        "The Dispossessed", "The Lathe of Heaven",
    ]  # fmt: skip


def test_filter_params_and_lookups(api: Api) -> None:
    response = api.table("books", filter="author_id = :author", params='{"author": 2}')
    assert titles(response) == ["Solaris"]
    missing = api.table("books", filter="author_id = :author")
    assert missing.status_code == 400
    lookup = api.table("authors", filter="id != {user.id} OR id = {user.id}", fields="name")
    assert lookup.status_code == 200


def test_json_path_filter(api: Api) -> None:
    rows = api.table("every_type", filter="c_jsonb->>'plan' = 'pro'", fields="id").json()
    assert rows["resource"] == [{"id": 1}]
    seats = api.table("every_type", filter="c_jsonb->'seats' = 5", fields="id").json()
    assert seats["resource"] == [{"id": 1}]


def test_related_field_filter(api: Api) -> None:
    assert titles(api.table("books", filter="authors_by_author_id.country = 'PL'")) == ["Solaris"]
    genre = api.table("books", filter="genres_by_book_genres.name = 'utopia'")
    assert titles(genre) == ["The Dispossessed"]


def test_bad_filter_is_400_with_dreamfactory_message(api: Api) -> None:
    for bad in ("title = ", "(author_id = 1", "title === 'x'", "nope = 1"):
        response = api.table("books", filter=bad)
        assert response.status_code == 400, bad
        message = response.json()["error"]["message"]
        assert message.startswith("Invalid or unparsable"), message
    assert api.table("books", filter="nope = 1").json()["error"]["message"] == (
        "Invalid or unparsable field in filter request: 'nope'"
    )


def test_repeated_filters_answer_alike(api: Api) -> None:
    """Parsed filters are remembered; a repeat answers exactly as the first call did."""
    for _ in range(2):
        assert titles(api.table("books", filter="author_id = 1", order="id")) == [
            "The Dispossessed",
            "The Lathe of Heaven",
        ]
        response = api.table("books", filter="(author_id = 1")
        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("Invalid or unparsable filter")
    # The same text on another table is checked against that table's columns.
    assert api.table("authors", filter="author_id = 1").status_code == 400


def test_value_that_does_not_fit_its_column_names_the_field(api: Api) -> None:
    response = api.table("books", filter="id = abc")
    assert response.status_code == 400
    assert "'id'" in response.json()["error"]["message"]
    enum = api.table("every_type", filter="c_enum = 'furious'")
    assert enum.status_code == 400
    assert "sad, ok, happy" in enum.json()["error"]["message"]
    inet = api.table("every_type", filter="c_inet = 'not-an-address'")
    assert inet.status_code == 400
    assert "c_inet" in inet.json()["error"]["message"]


def test_order_several_columns_and_aliases(api: Api) -> None:
    ordered = api.table("books", order="author_id desc nulls last, title asc", fields="title")
    assert titles(ordered) == [
        "Kindred", "Solaris", "The Dispossessed", "The Lathe of Heaven", "Anonymous",
    ]  # fmt: skip
    assert titles(api.table("books", sort="price desc nulls last", limit=1)) == ["The Dispossessed"]
    assert titles(api.table("books", order_by="title", limit=1)) == ["Anonymous"]
    bad = api.table("books", order="nope")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "Invalid field 'nope' in order by clause."


def test_limit_offset_windows_and_aliases(api: Api) -> None:
    assert titles(api.table("books", limit=2, offset=1)) == ["The Lathe of Heaven", "Solaris"]
    assert titles(api.table("books", top=1, skip=4)) == ["Anonymous"]
    assert titles(api.table("books", limit=2, offset=10)) == []
    assert len(titles(api.table("books", limit=-5))) == 5  # outside 1..max: the maximum
    assert api.table("books", limit="ten").status_code == 400
    assert api.table("books", offset=-1).status_code == 400
    assert api.table("books", offset="9" * 40).status_code == 400


def test_a_malformed_related_limit_is_refused_even_unasked(api: Api) -> None:
    for params in (
        {"authors_by_author_id.limit": "null"},
        {"related": "authors_by_author_id", "authors_by_author_id.limit": "two"},
    ):
        response = api.table("books", **params)
        assert response.status_code == 400, response.content
        assert response.json()["error"]["message"] == (
            "Invalid value for 'authors_by_author_id.limit': expected a whole number."
        )
    assert titles(api.table("books", **{"authors_by_author_id.limit": "1", "limit": "1"})) == [
        "The Dispossessed"
    ]


def test_ids_keep_their_order_and_report_missing(api: Api) -> None:
    assert titles(api.table("books", ids="3,1")) == ["Solaris", "The Dispossessed"]
    missing = api.table("books", ids="1,99")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == 1000
    assert error["message"] == "Batch Error: Not all requested records could be retrieved."
    assert error["context"]["error"] == [1]
    assert (
        error["context"]["resource"][1]["error"]["message"]
        == "Record with identifier '99' not found."
    )
    by_field = api.table("authors", ids="Octavia", id_field="name", fields="id")
    assert by_field.json()["resource"] == [{"id": 3}]


def test_include_count_meta_with_next(api: Api) -> None:
    body = api.table("books", include_count="true", limit=2).json()
    assert body["meta"] == {"count": 5, "next": 2}
    last = api.table("books", include_count="yes", limit=2, offset=4).json()
    assert last["meta"] == {"count": 5}
    assert api.table("books", include_count="maybe").status_code == 400


def test_count_only_is_the_bare_count(api: Api) -> None:
    response = api.table("books", count_only="true", filter="author_id = 1")
    assert response.json() == 2


def test_default_maximum_truncates_with_meta(api: Api, target_service: Service) -> None:
    target_service.max_records = 2
    target_service.save()
    forget_services()
    body = api.table("books").json()
    assert len(body["resource"]) == 2
    assert body["meta"] == {"count": 5, "next": 2}
    asked = api.table("books", limit=2).json()
    assert "meta" not in asked


def test_group_with_aggregates(api: Api) -> None:
    rows = api.table(
        "books", fields="author_id,COUNT(*),SUM(price)", group="author_id", order="author_id"
    ).json()["resource"]
    assert rows[0] == {"author_id": 1, "COUNT(*)": 2, "SUM(price)": 22.49}
    total = api.table("books", fields="COUNT(*),MAX(price)").json()["resource"]
    assert total == [{"COUNT(*)": 5, "MAX(price)": 12.5}]
    assert api.table("books", fields="title,COUNT(*)", group="author_id").status_code == 400
    assert api.table("books", fields="SUM(title)").status_code == 400


def test_as_list_and_include_schema(api: Api) -> None:
    assert api.table("books", as_list="true", limit=3).json() == {"resource": [1, 2, 3]}
    body = api.table("books", include_schema="true", limit=1).json()
    schema = body["meta"]["schema"]
    assert schema["name"] == "books"
    assert [field["name"] for field in schema["field"]][:2] == ["id", "title"]


def test_record_by_id_with_fields(api: Api) -> None:
    response = api.get("/_table/books/3", fields="title")
    assert response.json() == {"title": "Solaris"}
    assert api.get("/_table/books/abc").status_code == 400
