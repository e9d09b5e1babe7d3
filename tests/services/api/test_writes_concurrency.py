"""Concurrent writes from two clients: no update is lost, no race answers 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.test import Client

from config.database import platform_conninfo
from tests.services.api import writes_support
from tests.services.api.writes_support import WriteApi, body

writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi

# The HTTP calls run in threads with their own platform connections, which
# must see the service and the key: commit them.
pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        finally:
            from django.db import connections

            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def other_client(api: WriteApi) -> WriteApi:
    return WriteApi(Client(), api.service, api.key, api.database)


def test_two_patches_of_different_fields_both_land(wapi: WriteApi) -> None:
    wapi.post("/_table/counters", [{"id": 1}])
    first, second = other_client(wapi), other_client(wapi)
    with psycopg.connect(platform_conninfo(dbname=wapi.database)) as blocker:
        # Hold the row so both PATCHes queue behind the same lock.
        blocker.execute("SELECT * FROM counters WHERE id = 1 FOR UPDATE")
        a, a_out = in_thread(lambda: first.patch("/_table/counters/1", {"a": 5}))
        b, b_out = in_thread(lambda: second.patch("/_table/counters/1", {"b": 7}))
        time.sleep(0.5)
        blocker.commit()
    a.join(10)
    b.join(10)
    assert [response.status_code for response in a_out + b_out] == [200, 200]
    assert wapi.rows("SELECT a, b FROM counters") == [(5, 7)]


def test_a_filter_update_racing_a_delete_is_no_error(wapi: WriteApi) -> None:
    wapi.post("/_table/todo", [{"name": "doomed"}, {"name": "kept"}])
    updater = other_client(wapi)
    with psycopg.connect(platform_conninfo(dbname=wapi.database)) as deleter:
        deleter.execute("DELETE FROM todo WHERE name = 'doomed'")
        thread, out = in_thread(
            lambda: updater.patch("/_table/todo", {"complete": True}, filter="id > 0")
        )
        time.sleep(0.5)
        deleter.commit()
    thread.join(10)
    assert out[0].status_code == 200, out[0].content
    assert body(out[0]) == {"resource": [{"id": 2}]}
    assert wapi.rows("SELECT name, complete FROM todo") == [("kept", True)]


def test_an_update_by_id_racing_a_delete_is_not_found(wapi: WriteApi) -> None:
    wapi.post("/_table/todo", [{"name": "doomed"}])
    updater = other_client(wapi)
    with psycopg.connect(platform_conninfo(dbname=wapi.database)) as deleter:
        deleter.execute("DELETE FROM todo WHERE id = 1")
        thread, out = in_thread(lambda: updater.patch("/_table/todo/1", {"complete": True}))
        time.sleep(0.5)
        deleter.commit()
    thread.join(10)
    assert out[0].status_code == 404
