"""Pages of one shape share one statement: LIMIT and OFFSET are bound values, replayed per query."""

from typing import Any

from services.api.params import read_query
from services.schema_cache import get_snapshot
from services.sql.compile import compile_read
from services.sql.policy import FULL_ACCESS
from tests.services.api.conftest import Api, grant


def titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["resource"]]


def test_every_offset_of_a_shape_answers_its_own_window(api: Api) -> None:
    everything = titles(api.table("books", order="id"))
    # The same shape again and again: later pages come from the cached statement.
    for offset in (1, 2, 3, 1, 4, 2):
        assert (
            titles(api.table("books", order="id", limit=2, offset=offset))
            == (everything[offset : offset + 2])
        )
    assert titles(api.table("books", order="id", limit=2)) == everything[:2]


def test_filter_count_and_offset_bind_in_statement_order(api: Api) -> None:
    # Distinct values, so a count bound after the page would shift every placeholder.
    matching = titles(api.table("books", filter="(price > 5) and (id > 2)", order="id"))
    assert len(matching) >= 2
    for offset in (0, 1, 2):
        body = api.table(
            "books", filter="(price > 5) and (id > 2)", order="id", include_count="true",
            limit=1, offset=offset,
        ).json()  # fmt: skip
        assert [row["title"] for row in body["resource"]] == matching[offset : offset + 1]
        assert body["meta"]["count"] == len(matching)


def test_pages_of_one_shape_share_the_statement_text(api: Api, target_service: Any) -> None:
    config = target_service.config()
    snapshot = get_snapshot(config)
    table = snapshot.table("books")
    assert table is not None

    def compiled(offset: str) -> Any:
        query, _options = read_query({"limit": "2", "offset": offset}, table, lookups={})
        return compile_read(
            snapshot, table, query, FULL_ACCESS, lambda _table: FULL_ACCESS, max_records=1000
        )

    first, second = compiled("2"), compiled("4")
    assert first.statement.as_string(None) == second.statement.as_string(None)
    assert (first.params, second.params) == ((2, 2), (2, 4))
    assert (first.offset, second.offset) == (2, 4)


def test_pages_past_an_offset_show_only_what_the_policy_allows(
    api: Api, target_service: Any, client: Any
) -> None:
    everything = api.table("books", order="id", related="authors_by_author_id").json()["resource"]
    allowed = [
        {key: value for key, value in row.items() if key != "price"}
        for row in everything
        if row["id"] != 2
    ]
    credentials = grant(
        target_service,
        [
            {"component": "_table/authors", "verbs": ["GET"]},
            {
                "component": "_table/books",
                "verbs": ["GET"],
                "readable_columns": ["id", "title", "author_id", "published"],
                "row_filter": "id != 2",
            },
        ],
    )

    def page(**params: str) -> list[dict[str, Any]]:
        response = client.get(
            f"/api/v2/{target_service.name}/_table/books",
            {"order": "id", "limit": "2", **params},
            headers={"X-API-Key": credentials.key},
        )
        assert response.status_code == 200, response.content
        rows: list[dict[str, Any]] = response.json()["resource"]
        return rows

    for offset in ("1", "2", "3"):
        window = allowed[int(offset) : int(offset) + 2]
        assert page(offset=offset, related="authors_by_author_id") == window
        assert page(offset=offset) == [
            {k: v for k, v in row.items() if k != "authors_by_author_id"} for row in window
        ]
        assert page(offset=offset, fields="title") == [{"title": row["title"]} for row in window]
    # Aggregates are not cut from whole rows: the offset skips the one result row.
    assert page(offset="0", fields="COUNT(id)", order="") == [{"COUNT(id)": len(allowed)}]
    assert page(offset="1", fields="COUNT(id)", order="") == []


def test_ids_never_lend_their_values_to_the_row_filter(target_service: Any, client: Any) -> None:
    # Ids bound ahead of the row filter's constant once shifted it: `ids=3,4`
    # then read the row filter as `author_id = 3` and leaked Kindred.
    credentials = grant(
        target_service,
        [{"component": "_table/books", "verbs": ["GET"], "row_filter": "author_id = 1"}],
    )

    def get(path: str, **params: str) -> Any:
        return client.get(
            f"/api/v2/{target_service.name}/_table/{path}",
            params,
            headers={"X-API-Key": credentials.key},
        )

    hidden = get("books", ids="3,4", fields="id,title")
    assert hidden.status_code == 404, hidden.content
    assert [item["error"]["code"] for item in hidden.json()["error"]["context"]["resource"]] == [
        404,
        404,
    ]
    assert titles(get("books", ids="2,1")) == ["The Lathe of Heaven", "The Dispossessed"]
    assert get("books", ids="2,1", include_count="true").json()["meta"]["count"] == 2


def test_related_row_filters_bind_in_statement_order(target_service: Any, client: Any) -> None:
    credentials = grant(
        target_service,
        [
            {"component": "_table/books", "verbs": ["GET"]},
            {"component": "_table/authors", "verbs": ["GET"], "row_filter": "country = 'US'"},
        ],
    )

    def get(path: str, **params: str) -> Any:
        response = client.get(
            f"/api/v2/{target_service.name}/_table/{path}",
            {"related": "authors_by_author_id", "fields": "id,title", **params},
            headers={"X-API-Key": credentials.key},
        )
        assert response.status_code == 200, response.content
        return response.json()

    def author(row: dict[str, Any]) -> str | None:
        related = row["authors_by_author_id"]
        return None if related is None else str(related["name"])

    # One record by key: the key follows the related records' row filter.
    assert author(get("books/1")) == "Ursula"
    assert author(get("books/3")) is None  # Stanislaw is not in the US
    assert [author(row) for row in get("books", ids="3,4")["resource"]] == [None, "Octavia"]
    # A page cut from whole rows past an offset: the select list comes last.
    page = get("books", order="id", limit="3", offset="1")["resource"]
    assert [(row["id"], author(row)) for row in page] == [(2, "Ursula"), (3, None), (4, "Octavia")]
