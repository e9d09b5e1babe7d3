"""The WSGI application: API calls without a browser session skip the browser-only middleware."""

from __future__ import annotations

import io
import json
import weakref
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from config.handlers import Application
from services.models import Service
from tests.conftest import flush_audit_after_test_request


class Counted:
    """A WSGI handler that counts the requests it serves."""

    def __init__(self, handler: Any) -> None:
        self.handler, self.calls = handler, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.handler(environ, start_response)


@pytest.fixture
def application() -> Iterator[Application]:
    # As Django's test client does: the test's transaction must outlive each
    # request. Without the suite's own receiver (for the test client's
    # answers), only Django's listen, as in production.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    request_finished.disconnect(dispatch_uid="tests-audit-flush")
    try:
        app = Application()
        app.api, app.site = Counted(app.api), Counted(app.site)  # type: ignore[assignment]
        yield app
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        request_finished.connect(flush_audit_after_test_request, dispatch_uid="tests-audit-flush")


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

    served = app(environ, start_response)
    body = b"".join(served)
    close = getattr(served, "close", None)
    if close is not None:
        close()  # as a WSGI server does once the body is sent
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


def test_a_table_read_served_by_the_application_runs_and_records_its_event_script(
    application: Application, admin_key: str, target_service: Service
) -> None:
    from services.scripting import runs
    from services.scripting.models import EventScript
    from services.scripting.state import forget_scripts

    name = f"{target_service.name}._table.books.{{id}}.get.pre_process"
    script = EventScript.objects.create(name=name, source="pass")
    forget_scripts()
    try:
        status, _headers, body = call(
            application, f"/api/v2/{target_service.name}/_table/books/1", **{"X-API-Key": admin_key}
        )
        assert status.startswith("200"), body
        # Recorded once the server closed the response (Django's request_finished),
        # by the process's writer thread.
        runs.writer.drain()
        assert script.runs.count() == 1
    finally:
        forget_scripts()


def test_the_api_handler_calls_the_request_signals_receivers_itself_or_sends_the_signals(
    application: Application, admin_key: str, target_service: Service, monkeypatch: Any
) -> None:
    from config import handlers
    from services.api.views import TableView

    heard: list[tuple[str, Any]] = []

    def own(signal: Any, sender: Any, **kwargs: Any) -> None:
        heard.append(("started" if signal is request_started else "finished", sender))

    def read() -> int:
        """Read a record through the application; return how often `request_finished` was sent."""
        heard.clear()
        with mock.patch.object(request_finished, "send", wraps=request_finished.send) as send:
            status, _headers, body = call(
                application,
                f"/api/v2/{target_service.name}/_table/books/1",
                **{"X-API-Key": admin_key},
            )
        assert status.startswith("200"), body
        return int(send.call_count)

    api = handlers.ApiHandler
    # Another receiver listens to both signals: both are sent, to it too.
    request_started.connect(own)
    request_finished.connect(own)
    try:
        assert read() == 1
        assert heard == [("started", api), ("finished", api)]
        # Connected during the request (as a first event script's run is): the
        # signal is sent when the server closes the answer.
        request_started.disconnect(own)
        request_finished.disconnect(own)
        answer = TableView.get

        def connecting(view: Any, *args: Any, **kwargs: Any) -> Any:
            request_finished.connect(own)
            return answer(view, *args, **kwargs)

        monkeypatch.setattr(TableView, "get", connecting)
        assert read() == 1
        assert heard == [("finished", api)]
        monkeypatch.setattr(TableView, "get", answer)
        # Every receiver counted as one of Django's own (other tests may have left
        # theirs): each is called directly, the finished ones once the answer is closed.
        request_started.connect(own)
        connected = {
            found
            for signal in (request_started, request_finished)
            for _key, receiver, _is_async in signal.receivers
            if (found := receiver() if isinstance(receiver, weakref.ref) else receiver)
        }
        monkeypatch.setattr(handlers, "DJANGO_RECEIVERS", frozenset(connected))
        assert read() == 0
        assert heard == [("started", api), ("finished", api)]
    finally:
        request_started.disconnect(own)
        request_finished.disconnect(own)


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


# --- table reads: the API handler's own way to the table view ------------------------------

COMPARED_HEADERS = (
    "Content-Type", "Content-Disposition", "WWW-Authenticate", "Allow", "Retry-After",
    "X-Content-Type-Options", "Referrer-Policy", "X-RateLimit-Limit",
)  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/svc/_table/books",
        "/api/v2/svc/_table/books/7",
        "/api/v2/svc/_table/extra.notes/1,2",
        "/api/v2/svc/_table/bo%20oks/a b",
        "/api/v2/_spec/_table/books",
    ],
)
def test_table_routes_match_as_the_url_patterns_do(path: str) -> None:
    from django.urls import resolve

    from config.handlers import ApiHandler

    expected = resolve(path)
    match = ApiHandler().table_match(path)
    assert match is not None
    assert (match.func, match.args, match.kwargs, match.url_name, match.route) == (
        expected.func, expected.args, expected.kwargs, expected.url_name, expected.route,
    )  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/svc/_table",
        "/api/v2/svc/_table/",
        "/api/v2/svc/_table/books/",
        "/api/v2/svc/_table/books/1/2",
        "/api/v2/svc/_schema/books",
        "/api/v2/user/session",
    ],
)
def test_other_paths_are_left_to_the_url_patterns(path: str) -> None:
    from config.handlers import ApiHandler

    assert ApiHandler().table_match(path) is None


