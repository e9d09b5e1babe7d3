"""`_spec` per role: only reachable tables, allowed verbs, readable and writable fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from services.models import Service
from tests.services.api.conftest import grant
from tests.services.api.openapi.support import (
    component,
    fresh_spec,
    operation_ids,
    operations,
    properties,
    service_camel,
    spec,
)

pytestmark = pytest.mark.django_db

CONTACT_COLUMNS = [
    "id",
    "external_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "company_id",
    "status",
    "tags",
    "attributes",
    "lifetime_value",
    "birthday",
    "hubspot_id",
    "hubspot_synced_at",
    "hubspot_sync_status",
    "hubspot_sync_error",
    "created_at",
    "updated_at",
]
DEMO_TABLES = [
    "active_contacts",
    "companies",
    "company_revenue",
    "contact_segments",
    "contacts",
    "deals",
    "segments",
]


def test_admin_sees_every_table_routine_and_verb(
    client: Client, admin_key: str, demo_service: Service
) -> None:
    document = spec(client, demo_service.name, admin_key)
    paths = document["paths"]
    for table in DEMO_TABLES:
        assert set(paths[f"/_table/{table}"]) == {"get", "post", "put", "patch", "delete"}
        assert "get" in paths[f"/_schema/{table}"]
    for table in ("companies", "contact_segments", "contacts", "deals", "segments"):
        assert set(paths[f"/_table/{table}/{{id}}"]) == {"get", "put", "patch", "delete"}
        assert set(paths[f"/_schema/{table}"]) == {"get", "put", "patch", "delete"}
    assert "/_table/active_contacts/{id}" not in paths  # a view has no primary key
    assert set(paths["/_schema"]) == {"get", "post", "put", "patch", "delete"}
    assert set(paths["/_func/top_companies"]) == {"get", "post"}
    assert set(paths["/_func/company_won_amount"]) == {"get", "post"}
    assert set(paths["/_proc/close_deal"]) == {"get", "post"}
    assert set(paths["/_spec"]) == {"get"}
    assert set(properties(document, "ContactsRecord")) >= set(CONTACT_COLUMNS)
    assert document["openapi"] == "3.1.0"


def test_operation_ids_follow_dreamfactory_and_are_stable(
    client: Client, admin_key: str, demo_service: Service
) -> None:
    first = fresh_spec(client, demo_service.name, admin_key)
    second = fresh_spec(client, demo_service.name, admin_key)
    assert first == second
    ids = operation_ids(first)
    s = service_camel(demo_service.name)
    expected = {
        f"get{s}ContactsRecords": ("/_table/contacts", "get"),
        f"create{s}ContactsRecords": ("/_table/contacts", "post"),
        f"replace{s}ContactsRecords": ("/_table/contacts", "put"),
        f"update{s}ContactsRecords": ("/_table/contacts", "patch"),
        f"delete{s}ContactsRecords": ("/_table/contacts", "delete"),
        f"get{s}ContactsRecord": ("/_table/contacts/{id}", "get"),
        f"replace{s}ContactsRecord": ("/_table/contacts/{id}", "put"),
        f"update{s}ContactsRecord": ("/_table/contacts/{id}", "patch"),
        f"delete{s}ContactsRecord": ("/_table/contacts/{id}", "delete"),
        f"get{s}ContactSegmentsRecords": ("/_table/contact_segments", "get"),
        f"get{s}Tables": ("/_table", "get"),
        f"describe{s}Schema": ("/_schema", "get"),
        f"create{s}Tables": ("/_schema", "post"),
        f"describe{s}ContactsTable": ("/_schema/contacts", "get"),
        f"call{s}TopCompaniesFunction": ("/_func/top_companies", "get"),
        f"call{s}TopCompaniesFunctionWithParams": ("/_func/top_companies", "post"),
        f"call{s}CloseDealProcedureWithParams": ("/_proc/close_deal", "post"),
        f"get{s}Spec": ("/_spec", "get"),
    }
    assert {name: ids[name] for name in expected} == expected
    assert len(ids) == sum(1 for _ in operations(first))  # unique


def test_hidden_column_is_in_no_schema(client: Client, demo_service: Service) -> None:
    hidden = "hubspot_sync_error"
    readable = [name for name in CONTACT_COLUMNS if name != hidden]
    credentials = grant(
        demo_service,
        [
            {
                "component": "_table/contacts",
                "verbs": ["GET", "POST", "PATCH"],
                "readable_columns": readable,
                "writable_columns": ["email", "first_name", "last_name", "phone"],
                "presets": {"first_name": "Anonymous"},
            }
        ],
    )
    document = spec(client, demo_service.name, credentials.key)
    assert hidden not in json.dumps(document)
    assert set(properties(document, "ContactsRecord")) == set(readable)
    create = component(document, "ContactsRecordCreate")
    # Writable less the preset; required: NOT NULL, no default, not preset.
    assert set(create["properties"]) == {"email", "last_name", "phone"}
    assert create["required"] == ["email", "last_name"]
    update = component(document, "ContactsRecordUpdate")
    assert set(update["properties"]) == {"id", "email", "last_name", "phone"}
    assert "required" not in update
    assert {method for _path, method, _op in operations(document)} == {"get", "post", "patch"}


def test_get_only_role_has_no_write_operation(client: Client, demo_service: Service) -> None:
    credentials = grant(demo_service, [{"component": "_table/*", "verbs": ["GET"]}])
    document = spec(client, demo_service.name, credentials.key)
    found = list(operations(document))
    assert {path for path, _method, _op in found} >= {f"/_table/{t}" for t in DEMO_TABLES}
    assert {method for _path, method, _op in found} == {"get"}
    assert not any("requestBody" in op for _path, _method, op in found)
    assert not any(
        name.endswith(("Create", "Replace", "Update")) for name in document["components"]["schemas"]
    )


def test_unreachable_table_leaves_no_trace(client: Client, demo_service: Service) -> None:
    credentials = grant(demo_service, [{"component": "_table/contacts", "verbs": ["GET"]}])
    document = spec(client, demo_service.name, credentials.key)
    assert set(document["paths"]) == {
        "/_table",
        "/_spec",
        "/_table/contacts",
        "/_table/contacts/{id}",
    }
    text = json.dumps(document).lower()
    for other in (
        "companies",
        "deals",
        "segments",
        "active_contacts",
        "company_revenue",
        "top_companies",
        "company_won_amount",
        "close_deal",
    ):
        assert other not in text, other
    names: dict[str, Any] = document["components"]["schemas"]
    assert not [name for name in names if name.startswith(("Deals", "Companies", "Segments"))]


def test_caller_reaching_only_a_procedure_sees_only_it(
    client: Client, demo_service: Service
) -> None:
    credentials = grant(demo_service, [{"component": "_proc/close_deal", "verbs": ["POST"]}])
    document = spec(client, demo_service.name, credentials.key)
    assert set(document["paths"]) == {"/_table", "/_spec", "/_proc", "/_proc/close_deal"}
    call = document["paths"]["/_proc/close_deal"]
    assert set(call) == {"post"}
    arguments = component(document, "CloseDealArguments")
    assert set(arguments["properties"]) == {"p_deal_id", "p_won", "p_stage"}
    assert arguments["properties"]["p_deal_id"]["format"] == "int64"
    assert arguments["required"] == ["p_deal_id", "p_won"]  # p_stage has a default
    assert call["post"]["security"][-1] == {"OAuth2": ["write"]}


def test_arguments_without_a_default_are_required(
    client: Client, admin_key: str, demo_service: Service
) -> None:
    document = spec(client, demo_service.name, admin_key)

    def required(path: str) -> dict[str, bool]:
        parameters = document["paths"][path]["get"]["parameters"]
        named = [p for p in parameters if p.get("name", "").startswith("p_")]  # not the $refs
        return {p["name"]: p.get("required", False) for p in named}

    assert required("/_func/company_won_amount") == {"p_company_id": True}
    assert required("/_func/top_companies") == {"p_limit": False}
    assert required("/_proc/close_deal") == {"p_deal_id": True, "p_won": True, "p_stage": False}
    missing = client.get(
        f"/api/v2/{demo_service.name}/_func/company_won_amount", headers={"X-API-Key": admin_key}
    )
    assert missing.status_code == 400


def test_one_tables_schema_change_takes_its_name_from_the_path(
    client: Client, admin_key: str, demo_service: Service
) -> None:
    document = spec(client, demo_service.name, admin_key)
    for verb in ("put", "patch"):
        body = document["paths"]["/_schema/deals"][verb]["requestBody"]["content"]
        assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/TableChange"}
    change = component(document, "TableChange")
    assert "required" not in change
    assert change["properties"]["field"]["type"] == ["array", "null"]  # null: fields unchanged
    assert component(document, "TableDefinition")["required"] == ["name"]
