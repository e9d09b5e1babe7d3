"""OAuth 2.0: authorization code with PKCE, client credentials, refresh, revocation, scopes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from rbac import throttle
from rbac.models import App, OAuthClient, Role
from services.models import Service
from tests.services.api import conftest as api_fixtures
from tests.services.api.conftest import grant

target_service = api_fixtures.target_service
_fresh_caches = api_fixtures._fresh_caches

Application = get_application_model()
AccessToken = get_access_token_model()

REDIRECT = "https://client.example.com/callback"
ALL_VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
AUTHORS_RULES = [
    {"component": "_table/authors", "verbs": ALL_VERBS},
    {"component": "_func/add_numbers", "verbs": ["GET", "POST"]},
]
USER_ID = 4101


class HiddenInputs(HTMLParser):
    """The hidden fields of a page's form, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""


def hidden_inputs(html: str) -> dict[str, str]:
    parser = HiddenInputs()
    parser.feed(html)
    return parser.fields


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["message"]


def latest_app() -> App:
    return App.objects.latest("pk")


def oauth_client(app: App | None, grant_type: str, *, name: str = "crm-web") -> tuple[Any, str]:
    """An OAuth application (linked to `app` unless None) and its client secret in clear."""
    secret = secrets.token_urlsafe(32)
    application = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=grant_type,
        redirect_uris=REDIRECT if grant_type == Application.GRANT_AUTHORIZATION_CODE else "",
        client_secret=secret,
    )
    if app is not None:
        OAuthClient.objects.create(application=application, app=app)
    return application, secret


def client_credentials_token(
    client: Client, application: Any, secret: str, scope: str | None = None
) -> dict[str, Any]:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = client.post(
        "/oauth/token/",
        urlencode(data),
        "application/x-www-form-urlencoded",
        headers=basic(application.client_id, secret),
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.fixture
def service_with_user(target_service: Service) -> Service:
    """A role on `authors` (and `add_numbers`) that a user holds in an app with no default role."""
    grant(target_service, AUTHORS_RULES, user_id=USER_ID)
    app = latest_app()
    app.default_role = Role.objects.create(name="nothing")
    app.save()
    return target_service


@pytest.fixture
def service_with_app(target_service: Service) -> Service:
    """An app whose default role reaches `authors` and `add_numbers`."""
    grant(target_service, AUTHORS_RULES)
    return target_service


def authorize(client: Client, application: Any, challenge: str | None, scope: str) -> Any:
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-1",
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return client.get("/oauth/authorize/", params)


def log_in_and_allow(client: Client, application: Any, challenge: str, scope: str) -> str:
    """Go through login and consent as a person would; return the authorization code."""
    response = authorize(client, application, challenge, scope)
    assert response.status_code == 302
    login_url = response["Location"]
    assert login_url.startswith("/oauth/login/?next=")
    page = client.get(login_url)
    assert page.status_code == 200
    assert b"Sign in to Sluicegate" in page.content
    fields = hidden_inputs(page.content.decode())
    response = client.post(
        "/oauth/login/", {**fields, "username": f"user-{USER_ID}", "password": "pw-1"}
    )
    assert response.status_code == 302
    consent = client.get(response["Location"])
    assert consent.status_code == 200
    html = consent.content.decode()
    assert "Authorize crm-web?" in html
    assert "Read records (GET)" in html
    response = client.post("/oauth/authorize/", {**hidden_inputs(html), "allow": "Authorize"})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"]
    assert query["iss"] == ["http://testserver"]
    return query["code"][0]


def exchange(client: Client, application: Any, secret: str, **data: str) -> Any:
    body = {"client_id": application.client_id, "client_secret": secret, **data}
    return client.post("/oauth/token/", urlencode(body), "application/x-www-form-urlencoded")


def test_authorization_code_with_pkce_refresh_and_revocation(
    client: Client, service_with_user: Service
) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_AUTHORIZATION_CODE)
    verifier, challenge = pkce_pair()
    code = log_in_and_allow(client, application, challenge, "read write")
    response = exchange(
        client,
        application,
        secret,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert set(tokens["scope"].split()) == {"read", "write"}
    assert tokens["expires_in"] == 3600
    # The token itself is never stored, only its checksum.
    assert not AccessToken.objects.filter(token=tokens["access_token"]).exists()

    api = Client()
    url = f"/api/v2/{service_with_user.name}/_table/authors"
    rows = api.get(url, {"order": "id"}, headers=bearer(tokens["access_token"]))
    assert rows.status_code == 200
    assert [row["name"] for row in rows.json()["resource"]] == ["Ursula", "Stanislaw", "Octavia"]
    # The user's role for the app applies, not the app's (empty) default role.
    assert api.get(url, headers=bearer(tokens["access_token"])).status_code == 200

    response = exchange(
        client,
        application,
        secret,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )
    assert response.status_code == 200, response.content
    renewed = response.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]  # rotated
    assert error(api.get(url, headers=bearer(tokens["access_token"]))) == (
        401,
        "Invalid access token.",
    )
    assert api.get(url, headers=bearer(renewed["access_token"])).status_code == 200
    # The first refresh token was used up.
    response = exchange(
        client,
        application,
        secret,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )
    assert response.status_code == 400

    response = client.post(
        "/oauth/revoke_token/",
        urlencode({"token": renewed["access_token"], "token_type_hint": "access_token"}),
        "application/x-www-form-urlencoded",
        headers=basic(application.client_id, secret),
    )
    assert response.status_code == 200
    response = api.get(url, headers=bearer(renewed["access_token"]))
    assert error(response) == (401, "Invalid access token.")