def comparable(answer: tuple[str, dict[str, str], bytes]) -> tuple[Any, ...]:
    """Status, body and the compared headers; an error's request id left out (each call has its own)."""
    status, headers, body = answer
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = body
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        assert data["error"].pop("request_id") == headers["X-Request-Id"]
    return status, data, {name: headers.get(name) for name in COMPARED_HEADERS}


def both_ways(
    app: Application, path: str, **headers: str
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The answer of the API handler (table reads by its own way) and of the full stack."""
    direct = comparable(call(app.api, path, **headers))  # type: ignore[arg-type]
    full = comparable(call(app.site, path, **headers))  # type: ignore[arg-type]
    return direct, full


def test_table_reads_answer_as_the_full_stack_does(
    application: Application, admin_key: str, target_service: Service
) -> None:
    from rbac.audit import flush
    from rbac.models import AuditRecord
    from tests.services.api.conftest import grant

    books = f"/api/v2/{target_service.name}/_table/books"
    narrow = grant(
        target_service,
        [{"component": "_table/books", "verbs": ["GET"], "readable_columns": ["id", "title"],
          "row_filter": "id < 3"}],
    ).key  # fmt: skip
    inactive = grant(target_service, [{"component": "*", "verbs": ["GET"]}], app_active=False).key
    cases = [
        (f"{books}/1", {"X-API-Key": admin_key}),
        (f"{books}/999999", {"X-API-Key": admin_key}),
        (f"{books}?include_count=true&limit=2&order=title%20desc", {"X-API-Key": admin_key}),
        (f"{books}?filter=id%3D%27x", {"X-API-Key": admin_key}),
        (f"{books}?limit=-1", {"X-API-Key": admin_key}),
        (f"{books}?limit=2", {"X-API-Key": admin_key, "Accept": "text/csv"}),
        (f"/api/v2/{target_service.name}/_table/nope", {"X-API-Key": admin_key}),
        ("/api/v2/no-such-service/_table/books", {"X-API-Key": admin_key}),
        (f"{books}/1", {}),
        (f"{books}/1", {"X-API-Key": "sg_not-a-key"}),
        (f"{books}/1", {"X-API-Key": narrow}),
        (f"{books}/5", {"X-API-Key": narrow}),
        (f"{books}?filter=price%3E1", {"X-API-Key": narrow}),
        (f"{books}", {"X-API-Key": inactive}),
        (f"{books}/1", {"X-API-Key": admin_key, "Origin": "https://elsewhere.example"}),
    ]
    flush()  # earlier tests' records
    before = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for path, headers in cases:
        direct, full = both_ways(application, path, **headers)
        assert direct == full, (path, headers)
    # Each call left one audit record, the same both ways; a call refused by
    # the middleware (the foreign Origin) names its service and table only
    # on the table reads' way, which knows the route before the middleware runs.
    flush()
    fields = ("username", "app", "role", "verb", "status", "rows", "path", "service", "table")
    records = list(AuditRecord.objects.filter(id__gt=before).order_by("id").values_list(*fields))
    assert len(records) == 2 * len(cases)
    for direct_record, full_record in zip(records[0::2], records[1::2], strict=True):
        assert direct_record[:7] == full_record[:7]
        assert full_record[7:] in (direct_record[7:], ("", ""))


@pytest.fixture
def own_counters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rate-limit counters of this test alone (each test database numbers its limits from 1)."""
    import secrets

    import redis
    from django.conf import settings

    from rbac import limits

    prefix = f"sg:ratelimit-test-{secrets.token_hex(8)}"
    monkeypatch.setattr(limits, "KEY_PREFIX", prefix)
    limits.forget_limiter()
    yield
    limits.forget_limiter()
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def test_a_rate_limit_counts_a_table_read_once_and_refuses_as_the_full_stack(
    application: Application, target_service: Service, own_counters: None
) -> None:
    from rbac.models import App, Limit
    from tests.services.api.conftest import grant

    key = grant(target_service, [{"component": "*", "verbs": ["GET"]}]).key
    app = App.objects.get(default_role__name__startswith="role-", name__startswith="app-")
    Limit.objects.create(name="two-a-minute", scope="app", app=app, rate=2, period="minute")
    path = f"/api/v2/{target_service.name}/_table/books/1"
    first = comparable(call(application.api, path, **{"X-API-Key": key}))  # type: ignore[arg-type]
    second = comparable(call(application.api, path, **{"X-API-Key": key}))  # type: ignore[arg-type]
    assert (first[0][:3], second[0][:3]) == ("200", "200")
    assert first[2]["X-RateLimit-Limit"] == "2"
    direct, full = both_ways(application, path, **{"X-API-Key": key})
    assert direct[0].startswith("429")
    assert direct == full
