"""`_spec` documents are valid OpenAPI 3.1, and real answers fit the schemas they document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs installed
from openapi_spec_validator import validate

from services.models import Service
from tests.services.api.conftest import Api, grant
from tests.services.api.openapi.support import component, properties, spec

pytestmark = pytest.mark.django_db

WRITER_RULES: list[dict[str, Any]] = [
    {
        "component": "_table/contacts",
        "verbs": ["GET"],
        "readable_columns": ["id", "email", "status", "tags", "company_id"],
    },
    {
        "component": "_table/deals",
        "verbs": ["GET", "POST", "PUT", "DELETE"],
        "writable_columns": ["name", "contact_id", "amount", "stage"],
        "presets": {"stage": "qualifiedtobuy"},
    },
    {"component": "_table/companies", "verbs": ["GET"]},
    {"component": "_func/*", "verbs": ["GET"]},
    {"component": "_proc/close_deal", "verbs": ["POST"]},
    {"component": "_schema/deals", "verbs": ["GET", "PATCH"]},
]


def answer_validator(document: dict[str, Any], path: str, method: str = "get") -> Any:
    """A JSON Schema validator of the 200 answer `path` documents (its $refs resolved)."""
    schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    root = {**schema["schema"], "components": document["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_demo_documents_are_valid_for_admin_and_restricted_roles(
    client: Client, admin_key: str, demo_service: Service
) -> None:
    reader = grant(
        demo_service,
        [{"component": "*", "verbs": ["GET"], "readable_columns": ["id", "name", "email"]}],
    )
    writer = grant(demo_service, WRITER_RULES)
    for key in (admin_key, reader.key, writer.key):
        validate(spec(client, demo_service.name, key))


def test_writer_document_shows_its_rights(client: Client, demo_service: Service) -> None:
    writer = grant(demo_service, WRITER_RULES)
    document = spec(client, demo_service.name, writer.key)
    paths = document["paths"]
    assert set(paths["/_table/deals"]) == {"get", "post", "put", "delete"}
    assert set(paths["/_table/contacts"]) == {"get"}
    assert set(paths["/_schema/deals"]) == {"get", "patch"}
    assert "/_schema/contacts" not in paths
    assert set(paths["/_func/top_companies"]) == {"get"}
    assert set(paths["/_proc/close_deal"]) == {"post"}
    create = component(document, "DealsRecordCreate")
    assert set(create["properties"]) == {"name", "contact_id", "amount"}
    assert create["required"] == ["amount", "contact_id", "name"]
    columns = {name for name in properties(document, "ContactsRecord") if "_by_" not in name}
    assert columns == {"id", "email", "status", "tags", "company_id"}
    # contacts may embed its company and its deals: the role reads both tables.
    related = [
        p
        for p in paths["/_table/contacts"]["get"]["parameters"]
        if "name" in p and p["name"] == "related"
    ]
    assert related
    assert "companies_by_company_id" in related[0]["description"]
    assert "deals_by_contact_id" in related[0]["description"]


def test_types_and_formats_of_every_column_type(client: Client, api: Api) -> None:
    document = spec(client, api.service, api.key)
    validate(document)
    fields = properties(document, "EveryTypeRecord")

    def plain(name: str) -> dict[str, Any]:
        found = dict(fields[name])
        found["type"] = next(kind for kind in found.get("type", []) if kind != "null")
        return found

    assert plain("c_smallint") == {
        "type": "integer",
        "format": "int32",
        "minimum": -32768,
        "maximum": 32767,
    }
    assert plain("c_bigint")["format"] == "int64"
    assert plain("c_numeric")["type"] == "number"
    assert plain("c_numeric")["exclusiveMaximum"] == 10**7
    assert plain("c_double")["format"] == "double"
    assert plain("c_uuid")["format"] == "uuid"
    assert plain("c_date")["format"] == "date"
    assert plain("c_timestamptz")["format"] == "date-time"
    assert "format" not in plain("c_timestamp")  # no offset: not RFC 3339
    assert plain("c_bytea")["contentEncoding"] == "base64"
    assert plain("c_varchar")["maxLength"] == 20
    assert plain("c_int_array")["items"] == {
        "type": ["integer", "null"],
        "format": "int32",
        "minimum": -(2**31),
        "maximum": 2**31 - 1,
    }
    assert plain("c_int_matrix")["items"]["type"] == "array"
    assert fields["c_jsonb"] == {}
    assert plain("c_domain")["type"] == "integer"
    enum = fields["c_enum"]
    labels = [
        component(document, alt["$ref"].rsplit("/", 1)[1]).get("enum")
        for alt in enum.get("oneOf", [enum])
        if "$ref" in alt
    ]
    assert ["sad", "ok", "happy"] in labels
    if "c_geometry" in fields:  # PostGIS is installed
        assert json.dumps(fields["c_geometry"]).count("GeoJSONGeometry") == 1


def test_real_answers_fit_the_documented_schemas(client: Client, api: Api) -> None:
    document = spec(client, api.service, api.key)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/_table/every_type", {}),
        ("/_table/every_type", {"include_count": "true", "include_schema": "true"}),
        ("/_table/books", {"related": "*"}),
        ("/_table/authors", {"related": "*", "as_list": "true"}),
        ("/_table/order_lines", {"count_only": "true"}),
    ]
    for path, params in cases:
        response = api.get(path, **params)
        assert response.status_code == 200, response.content
        errors = list(answer_validator(document, path).iter_errors(response.json()))
        assert not errors, (path, params, errors[:3])
    record = api.get("/_table/every_type/1").json()
    assert not list(answer_validator(document, "/_table/every_type/{id}").iter_errors(record))


def test_real_demo_answers_fit_a_restricted_role_document(
    client: Client, demo_service: Service
) -> None:
    writer = grant(demo_service, WRITER_RULES)
    document = spec(client, demo_service.name, writer.key)
    headers = {"X-API-Key": writer.key}
    for path, params in (
        ("/_table/contacts", {"limit": "5", "related": "companies_by_company_id"}),
        ("/_table/deals", {"limit": "5", "related": "*"}),
        ("/_func/top_companies", {"p_limit": "3"}),
        ("/_func/company_won_amount", {"p_company_id": "1"}),
    ):
        response = client.get(f"/api/v2/{demo_service.name}{path}", params, headers=headers)
        assert response.status_code == 200, response.content
        errors = list(answer_validator(document, path).iter_errors(response.json()))
        assert not errors, (path, errors[:3])
    error = client.get(f"/api/v2/{demo_service.name}/_table/deals/0", headers=headers)
    assert error.status_code == 404
    envelope = {**component(document, "Error"), "components": document["components"]}
    assert not list(Draft202012Validator(envelope).iter_errors(error.json()))
