"""Who may read `_spec`, and what the others get."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from services.models import Service
from tests.services.api.conftest import Api, grant
from tests.services.api.openapi.support import fetch

pytestmark = pytest.mark.django_db


def error_of(response: object) -> dict[str, object]:
    body = json.loads(response.content)  # type: ignore[attr-defined]
    return body["error"]  # type: ignore[no-any-return]


def test_anonymous_caller_gets_401_in_the_envelope(client: Client, demo_service: Service) -> None:
    response = fetch(client, demo_service.name, None)
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == 401
    assert error["status_code"] == 401
    assert "API key" in str(error["message"])


def test_unknown_service_gets_404_in_the_envelope(client: Client, admin_key: str) -> None:
    response = fetch(client, "no-such-service", admin_key)
    assert response.status_code == 404
    assert error_of(response)["message"] == "Service 'no-such-service' not found."


def test_role_without_rules_on_the_service_gets_404(
    client: Client, demo_service: Service, target_service: Service
) -> None:
    credentials = grant(target_service, [{"component": "*", "verbs": ["GET"]}])
    response = fetch(client, demo_service.name, credentials.key)
    assert response.status_code == 404
    assert error_of(response)["message"] == f"Service '{demo_service.name}' not found."


def test_wrong_key_gets_401(client: Client, demo_service: Service) -> None:
    response = fetch(client, demo_service.name, "sg_not-a-key")
    assert response.status_code == 401
    assert error_of(response)["message"] == "Invalid API key."


def test_service_lists_spec_among_its_resources(demo_api: Api) -> None:
    response = demo_api.get("", as_list="true")
    assert "_spec" in response.json()["resource"]


def test_cached_document_is_served_again_and_urls_are_this_server(
    client: Client, admin_key: str, demo_service: Service, settings: Settings
) -> None:
    first = fetch(client, demo_service.name, admin_key)
    second = fetch(client, demo_service.name, admin_key)
    assert first.content == second.content
    document = json.loads(first.content)
    assert document["servers"][0]["url"] == f"http://testserver/api/v2/{demo_service.name}"
    flows = document["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == "http://testserver/oauth/authorize/"
    assert flows["clientCredentials"]["tokenUrl"] == "http://testserver/oauth/token/"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "api.example.com"]
    other_host = client.get(
        f"/api/v2/{demo_service.name}/_spec",
        headers={"X-API-Key": admin_key},
        HTTP_HOST="api.example.com",
    )
    assert other_host.status_code == 200
    servers = json.loads(other_host.content)["servers"]
    assert servers[0]["url"] == f"http://api.example.com/api/v2/{demo_service.name}"
