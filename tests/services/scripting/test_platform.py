"""What a script can reach: platform.api as requestor SCRIPT, the session, the store, HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache

from rbac.audit import flush
from rbac.models import AuditRecord
from services.scripting.host import store_key
from services.scripting.models import EventScript, ScriptHttpHost
from tests.services.api.writes_support import WriteApi, body, error_of
from tests.services.scripting.conftest import redis_client

Maker = Callable[..., EventScript]
Writer = Callable[..., WriteApi]
TODO = "/_table/todo"


def test_platform_api_honours_script_requestor_rules(
    wapi: WriteApi, make_script: Maker, make_writer: Writer
) -> None:
    caller = make_writer(
        [
            {"component": "_table/todo", "verbs": ["GET"], "requestors": ["API"]},
            {"component": "_table/authors", "verbs": ["GET", "POST"], "requestors": ["SCRIPT"]},
        ]
    )
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        f"""
svc = {wapi.service!r}
created = platform.api.post(svc + "/_table/authors", {{"resource": [{{"name": "Le Guin"}}]}})
again = platform.api.get(svc + "/_table/todo")
event["response"]["content"] = {{
    "authors_post": created["status_code"],
    "todo_by_script": again["status_code"],
}}
""",
        allow_event_modification=True,
    )

    response = caller.get(TODO)

    assert body(response) == {"authors_post": 200, "todo_by_script": 404}
    assert wapi.rows("SELECT name FROM authors") == [("Le Guin",)]
    # The caller itself, over HTTP (requestor API), has no access to authors.
    assert caller.get("/_table/authors").status_code == 404


def test_platform_api_calls_are_in_the_audit_trail_as_script(
    wapi: WriteApi, make_script: Maker, make_writer: Writer
) -> None:
    caller = make_writer(
        [
            {"component": "_table/todo", "verbs": ["GET"], "requestors": ["API"]},
            {"component": "_table/authors", "verbs": ["GET"], "requestors": ["SCRIPT"]},
        ]
    )
    make_script(
        f"{wapi.service}._table.todo.get.pre_process",
        f"""
platform.api.get({wapi.service!r} + "/_table/authors", params={{"limit": 1}})
platform.api.get({wapi.service!r} + "/_table/todo")
""",
    )

    response = caller.call("GET", TODO, headers={"X-Request-Id": "scripted-call-1"})

    assert response.status_code == 200
    flush()
    records = AuditRecord.objects.filter(request_id="scripted-call-1").order_by("time", "pk")
    seen = [(r.requestor, r.method, r.path, r.table, r.status) for r in records]
    base = f"/api/v2/{wapi.service}/_table"
    # By start time: the caller's request, then the two calls its script made.
    assert seen == [
        ("API", "GET", f"{base}/todo", "todo", 200),
        ("SCRIPT", "GET", f"{base}/authors", "authors", 200),
        ("SCRIPT", "GET", f"{base}/todo", "todo", 404),  # SCRIPT may not read todo
    ]
    assert {r.app for r in records} == {records[0].app} != {""}


def test_platform_api_refuses_paths_outside_the_api(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        'event["response"]["content"] = platform.api.get("../admin/")',
        allow_event_modification=True,
    )
    content = body(wapi.get(TODO))
    assert content["status_code"] == 400
    assert content["content"]["error"]["message"].startswith("Give a path under /api/v2")


def test_session_shows_caller_and_lookups(
    wapi: WriteApi, make_script: Maker, make_writer: Writer
) -> None:
    caller = make_writer(
        [{"component": "_table/todo", "verbs": ["GET"]}],
        user_id=3101,
        lookups={"region": "eu"},
    )
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        """
s = platform.session
event["response"]["content"] = {
    "user": s["user"]["username"], "app": s["app"]["name"][:4],
    "role": s["role"]["name"][:5], "region": s["lookups"]["region"],
}
""",
        allow_event_modification=True,
    )
    assert body(caller.get(TODO)) == {
        "user": "user-3101",
        "app": "app-",
        "role": "role-",
        "region": "eu",
    }


def test_request_event_hides_credentials(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        'event["response"]["content"] = {"headers": sorted(event["request"]["headers"]), '
        '"parameters": event["request"]["parameters"]}',
        allow_event_modification=True,
    )
    content = body(wapi.get(TODO, api_key=wapi.key, limit=1))
    assert content["parameters"] == {"limit": "1"}
    assert not [name for name in content["headers"] if "key" in name.lower()]


def test_store_keeps_values_per_script_with_ttl(wapi: WriteApi, make_script: Maker) -> None:
    counter = """
