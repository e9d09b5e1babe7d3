"""Services, tables, envelopes, authentication and the errors around them."""

import json
from typing import Any

from django.test import Client

from tests.services.api.conftest import Api


def test_no_credential_is_401_in_the_envelope(client: Client, api: Api) -> None:
    response = client.get(f"/api/v2/{api.service}/_table/books")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401
    assert error["status_code"] == 401
    assert "API key" in error["message"]


def test_a_wrong_api_key_is_401(client: Client, api: Api) -> None:
    response = client.get(f"/api/v2/{api.service}/_table/books", headers={"X-API-Key": "sg_wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."


def test_a_non_admin_session_is_refused_before_any_lookup(
    client: Client, api: Api, django_user_model: Any
) -> None:
    django_user_model.objects.create_user("plain", password="pw-plain-123")
    client.login(username="plain", password="pw-plain-123")
    for path in ("/_table/books", "/_table/no_such_table", "/_table"):
        response = client.get(f"/api/v2/{api.service}{path}")
        assert response.status_code == 403
    assert client.get("/api/v2/no-such-service/_table").status_code == 403


def test_admin_session_reads_like_an_admin_key(admin_client: Client, api: Api) -> None:
    response = admin_client.get(f"/api/v2/{api.service}/_table/books", {"limit": 1})
    assert response.status_code == 200
    assert len(response.json()["resource"]) == 1


def test_api_key_in_dreamfactory_header_and_query(client: Client, api: Api) -> None:
    path = f"/api/v2/{api.service}/_table/books"
    assert client.get(path, headers={"X-DreamFactory-API-Key": api.key}).status_code == 200
    assert client.get(path, {"api_key": api.key}).status_code == 200


def test_services_and_resources_are_listed(api: Api) -> None:
    services = api.get("/api/v2").json()["resource"]
    assert {"name": api.service, "label": api.service.title(), "type": "pgsql"} in services
    names = api.get("/api/v2", as_list="true").json()["resource"]
    assert api.service in names
    resources = [{"name": name} for name in ("_schema", "_table", "_proc", "_func", "_spec")]
    assert api.get("").json() == {"resource": resources}


def test_table_list_names_tables_and_views(api: Api) -> None:
    tables = {t["name"]: t for t in api.get("/_table").json()["resource"]}
    assert tables["books"] == {
        "name": "books",
        "label": "Books",
        "is_view": False,
        "access": ["GET", "POST", "PUT", "PATCH", "DELETE"],
    }
    assert tables["books_with_authors"]["is_view"] is True
    assert tables["author_book_counts"]["is_view"] is True
    assert "extra.notes" in tables
    assert "spatial_ref_sys" not in tables
    names = api.get("/_table", as_list="1").json()["resource"]
    assert "order_lines" in names


def test_unknown_service_table_record_and_path(api: Api) -> None:
    assert api.get("/api/v2/nope/_table").json()["error"]["message"] == "Service 'nope' not found."
    missing = api.get("/_table/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == 'Table "nope" does not exist in the database.'
    record = api.get("/_table/books/999")
    assert record.status_code == 404
    assert record.json()["error"]["message"] == "Record with identifier '999' not found."
    other = api.get("/_nothing/here")
    assert other.status_code == 404
    assert other.json()["error"]["code"] == 404


def test_unknown_verb_is_405_in_the_envelope(client: Client, api: Api) -> None:
    response = client.patch(
        f"/api/v2/{api.service}/_table", "{}", "application/json", headers={"X-API-Key": api.key}
    )
    assert response.status_code == 405
    assert response.json()["error"]["status_code"] == 405


def test_post_tunnelled_as_get_reads_with_body_parameters(client: Client, api: Api) -> None:
    body = {"filter": "title like '%Heaven%'", "fields": "id,title"}
    response = client.post(
        f"/api/v2/{api.service}/_table/books",
        json.dumps(body),
        "application/json",
        headers={"X-API-Key": api.key, "X-HTTP-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.json() == {"resource": [{"id": 2, "title": "The Lathe of Heaven"}]}


def test_views_materialized_views_and_other_schemas_are_readable(api: Api) -> None:
    view = api.table("books_with_authors", filter="id = 3").json()["resource"]
    assert view == [{"id": 3, "title": "Solaris", "author": "Stanislaw"}]
    counts = api.table("author_book_counts", order="author_id").json()["resource"]
    assert counts == [
        {"author_id": 1, "books": 2},
        {"author_id": 2, "books": 1},
        {"author_id": 3, "books": 1},
    ]
    notes = api.table("extra.notes").json()["resource"]
    assert notes == [{"id": 1, "body": "note one"}]


def test_composite_keys_by_path(api: Api) -> None:
    line = api.get("/_table/order_lines/1,2")
    assert line.status_code == 200
    assert line.json() == {"order_id": 1, "line_no": 2, "sku": "B-7", "quantity": 1}
    assert api.get("/_table/order_lines/1,9").status_code == 404
    wrong = api.get("/_table/order_lines/1")
    assert wrong.status_code == 400


def test_table_without_key_needs_id_field(api: Api) -> None:
    assert api.get("/_table/event_log/started").status_code == 400
    by_field = api.get("/_table/event_log/started", id_field="message")
    assert by_field.json()["message"] == "started"
