"""`GET /api/v2/_spec`: the platform's own endpoints as a valid OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from services.models import Service

pytestmark = pytest.mark.django_db

SESSION = "/api/v2/user/session"


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get("/api/v2/_spec")  # no credential
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def check(document: dict[str, Any], path: str, method: str, response: Any) -> None:
    """Assert `response` is one the document lists for the operation, with a body that fits."""
    answers = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in answers, f"{method.upper()} {path} answered {status}"
    schema = answers[status]["content"]["application/json"]["schema"]
    validator = OAS31Validator({**schema, "components": document["components"]})
    validator.validate(response.json())


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_document_lists_the_session_endpoints(document: dict[str, Any]) -> None:
    session = document["paths"][SESSION]
    operations = {method: session[method]["operationId"] for method in session}
    assert operations == {
        "post": "login",
        "get": "getSession",
        "put": "refreshSession",
        "delete": "logout",
    }
    assert document["paths"]["/api/v2"]["get"]["operationId"] == "getServices"
    assert {} in session["post"]["security"]  # logging in needs no credential
    assert {} not in document["paths"]["/api/v2"]["get"]["security"]


def test_document_holds_only_platform_paths(
    document: dict[str, Any], target_service: Service
) -> None:
    assert set(document["paths"]) == {"/api/v2", SESSION}
    # A tunnelled POST is not an operation of its own.
    assert set(document["paths"]["/api/v2"]) == {"get"}
    assert target_service.name not in str(document)


def test_security_schemes_name_the_real_credentials(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    headers = {scheme.get("name") for scheme in schemes.values() if scheme["type"] == "apiKey"}
    assert headers == {"X-DreamFactory-API-Key", "X-DreamFactory-Session-Token"}
    flows = schemes["OAuth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token/"
    assert set(flows["authorizationCode"]["scopes"]) == {"read", "write"}


def test_answers_of_the_session_endpoints_fit_the_document(
    client: Client, document: dict[str, Any]
) -> None:
    User.objects.create_user("reader", "reader@example.com", "pw-Reader-77")
    login = client.post(
        SESSION, {"email": "reader@example.com", "password": "pw-Reader-77"}, "application/json"
    )
    assert login.status_code == 200
    check(document, SESSION, "post", login)
    token = login.json()["session_token"]
    headers = {"X-DreamFactory-Session-Token": token}
    check(document, SESSION, "get", client.get(SESSION, headers=headers))
    refreshed = client.put(SESSION, headers=headers)
    check(document, SESSION, "put", refreshed)
    headers = {"Authorization": f"Bearer {refreshed.json()['session_token']}"}
    check(document, SESSION, "delete", client.delete(SESSION, headers=headers))
    check(document, SESSION, "get", client.get(SESSION, headers=headers))  # revoked: 401
    bad = client.post(SESSION, {"email": "reader@example.com"}, "application/json")
    assert bad.status_code == 400
    check(document, SESSION, "post", bad)


def test_answers_of_the_service_list_fit_the_document(
    client: Client, document: dict[str, Any], admin_key: str, target_service: Service
) -> None:
    headers = {"X-DreamFactory-API-Key": admin_key}
    listed = client.get("/api/v2", headers=headers)
    check(document, "/api/v2", "get", listed)
    assert target_service.name in [service["name"] for service in listed.json()["resource"]]
    check(document, "/api/v2", "get", client.get("/api/v2", {"as_list": "true"}, headers=headers))
    check(document, "/api/v2", "get", client.get("/api/v2"))  # 401


def test_spec_answers_only_reads(client: Client) -> None:
    response = client.post("/api/v2/_spec", {}, "application/json")
    assert response.status_code == 405
    assert response.json()["error"]["status_code"] == 405