n = (platform.store.get("n") or 0) + 1
platform.store.set("n", n, ttl=60)
event["response"]["content"] = {"n": n}
"""
    first = make_script(
        f"{wapi.service}._table.todo.get.post_process", counter, allow_event_modification=True
    )
    assert body(wapi.get(TODO)) == {"n": 1}
    assert body(wapi.get(TODO)) == {"n": 2}
    assert 0 < redis_client().ttl(cache.make_key(store_key(first.pk, "n"))) <= 60
    second = make_script(
        f"{wapi.service}._table.authors.get.post_process", counter, allow_event_modification=True
    )
    assert body(wapi.get("/_table/authors")) == {"n": 1}  # its own namespace
    assert cache.get(store_key(second.pk, "n")) == 1
    make_script(
        f"{wapi.service}._table.books.get.post_process",
        'platform.store.set("gone", 1)\nplatform.store.delete("gone")\n'
        'event["response"]["content"] = {"gone": platform.store.get("gone")}',
        allow_event_modification=True,
    )
    assert body(wapi.get("/_table/books")) == {"gone": None}


class Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = json.loads(self.rfile.read(length) or b"null")
        answer = json.dumps({"got": received, "agent": self.headers.get("User-Agent")}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


HTTP_SCRIPT = """
try:
    answer = platform.http.post({url!r}, json={{"hello": "world"}})
    event["response"]["content"] = {{"status": answer["status_code"], "content": answer["content"]}}
except PermissionError as error:
    event["response"]["content"] = {{"refused": str(error)}}
"""


def test_http_reaches_an_allowed_host(wapi: WriteApi, make_script: Maker, echo_server: int) -> None:
    ScriptHttpHost.objects.create(scheme="http", host="127.0.0.1", port=echo_server)
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        HTTP_SCRIPT.format(url=f"http://127.0.0.1:{echo_server}/hook"),
        allow_event_modification=True,
    )
    assert body(wapi.get(TODO)) == {
        "status": 201,
        "content": {"got": {"hello": "world"}, "agent": "Sluicegate-event-script"},
    }


def test_http_refuses_a_host_not_allowed(
    wapi: WriteApi, make_script: Maker, echo_server: int
) -> None:
    ScriptHttpHost.objects.create(scheme="http", host="127.0.0.1", port=echo_server + 1)
    url = f"http://127.0.0.1:{echo_server}/hook"
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        HTTP_SCRIPT.format(url=url),
        allow_event_modification=True,
    )
    content = body(wapi.get(TODO))
    assert "not allowed" in content["refused"]


def test_http_refusal_uncaught_is_a_script_error(
    wapi: WriteApi, make_script: Maker, echo_server: int
) -> None:
    make_script(
        f"{wapi.service}._table.todo.get.pre_process",
        f"platform.http.get('http://localhost:{echo_server}/')",
    )
    response = wapi.get(TODO)
    assert response.status_code == 500
    assert error_of(response)["message"].startswith("Script error: ")


def test_nested_calls_end_at_the_depth_limit(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        f"""
inner = platform.api.get({wapi.service!r} + "/_table/todo")["content"]
event["response"]["content"] = {{"level": inner.get("level", 0) + 1}}
""",
        allow_event_modification=True,
    )
    # Scripts fire at depths 0 and 1; the call nested two deep is answered without them.
    assert body(wapi.get(TODO)) == {"level": 2}


def test_hubspot_account_hosts_are_allowed_while_active(db: None) -> None:
    from services.scripting.state import current_scripts
    from sync.models import HubSpotAccount

    account = HubSpotAccount.objects.create(
        name="main", label="Main", token_encrypted="x", base_url=f"http://127.0.0.1:{PORT}"
    )
    assert current_scripts().host_allowed(f"http://127.0.0.1:{PORT}/crm/v3/objects")
    assert not current_scripts().host_allowed(f"https://127.0.0.1:{PORT}/")
    assert not current_scripts().host_allowed("http://127.0.0.1/")
    account.active = False
    account.save()
    assert not current_scripts().host_allowed(f"http://127.0.0.1:{PORT}/crm/v3/objects")


PORT = 8765