def test_authorization_code_without_pkce_is_refused(
    client: Client, service_with_user: Service
) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_AUTHORIZATION_CODE)
    client.login(username=f"user-{USER_ID}", password="pw-1")
    response = authorize(client, application, None, "read")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query

    # A code obtained with a challenge cannot be exchanged without its verifier.
    client.logout()
    _verifier, challenge = pkce_pair()
    code = log_in_and_allow(client, application, challenge, "read")
    response = exchange(
        client,
        application,
        secret,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
    )
    assert response.status_code == 400
    assert "access_token" not in response.json()


def test_plain_pkce_method_gets_no_code(client: Client, service_with_user: Service) -> None:
    application, _secret = oauth_client(latest_app(), Application.GRANT_AUTHORIZATION_CODE)
    client.login(username=f"user-{USER_ID}", password="pw-1")
    consent = client.get(
        "/oauth/authorize/",
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": REDIRECT,
            "code_challenge": "x" * 43,
            "code_challenge_method": "plain",
        },
    )
    fields = hidden_inputs(consent.content.decode())
    response = client.post("/oauth/authorize/", {**fields, "allow": "Authorize"})
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query


def test_client_credentials_act_with_the_apps_default_role(
    client: Client, service_with_app: Service
) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_CLIENT_CREDENTIALS)
    tokens = client_credentials_token(client, application, secret)
    assert set(tokens["scope"].split()) == {"read", "write"}
    assert "refresh_token" not in tokens
    base = f"/api/v2/{service_with_app.name}"
    response = client.get(f"{base}/_table/authors", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert len(response.json()["resource"]) == 3
    # The role reaches nothing else: another table answers like a missing one.
    response = client.get(f"{base}/_table/books", headers=bearer(tokens["access_token"]))
    assert error(response) == (404, 'Table "books" does not exist in the database.')


def test_unlinked_client_and_inactive_app_are_refused(
    client: Client, service_with_app: Service
) -> None:
    url = f"/api/v2/{service_with_app.name}/_table/authors"
    unlinked, secret = oauth_client(None, Application.GRANT_CLIENT_CREDENTIALS, name="stray")
    token = client_credentials_token(client, unlinked, secret)["access_token"]
    assert error(client.get(url, headers=bearer(token))) == (401, "Invalid access token.")

    app = latest_app()
    application, secret = oauth_client(app, Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials_token(client, application, secret)["access_token"]
    assert client.get(url, headers=bearer(token)).status_code == 200
    app.active = False
    app.save()
    assert error(client.get(url, headers=bearer(token))) == (401, "Invalid access token.")


@pytest.mark.parametrize("token", ["not-a-token", "x" * 30, "y" * 5000])
def test_unknown_bearer_is_401(client: Client, service_with_app: Service, token: str) -> None:
    response = client.get(f"/api/v2/{service_with_app.name}/_table/authors", headers=bearer(token))
    assert error(response) == (401, "Invalid access token.")


def test_read_scope_allows_get_only(client: Client, service_with_app: Service) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials_token(client, application, secret, "read")["access_token"]
    base = f"/api/v2/{service_with_app.name}"
    assert client.get(f"{base}/_table/authors", headers=bearer(token)).status_code == 200
    response = client.post(
        f"{base}/_table/authors",
        {"resource": [{"name": "Nobody"}]},
        "application/json",
        headers=bearer(token),
    )
    assert error(response) == (
        403,
        "Access Forbidden. POST access to component '_table/authors' of service "
        f"'{service_with_app.name}' is not allowed by this user's role.",
    )
    index = client.get(f"{base}/_table", headers=bearer(token)).json()["resource"]
    assert [(table["name"], table["access"]) for table in index] == [("authors", ["GET"])]
    assert (
        client.get(f"{base}/_func/add_numbers", {"a": 2, "b": 3}, headers=bearer(token)).json() == 5
    )
    response = client.post(
        f"{base}/_func/add_numbers", {}, "application/json", headers=bearer(token)
    )
    assert response.status_code == 403


def test_write_scope_refuses_get(client: Client, service_with_app: Service) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials_token(client, application, secret, "write")["access_token"]
    base = f"/api/v2/{service_with_app.name}"
    response = client.get(f"{base}/_table/authors", headers=bearer(token))
    assert error(response) == (
        403,
        "Access Forbidden. GET access to component '_table/authors' of service "
        f"'{service_with_app.name}' is not allowed by this user's role.",
    )
    response = client.get(f"{base}/_func/add_numbers", {"a": 1}, headers=bearer(token))
    assert response.status_code == 403
    created = client.post(
        f"{base}/_table/authors",
        {"resource": [{"name": "Written", "country": "FR"}]},
        "application/json",
        headers=bearer(token),
    )
    assert created.status_code == 200
    (record,) = created.json()["resource"]
    assert set(record) == {"id"}  # a writer that cannot read gets only ids
    removed = client.delete(f"{base}/_table/authors/{record['id']}", headers=bearer(token))
    assert removed.status_code == 200


def test_wrong_client_secret_is_401(client: Client, service_with_app: Service) -> None:
    application, _secret = oauth_client(latest_app(), Application.GRANT_CLIENT_CREDENTIALS)
    response = client.post(
        "/oauth/token/",
        urlencode({"grant_type": "client_credentials"}),
        "application/x-www-form-urlencoded",
        headers=basic(application.client_id, "wrong-secret"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


def test_expired_token_is_401(client: Client, service_with_app: Service) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials_token(client, application, secret)["access_token"]
    url = f"/api/v2/{service_with_app.name}/_table/authors"
    assert client.get(url, headers=bearer(token)).status_code == 200
    record = AccessToken.objects.get(application=application)
    record.expires = timezone.now() - timedelta(seconds=1)
    record.save()
    assert error(client.get(url, headers=bearer(token))) == (401, "Access token has expired.")


def test_token_is_looked_up_once_per_process_and_revocation_is_seen_at_once(
    client: Client, service_with_app: Service
) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials_token(client, application, secret)["access_token"]
    url = f"/api/v2/{service_with_app.name}/_table/authors"
    assert client.get(url, headers=bearer(token)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, headers=bearer(token)).status_code == 200
    assert not [q for q in queries.captured_queries if "oauth2_provider" in q["sql"]]
    AccessToken.objects.get(application=application).revoke()
    assert error(client.get(url, headers=bearer(token))) == (401, "Invalid access token.")


def test_introspection_answers_active_and_inactive(
    client: Client, service_with_app: Service
) -> None:
    application, secret = oauth_client(latest_app(), Application.GRANT_CLIENT_CREDENTIALS)
    token = client_credentials_token(client, application, secret, "read")["access_token"]

    def introspect(value: str) -> Any:
        return client.post(
            "/oauth/introspect/",
            urlencode({"token": value}),
            "application/x-www-form-urlencoded",
            headers=basic(application.client_id, secret),
        )

    response = introspect(token)
    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["scope"] == "read"
    assert body["client_id"] == application.client_id
    assert introspect("no-such-token").json() == {"active": False}
    AccessToken.objects.get(application=application).revoke()
    assert introspect(token).json() == {"active": False}
    anonymous = client.post(
        "/oauth/introspect/", urlencode({"token": token}), "application/x-www-form-urlencoded"
    )
    assert anonymous.status_code in (401, 403)


def test_login_page_counts_failures_and_refuses_when_over(
    client: Client, service_with_user: Service, settings: Any
) -> None:
    settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    username = f"user-{USER_ID}"
    throttle.clear_account_failures(username)
    throttle.clear_ip_failures("127.0.0.1")
    for _attempt in range(2):
        page = client.post("/oauth/login/", {"username": username, "password": "wrong"})
        assert page.status_code == 200
        assert b"Please enter a correct username and password" in page.content
    page = client.post("/oauth/login/", {"username": username, "password": "pw-1"})
    assert page.status_code == 200
    assert b"Too many failed login attempts. Try again later." in page.content


def test_login_page_says_so_when_failures_cannot_be_counted(
    client: Client, service_with_user: Service, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    page = client.post("/oauth/login/", {"username": f"user-{USER_ID}", "password": "pw-1"})
    assert page.status_code == 200
    assert b"Logins cannot be checked right now; retry shortly." in page.content


def test_admin_links_an_oauth_application_to_an_app(
    admin_client: Client, service_with_app: Service
) -> None:
    application, _secret = oauth_client(None, Application.GRANT_CLIENT_CREDENTIALS)
    url = f"/admin/oauth2_provider/application/{application.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"Sluicegate app" in page.content
    assert b'name="sluicegate-0-app"' in page.content
    assert admin_client.get("/admin/rbac/oauthclient/").status_code == 200
