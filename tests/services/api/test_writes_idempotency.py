"""`Idempotency-Key` on table writes: retries replay the first answer and write nothing again."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connections
from django.test import Client

from config.database import platform_conninfo
from rbac.policies import Principal
from rbac.state import UserInfo
from services.api import idempotency, views
from services.api.errors import ApiError
from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body, error_of

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi
make_writer = writes_support.make_writer

TODO = "/_table/todo"
REPLAYED = "Idempotent-Replayed"
IN_FLIGHT = "A request with this Idempotency-Key is still being processed."


def new_key() -> str:
    """A key no other test (or parallel worker sharing Redis) uses."""
    return f"test-{uuid.uuid4()}"


def keyed(api: WriteApi, verb: str, path: str, data: Any = None, *, key: str, **params: Any) -> Any:
    return api.call(verb, path, data, headers={"Idempotency-Key": key}, **params)


def todo_count(api: WriteApi) -> int:
    count: int = api.rows("SELECT count(*) FROM todo")[0][0]
    return count


def admin_lock_key(key: str) -> str:
    """The in-flight lock's cache key for `key` under the `wapi` fixture's admin key."""
    user = User.objects.get(username="api-admin")
    info = UserInfo(
        id=user.pk,
        username=user.username,
        email=user.email,
        first_name="",
        last_name="",
        is_active=True,
        is_superuser=True,
    )
    return idempotency.cache_keys(Principal(user=info, app=None, role=None), key)[1]


def test_a_retried_create_replays_the_first_answer_and_writes_nothing(wapi: WriteApi) -> None:
    key = new_key()
    records = {"resource": [{"name": "a"}, {"name": "b"}]}
    first = keyed(wapi, "POST", TODO, records, key=key, fields="*")
    assert first.status_code == 200, first.content
    assert REPLAYED not in first
    again = keyed(wapi, "POST", TODO, records, key=key, fields="*")
    assert again.status_code == 200
    assert again[REPLAYED] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert todo_count(wapi) == 2


def test_requests_without_a_key_are_not_deduplicated(wapi: WriteApi) -> None:
    wapi.post(TODO, [{"name": "a"}], fields="*")
    response = wapi.post(TODO, [{"name": "b"}], fields="*")
    assert REPLAYED not in response
    assert todo_count(wapi) == 2


def test_a_retried_delete_replays_its_success_instead_of_not_found(wapi: WriteApi) -> None:
    wapi.post(TODO, [{"name": "a"}])
    key = new_key()
    first = keyed(wapi, "DELETE", f"{TODO}/1", key=key)
    assert body(first) == {"id": 1}
    again = keyed(wapi, "DELETE", f"{TODO}/1", key=key)
    assert (again.status_code, body(again), again[REPLAYED]) == (200, {"id": 1}, "true")
    assert wapi.delete(f"{TODO}/1").status_code == 404


@pytest.mark.parametrize(
    ("verb", "path", "data", "params", "headers"),
    [
        ("POST", TODO, [{"name": "b"}], {}, {}),  # another body
        ("POST", TODO, [{"name": "a"}], {"fields": "*"}, {}),  # another query
        ("POST", "/_table/notes", [{"name": "a"}], {}, {}),  # another path
        ("PATCH", TODO, [{"name": "a"}], {}, {}),  # another method
        ("POST", TODO, [{"name": "a"}], {}, {"X-HTTP-Method": "PATCH"}),  # a tunnelled one
    ],
)
def test_a_key_reused_for_another_request_is_422(
    wapi: WriteApi,
    verb: str,
    path: str,
    data: Any,
    params: dict[str, Any],
    headers: dict[str, str],
) -> None:
    key = new_key()
    assert keyed(wapi, "POST", TODO, [{"name": "a"}], key=key).status_code == 200
    response = wapi.call(verb, path, data, headers={"Idempotency-Key": key, **headers}, **params)
    assert response.status_code == 422
    assert error_of(response) == {
        "code": 422,
        "message": f"Idempotency-Key '{key}' was already used with a different request.",
        "status_code": 422,
        "context": None,
        "request_id": response["X-Request-Id"],
    }
    assert todo_count(wapi) == 1


def test_the_query_string_order_does_not_matter(wapi: WriteApi) -> None:
    key = new_key()
    records = [{"name": "a"}]
    first = wapi.call(
        "POST", f"{TODO}?fields=name&as_list=false", records, headers={"Idempotency-Key": key}
    )
    again = wapi.call(
        "POST", f"{TODO}?as_list=false&fields=name", records, headers={"Idempotency-Key": key}
    )
    assert again[REPLAYED] == "true"
    assert again.content == first.content
    assert todo_count(wapi) == 1


def test_the_same_key_in_two_apps_is_two_requests(
    make_writer: Callable[..., WriteApi],
) -> None:
    rules = [{"component": "_table/todo", "verbs": ["GET", "POST"]}]
    first, second = make_writer(rules), make_writer(rules)
    key = new_key()
    one = keyed(first, "POST", TODO, [{"name": "a"}], key=key)
    two = keyed(second, "POST", TODO, [{"name": "b"}], key=key)
    assert (one.status_code, two.status_code) == (200, 200)
    assert REPLAYED not in two
    assert body(one) != body(two)
    assert todo_count(first) == 2


def test_a_client_error_is_stored_and_replayed(wapi: WriteApi) -> None:
    key = new_key()
    first = keyed(wapi, "POST", TODO, {"name": "lonely"}, key=key)
    assert first.status_code == 400
    again = keyed(wapi, "POST", TODO, {"name": "lonely"}, key=key)
    assert (again.status_code, again[REPLAYED]) == (400, "true")
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert error_of(again)["message"].startswith("No record(s) detected in request.")
    plain = wapi.post(TODO, {"name": "lonely"})  # the same answer as without a key
    assert plain["Content-Type"] == first["Content-Type"]
    # The same answer, but for the id of the request that answered it.
    assert {**error_of(plain), "request_id": 0} == {**error_of(first), "request_id": 0}


@pytest.mark.parametrize("status", [409, 429, 503])
def test_conflicts_rate_limits_and_server_errors_are_not_stored(
    wapi: WriteApi, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    def failing(*args: object) -> Any:
        raise ApiError(status, "Try again.")

    key = new_key()
    with monkeypatch.context() as patched:
        patched.setattr(views, "write_records", failing)
        assert keyed(wapi, "POST", TODO, [{"name": "a"}], key=key).status_code == status
    retried = keyed(wapi, "POST", TODO, [{"name": "a"}], key=key)
    assert retried.status_code == 200
    assert REPLAYED not in retried
    assert todo_count(wapi) == 1


def test_a_key_still_in_flight_is_409_and_runs_nothing(wapi: WriteApi) -> None:
    key = new_key()
    lock = admin_lock_key(key)
    cache.set(lock, "another request", timeout=30)
    try:
        response = keyed(wapi, "POST", TODO, [{"name": "a"}], key=key)
    finally:
        cache.delete(lock)
    assert response.status_code == 409
    assert error_of(response)["message"] == IN_FLIGHT
    assert todo_count(wapi) == 0
    # The 409 was not stored: the retry runs.
    assert keyed(wapi, "POST", TODO, [{"name": "a"}], key=key).status_code == 200
    assert todo_count(wapi) == 1


@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_racing_write_once(wapi: WriteApi) -> None:
    key = new_key()
    lock = admin_lock_key(key)
    first = WriteApi(Client(), wapi.service, wapi.key, wapi.database)
    answers: list[Any] = []

    def send() -> None:
        try:
            answers.append(keyed(first, "POST", TODO, [{"name": "a"}], key=key))
        finally:
            connections.close_all()

    with psycopg.connect(platform_conninfo(dbname=wapi.database)) as blocker:
        # Hold the table so the first request waits inside its write, key locked.
        blocker.execute("LOCK TABLE todo IN EXCLUSIVE MODE")
        thread = threading.Thread(target=send)
        thread.start()
        deadline = time.monotonic() + 5
        while cache.get(lock) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cache.get(lock) is not None
        racing = keyed(wapi, "POST", TODO, [{"name": "a"}], key=key)
        blocker.commit()
    thread.join(10)
    assert racing.status_code == 409
    assert error_of(racing)["message"] == IN_FLIGHT
    assert [answer.status_code for answer in answers] == [200]
    assert todo_count(wapi) == 1
    replayed = keyed(wapi, "POST", TODO, [{"name": "a"}], key=key)
    assert replayed[REPLAYED] == "true"
    assert replayed.content == answers[0].content
    assert cache.get(lock) is None


def test_an_answer_is_forgotten_after_the_configured_time(wapi: WriteApi, settings: Any) -> None:
    settings.SLUICEGATE_IDEMPOTENCY_SECONDS = 1
    key = new_key()
    records = [{"name": "a"}, {"name": "b"}]
    keyed(wapi, "POST", TODO, records, key=key, rollback="true")
    assert keyed(wapi, "POST", TODO, records, key=key, rollback="true")[REPLAYED] == "true"
    time.sleep(1.1)
    # Run again: the names are taken now, so the whole batch fails and rolls back.
    later = keyed(wapi, "POST", TODO, records, key=key, rollback="true")
    assert later.status_code == 400
    assert REPLAYED not in later
    assert todo_count(wapi) == 2


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there", "caf\u00e9", "bell\x07"])
def test_a_malformed_key_is_400_and_writes_nothing(wapi: WriteApi, key: str) -> None:
    response = keyed(wapi, "POST", TODO, [{"name": "a"}], key=key)
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Idempotency-Key must be 1 to 255 printable ASCII characters."
    )
    assert todo_count(wapi) == 0


def test_the_longest_key_and_every_printable_character_are_accepted(wapi: WriteApi) -> None:
    printable = "".join(chr(code) for code in range(0x20, 0x7F))
    for name, key in (("a", (new_key() + "k" * 255)[:255]), ("b", printable + new_key())):
        first = keyed(wapi, "POST", TODO, [{"name": name}], key=key)
        assert first.status_code == 200, first.content
    assert todo_count(wapi) == 2


def test_an_over_size_body_is_413_before_the_key_is_looked_at(
    wapi: WriteApi, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    records = [{"name": f"name {i}"} for i in range(100)]
    assert keyed(wapi, "POST", TODO, records, key="").status_code == 413
