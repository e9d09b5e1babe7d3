"""`/api/docs/{service}`: Swagger UI from this server's own files, prefilled for admins only."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from rbac.sessions import verify_session_token
from services.api.registry import forget_services
from services.models import Service
from tests.services.api.conftest import make_service

URL_ATTRIBUTES = {"src", "href", "action", "data", "poster", "srcset", "formaction"}


class PageParts(HTMLParser):
    """Every URL-carrying attribute of a page, and the text of its `<script>` elements by id."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts: list[str] = []
        self.script_ids: list[str | None] = []
        self._in_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                self.urls.append((tag, name, value))
        if tag == "script":
            self._in_script = found.get("id") or ""
            self.scripts.append("")
            self.script_ids.append(found.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self.scripts[-1] += data


def parse(response: Any) -> tuple[str, PageParts]:
    text = response.content.decode()
    parts = PageParts()
    parts.feed(text)
    return text, parts


def page_config(parts: PageParts) -> dict[str, Any]:
    """The page's JSON configuration (`json_script`)."""
    index = parts.script_ids.index("api-docs-config")
    config: dict[str, Any] = json.loads(parts.scripts[index])
    return config


def served_bytes(client: Client, url: str) -> bytes:
    response: Any = client.get(url)  # WhiteNoise answers with a streaming file response
    assert response.status_code == 200, url
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_page_loads_only_local_files_that_are_served(
    client: Client, target_service: Service
) -> None:
    response = client.get(f"/api/docs/{target_service.name}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    text, parts = parse(response)
    for marker in ("http://", "https://", "//"):
        assert marker not in text
    scripts = [value for tag, name, value in parts.urls if tag == "script" and name == "src"]
    links = [value for tag, name, value in parts.urls if tag == "link" and name == "href"]
    assert any(url.endswith("/swagger-ui-bundle.js") for url in scripts)
    assert any(url.endswith("/swagger-ui.css") for url in links)
    assert parts.urls
    for _tag, _name, url in parts.urls:
        assert url.startswith("/static/"), url
        # Served by the app itself (WhiteNoise, as in production), byte for byte the packaged file.
        found = finders.find(url.removeprefix("/static/"))
        assert found is not None, url
        assert served_bytes(client, url) == Path(str(found)).read_bytes()
    assert "SwaggerUIBundle" in served_bytes(client, scripts[0]).decode()
    assert "validatorUrl: null" in text
    assert page_config(parts)["specUrl"] == f"/api/v2/{target_service.name}/_spec"


def test_page_is_never_cached_and_allows_only_its_own_origin(
    client: Client, target_service: Service
) -> None:
    response = client.get(f"/api/docs/{target_service.name}")
    assert "no-store" in response["Cache-Control"]
    policy = response["Content-Security-Policy"]
    assert "connect-src 'self'" in policy
    assert "script-src 'self' 'nonce-" in policy
    assert "frame-ancestors 'none'" in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in response.content.decode()
    assert client.get(f"/api/docs/{target_service.name}")["Content-Security-Policy"] != policy


def test_admin_session_prefills_a_token_that_works(
    admin_client: Client, target_service: Service
) -> None:
    response = admin_client.get(f"/api/docs/{target_service.name}")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    credential = page_config(parse(response)[1])["credential"]
    assert credential["header"] == "X-DreamFactory-Session-Token"
    assert credential["user"] == "admin"
    assert not credential["value"].startswith("sg_")  # a session token, not an API key
    # Short-lived, and not refreshable past its hour.
    claims = verify_session_token(credential["value"])
    assert claims.expires_at - claims.issued_at == timedelta(hours=1)
    assert claims.refresh_until == claims.expires_at
    assert datetime.fromisoformat(credential["expires"]) == claims.expires_at
    # Without the admin's cookies: only the token speaks for the caller.
    api = Client()
    tables = api.get(
        f"/api/v2/{target_service.name}/_table", headers={credential["header"]: credential["value"]}
    )
    assert tables.status_code == 200
    assert "books" in [table["name"] for table in tables.json()["resource"]]
    assert api.get(f"/api/v2/{target_service.name}/_table").status_code == 401


def test_each_visit_gets_its_own_token(admin_client: Client, target_service: Service) -> None:
    first = page_config(parse(admin_client.get(f"/api/docs/{target_service.name}"))[1])
    second = page_config(parse(admin_client.get(f"/api/docs/{target_service.name}"))[1])
    assert first["credential"]["value"] != second["credential"]["value"]


def test_anonymous_page_carries_no_credential(client: Client, target_service: Service) -> None:
    response = client.get(f"/api/docs/{target_service.name}")
    assert response.status_code == 200
    text, parts = parse(response)
    config = page_config(parts)
    assert config["credential"] is None
    assert config["credentialRequired"] is True
    assert "eyJ" not in text  # no JWT anywhere
    assert re.search(r"sg_[A-Za-z0-9_-]{20}", text) is None  # nor an API key


def test_staff_who_reach_no_service_get_no_credential(
    client: Client, target_service: Service
) -> None:
    User.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    client.login(username="clerk", password="pw-clerk-1")
    response = client.get(f"/api/docs/{target_service.name}")
    assert response.status_code == 200
    assert page_config(parse(response)[1])["credential"] is None


@pytest.mark.django_db
def test_a_page_tells_nobody_which_services_exist(
    client: Client, admin_client: Client, target_service: Service
) -> None:
    known = client.get(f"/api/docs/{target_service.name}")
    unknown = client.get("/api/docs/no-such-service")
    assert known.status_code == unknown.status_code == 200
    assert page_config(parse(unknown)[1])["specUrl"] == "/api/v2/no-such-service/_spec"
    assert page_config(parse(known)[1])["credential"] is None
    # Not even an admin gets a credential for a name that is no active service.
    answer = admin_client.get("/api/docs/no-such-service")
    assert answer.status_code == 200
    assert page_config(parse(answer)[1])["credential"] is None


def test_an_inactive_service_gets_no_credential(
    admin_client: Client, target_service: Service
) -> None:
    target_service.active = False
    target_service.save()
    forget_services()
    response = admin_client.get(f"/api/docs/{target_service.name}")
    assert response.status_code == 200
    assert page_config(parse(response)[1])["credential"] is None


def test_only_reads_are_allowed(admin_client: Client, target_service: Service) -> None:
    assert admin_client.post(f"/api/docs/{target_service.name}").status_code == 405


@pytest.mark.django_db
def test_platform_page_needs_no_credential(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    text, parts = parse(response)
    assert "//" not in text
    config = page_config(parts)
    assert config["specUrl"] == "/api/v2/_spec"
    assert config["credentialRequired"] is False
    assert config["credential"] is None
    assert client.get(config["specUrl"]).status_code == 200


def test_change_list_links_each_active_service_to_its_docs(
    admin_client: Client, target_service: Service
) -> None:
    make_service("dormant", target_service.database, active=False)
    response = admin_client.get(reverse("admin:services_service_changelist"))
    assert response.status_code == 200
    _text, parts = parse(response)
    docs = [value for tag, name, value in parts.urls if tag == "a" and "/api/docs/" in value]
    assert docs == [f"/api/docs/{target_service.name}"]
    assert "Open API docs" in response.content.decode()


def test_change_form_links_to_the_docs(admin_client: Client, target_service: Service) -> None:
    page = admin_client.get(reverse("admin:services_service_change", args=[target_service.pk]))
    assert page.status_code == 200
    _text, parts = parse(page)
    assert ("a", "href", f"/api/docs/{target_service.name}") in parts.urls
    # The object buttons are still there.
    assert "Test connection" in page.content.decode()


def test_prefilled_token_loads_the_pages_document(
    admin_client: Client, target_service: Service
) -> None:
    config = page_config(parse(admin_client.get(f"/api/docs/{target_service.name}"))[1])
    credential = config["credential"]
    document = Client().get(config["specUrl"], headers={credential["header"]: credential["value"]})
    assert document.status_code == 200
    schemes = document.json()["components"]["securitySchemes"].values()
    # The page authorizes "Try it out" through the scheme that names the token's header.
    assert [
        scheme
        for scheme in schemes
        if (scheme.get("type"), scheme.get("in"), scheme.get("name"))
        == ("apiKey", "header", credential["header"])
    ]
