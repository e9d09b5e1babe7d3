"""The WSGI application: API calls without a browser session skip the browser-only middleware."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from config.handlers import Application
from services.models import Service


class Counted:
    """A WSGI handler that counts the requests it serves."""

    def __init__(self, handler: Any) -> None:
        self.handler, self.calls = handler, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.handler(environ, start_response)


@pytest.fixture
def application() -> Iterator[Application]:
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        app = Application()
        app.api, app.site = Counted(app.api), Counted(app.site)  # type: ignore[assignment]
        yield app
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(app: Application, path: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    """Send a GET through the WSGI application; return (status, headers, body)."""
    query = ""
    if "?" in path:
        path, query = path.split("?", 1)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SCRIPT_NAME": "",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_an_api_key_call_answers_without_session_machinery(
    application: Application, admin_key: str, target_service: Service
) -> None:
    status, headers, body = call(
        application, f"/api/v2/{target_service.name}/_table/books/1", **{"X-API-Key": admin_key}
    )
    assert status.startswith("200"), body
    assert json.loads(body)["title"] == "The Dispossessed"
    assert "Set-Cookie" not in headers
    assert "Cookie" not in headers.get("Vary", "")
    # Security headers still come from the middleware both paths share.
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Sized, so the server need not fall back to chunked encoding.
    assert headers["Content-Length"] == str(len(body))
    assert (application.api.calls, application.site.calls) == (1, 0)  # type: ignore[attr-defined]


def test_an_anonymous_api_call_is_refused(application: Application) -> None:
    status, _headers, body = call(application, "/api/v2")
    assert status.startswith("401"), body
    assert "error" in json.loads(body)


def test_an_admin_browser_session_still_reaches_the_api(
    application: Application, client: Client, target_service: Service
) -> None:
    User.objects.create_superuser("browser-admin", "b@example.com", "pw-browser-1")
    assert client.login(username="browser-admin", password="pw-browser-1")
    cookie = client.cookies["sessionid"].value
    status, _headers, body = call(
        application, f"/api/v2/{target_service.name}/_table/books/1", Cookie=f"sessionid={cookie}"
    )
    assert status.startswith("200"), body
    assert json.loads(body)["id"] == 1
    assert (application.api.calls, application.site.calls) == (0, 1)  # type: ignore[attr-defined]


def test_the_admin_goes_through_the_full_stack(application: Application) -> None:
    status, headers, _body = call(application, "/admin/login/")
    assert status.startswith("200")
    assert "csrftoken" in headers.get("Set-Cookie", "")
