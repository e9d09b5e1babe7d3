"""A statement reused for a filter of the same shape binds each request's own values."""

from tests.services.api.conftest import Api


def ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["resource"]]


def test_same_shape_with_other_values_gives_other_rows(api: Api) -> None:
    assert ids(api.table("books", filter="author_id = 1", fields="id")) == [1, 2]
    assert ids(api.table("books", filter="author_id = 2", fields="id")) == [3]
    assert ids(api.table("books", filter="author_id = 3", fields="id")) == [4]
    in_list = "id IN ({}, {}) AND title LIKE '{}' AND price BETWEEN {} AND {}"
    assert ids(api.table("books", filter=in_list.format(1, 2, "The%", 0, 100), fields="id")) == [
        1,
        2,
    ]
    assert ids(api.table("books", filter=in_list.format(3, 4, "K%", 10, 11), fields="id")) == [4]
    contains = "title CONTAINS '{}' OR title ENDS WITH '{}'"
    assert ids(api.table("books", filter=contains.format("Heaven", "xyz"), fields="id")) == [2]
    assert ids(api.table("books", filter=contains.format("zzz", "ous"), fields="id")) == [5]


def test_counts_use_the_new_values_too(api: Api) -> None:
    first = api.table("books", filter="author_id = 1", include_count="true", limit=1).json()
    second = api.table("books", filter="author_id = 3", include_count="true", limit=1).json()
    assert first["meta"]["count"] == 2
    assert second["meta"]["count"] == 1


def test_bad_values_on_a_known_shape_are_refused_as_before(api: Api) -> None:
    assert api.table("books", filter="id = 1", fields="id").status_code == 200
    bad = api.table("books", filter="id = x1", fields="id")
    assert bad.status_code == 400
    assert "'id'" in bad.json()["error"]["message"]
    assert api.table("every_type", filter="c_enum = 'ok'", fields="id").status_code == 200
    enum = api.table("every_type", filter="c_enum = 'furious'", fields="id")
    assert enum.status_code == 400
    assert "sad, ok, happy" in enum.json()["error"]["message"]


def test_params_and_lookups_on_a_known_shape(api: Api) -> None:
    shape = {"filter": "author_id = :a", "fields": "id"}
    assert ids(api.table("books", params='{"a": 1}', **shape)) == [1, 2]
    assert ids(api.table("books", params='{"a": 2}', **shape)) == [3]
    missing = api.table("books", **shape)
    assert missing.status_code == 400
    assert ":a" in missing.json()["error"]["message"]
