"""CORS on /api/v2: preflights and actual requests answered per the origins each app lists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from rbac.forms import AppForm
from rbac.keys import create_admin_key, set_app_key
from rbac.models import App, OAuthClient, Role
from rbac.sessions import issue_session

pytestmark = pytest.mark.django_db

CRM = "https://crm.example.com"
SHOP = "https://shop.example.com"
EVIL = "https://evil.example.net"
ALLOW_ORIGIN = "Access-Control-Allow-Origin"


def make_app(name: str, origins: str = "", *, active: bool = True) -> tuple[App, str]:
    role, _ = Role.objects.get_or_create(name="reader")
    app = App.objects.create(name=name, default_role=role, cors_origins=origins, active=active)
    return app, set_app_key(app)


@pytest.fixture
def crm() -> tuple[App, str]:
    """An app used from the CRM's pages; another app is used from the shop's."""
    make_app("shop", SHOP)
    return make_app("crm", f"{CRM}\nhttp://localhost:3000")


def preflight(client: Client, origin: str, path: str = "/api/v2/db/_table/contacts") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


# --- preflights -------------------------------------------------------------------------------


def test_preflight_from_an_origin_an_app_lists_is_allowed(client: Client, crm: Any) -> None:
    response = preflight(client, CRM)
    assert response.status_code == 200
    assert response[ALLOW_ORIGIN] == CRM
    assert "x-api-key" in response["Access-Control-Allow-Headers"]
    assert "x-dreamfactory-session-token" in response["Access-Control-Allow-Headers"]
    assert "PATCH" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response
    assert "origin" in response["Vary"].lower()


def test_preflight_from_an_unlisted_origin_gets_no_cors_headers(client: Client, crm: Any) -> None:
    response = preflight(client, EVIL)
    assert ALLOW_ORIGIN not in response
    assert "Access-Control-Allow-Methods" not in response


def test_preflight_from_an_origin_only_an_inactive_app_lists_is_refused(client: Client) -> None:
    make_app("old", "https://old.example.com", active=False)
    assert ALLOW_ORIGIN not in preflight(client, "https://old.example.com")


def test_preflight_matches_the_origin_as_browsers_send_it(client: Client, crm: Any) -> None:
    assert preflight(client, "http://localhost:3000")[ALLOW_ORIGIN] == "http://localhost:3000"
    assert ALLOW_ORIGIN not in preflight(client, "http://localhost:3001")
    assert ALLOW_ORIGIN not in preflight(client, "null")


def test_only_the_api_answers_cross_origin(client: Client, crm: Any) -> None:
    assert ALLOW_ORIGIN not in preflight(client, CRM, path="/admin/")
    assert ALLOW_ORIGIN not in client.get("/health/live", headers={"Origin": CRM})


def test_an_origin_added_in_the_admin_is_allowed_at_once(
    admin_client: Client, client: Client, crm: Any
) -> None:
    app, _key = crm
    assert ALLOW_ORIGIN not in preflight(client, "https://new.example.com")
    response = admin_client.post(
        reverse("admin:rbac_app_change", args=[app.pk]),
        app_post(app, f"{CRM}\nhttps://new.example.com"),
    )
    assert response.status_code == 302
    assert preflight(client, "https://new.example.com")[ALLOW_ORIGIN] == "https://new.example.com"


# --- actual requests --------------------------------------------------------------------------


def test_request_from_an_origin_its_app_lists_gets_the_cors_headers(
    client: Client, crm: Any
) -> None:
    _app, key = crm
    response = client.get("/api/v2", headers={"Origin": CRM, "X-API-Key": key})
    assert response.status_code == 200
    assert response.json() == {"resource": []}
    assert response[ALLOW_ORIGIN] == CRM
    assert "X-RateLimit-Remaining" in response["Access-Control-Expose-Headers"]


def test_request_from_an_origin_its_app_does_not_list_is_refused(client: Client, crm: Any) -> None:
    _app, key = crm
    # The shop's origin is allowed for the shop app, not for the CRM's key.
    for origin in (SHOP, EVIL):
        response = client.get("/api/v2", headers={"Origin": origin, "X-API-Key": key})
        assert response.status_code == 403
        assert ALLOW_ORIGIN not in response
        error = error_of(response)
        assert (error["code"], error["status_code"]) == (403, 403)
        assert (
            error["message"] == f"Access Forbidden. Origin '{origin}' is not allowed for this app."
        )


def test_a_refused_origin_changes_nothing(client: Client, crm: Any) -> None:
    _app, key = crm
    response = client.post(
        "/api/v2/user/session",
        {"email": "a@example.com", "password": "x"},
        content_type="application/json",
        headers={"Origin": EVIL, "X-API-Key": key},
    )
    assert response.status_code == 403
    assert ALLOW_ORIGIN not in response


def test_key_in_the_query_string_is_held_to_its_apps_origins(client: Client, crm: Any) -> None:
    _app, key = crm
    assert client.get(f"/api/v2?api_key={key}", headers={"Origin": EVIL}).status_code == 403
    allowed = client.get(f"/api/v2?api_key={key}", headers={"Origin": CRM})
    assert allowed.status_code == 200
    assert allowed[ALLOW_ORIGIN] == CRM


def test_session_token_is_held_to_the_origins_of_the_app_it_was_issued_through(
    client: Client, crm: Any
) -> None:
    app, _key = crm
    user = User.objects.create_user("ann", "ann@example.com", "pw")
    token, _claims = issue_session(user_id=user.pk, app_id=app.pk)
    headers = {"X-DreamFactory-Session-Token": token}

    allowed = client.get("/api/v2", headers={**headers, "Origin": CRM})
    assert allowed.status_code == 200
    assert allowed[ALLOW_ORIGIN] == CRM
    refused = client.get("/api/v2", headers={**headers, "Origin": SHOP})
    assert refused.status_code == 403
    assert ALLOW_ORIGIN not in refused


def test_admin_key_is_refused_from_any_browser_origin(client: Client, crm: Any) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    key = create_admin_key(user=admin, name="ops").key
    response = client.get("/api/v2", headers={"Origin": CRM, "X-API-Key": key})
    assert response.status_code == 403
    assert ALLOW_ORIGIN not in response
    assert "admin API key" in error_of(response)["message"]
    # Without an Origin (automation, not a browser) it works.
    assert client.get("/api/v2", headers={"X-API-Key": key}).status_code == 200


def test_unauthenticated_request_from_a_listed_origin_can_read_its_error(
    client: Client, crm: Any
) -> None:
    response = client.get("/api/v2", headers={"Origin": CRM})
    assert response.status_code == 401
    assert response[ALLOW_ORIGIN] == CRM
    unlisted = client.get("/api/v2", headers={"Origin": EVIL})
    assert unlisted.status_code == 401
    assert ALLOW_ORIGIN not in unlisted
    wrong_key = client.get("/api/v2", headers={"Origin": EVIL, "X-API-Key": "sg_" + "x" * 43})
    assert wrong_key.status_code == 401
    assert ALLOW_ORIGIN not in wrong_key


def test_same_origin_requests_are_not_cross_origin(client: Client) -> None:
    _app, key = make_app("internal")  # lists no origin at all
    response = client.get("/api/v2", headers={"Origin": "http://testserver", "X-API-Key": key})
    assert response.status_code == 200
    assert ALLOW_ORIGIN not in response


# --- the origins in the app's admin form -------------------------------------------------------


def app_post(app: App, origins: str) -> dict[str, Any]:
    return {
        "name": app.name,
        "description": "",
        "active": "on",
        "default_role": str(app.default_role_id or ""),
        "cors_origins": origins,
        "user_roles-TOTAL_FORMS": "0",
        "user_roles-INITIAL_FORMS": "0",
        "user_roles-MIN_NUM_FORMS": "0",
        "user_roles-MAX_NUM_FORMS": "1000",
    }


def form_errors(origins: str) -> list[str]:
    form = AppForm(data={"name": "web", "description": "", "cors_origins": origins})
    assert not form.is_valid()
    return [str(error) for error in form.errors["cors_origins"]]


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        ("*", "'*' is not allowed"),
        ("https://crm.example.com/app", "no path"),
        ("https://crm.example.com?x=1", "no path"),
        ("crm.example.com", "starts with https:// or http://"),
        ("ftp://crm.example.com", "starts with https:// or http://"),
        ("https://crm.example.com:99999", "is not an origin"),
        ("https://user:pw@crm.example.com", "no user name or password"),
        ("https://crm_example!.com", "host name is not valid"),
        ("https://crm.example.com\nnull", "starts with https:// or http://"),
    ],
)
def test_the_app_form_refuses_what_is_not_an_origin(origins: str, message: str) -> None:
    [error] = form_errors(origins)
    assert message in error


def test_the_app_form_stores_origins_as_browsers_send_them() -> None:
    form = AppForm(
        data={
            "name": "web",
            "description": "",
            "cors_origins": " HTTPS://CRM.Example.com:443/ \n\nhttp://localhost:3000\n"
            "https://crm.example.com\nhttp://[::1]:8080",
        }
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["cors_origins"] == (
        "https://crm.example.com\nhttp://localhost:3000\nhttp://[::1]:8080"
    )


def test_the_app_admin_shows_an_invalid_origin_and_saves_nothing(
    admin_client: Client, crm: Any
) -> None:
    app, _key = crm
    response = admin_client.post(
        reverse("admin:rbac_app_change", args=[app.pk]), app_post(app, "https://a.example.com/x")
    )
    assert response.status_code == 200
    assert "with no path" in response.content.decode()
    app.refresh_from_db()
    assert app.cors_origins == f"{CRM}\nhttp://localhost:3000"


def test_oauth_token_is_held_to_the_origins_of_its_clients_app(client: Client, crm: Any) -> None:
    app, _key = crm
    application = get_application_model().objects.create(
        name="crm-web",
        client_type="confidential",
        authorization_grant_type="client-credentials",
    )
    OAuthClient.objects.create(application=application, app=app)
    token = "oauth-" + "t" * 40
    get_access_token_model().objects.create(
        token=token,
        application=application,
        expires=timezone.now() + timedelta(hours=1),
        scope="read write",
    )
    headers = {"Authorization": f"Bearer {token}"}

    allowed = client.get("/api/v2", headers={**headers, "Origin": CRM})
    assert allowed.status_code == 200
    assert allowed[ALLOW_ORIGIN] == CRM
    refused = client.get("/api/v2", headers={**headers, "Origin": SHOP})
    assert refused.status_code == 403
    assert ALLOW_ORIGIN not in refused
