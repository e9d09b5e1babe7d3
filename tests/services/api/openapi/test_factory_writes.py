"""The factory viewsets' write actions write exactly as the table routes do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.database import platform_conninfo
from rbac.policies import Principal
from rbac.state import UserInfo
from services.api.access import bind_access
from services.api.errors import ApiError
from services.api.factory import TableViewSet, viewset_for
from services.api.registry import service_config
from services.api.writes import WriteContext
from services.models import Service
from services.schema_cache import refresh_snapshot

pytestmark = pytest.mark.django_db

TABLE = "factory_probe"
ADMIN = Principal(
    user=UserInfo(1, "admin", "admin@example.com", "", "", is_active=True, is_superuser=True),
    app=None,
    role=None,
)


def rows(database: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(platform_conninfo(dbname=database)) as conn:
        query = sql.SQL("SELECT id, label FROM {} ORDER BY id").format(sql.Identifier(TABLE))
        return conn.execute(query).fetchall()


@pytest.fixture
def probe(target_database: str, target_service: Service) -> Iterator[str]:
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}".encode())
        conn.execute(f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, label text NOT NULL)".encode())
    yield target_database
    with psycopg.connect(platform_conninfo(dbname=target_database), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}".encode())
    refresh_snapshot(target_service.config())  # later tests see the database as it is


def viewset(service: Service, verb: str, action: str) -> TableViewSet:
    config = service_config(service.name)
    assert config is not None
    snapshot = refresh_snapshot(config)
    table = snapshot.table(TABLE)
    assert table is not None
    access = bind_access(ADMIN, config.name, snapshot)
    found = viewset_for(config.name, snapshot.version, table)()
    found.action = action
    found.write_context = WriteContext(
        config=config,
        snapshot=snapshot,
        table=table,
        access=access,
        principal=ADMIN,
        verb=verb,
        policy=access.policy_for(table, verb),  # type: ignore[arg-type]
        read_policy=access.policy_for(table, "GET"),
    )
    return found


def request(method: str, body: Any = None, **query: str) -> Request:
    make = getattr(APIRequestFactory(), method)
    raw = make(
        "/probe",
        data=json.dumps(body) if body is not None else "",
        QUERY_STRING="&".join(f"{k}={v}" for k, v in query.items()),
        content_type="application/json",
    )
    return Request(raw, parsers=[JSONParser()])


def test_create_update_and_destroy_actions_write(probe: str, target_service: Service) -> None:
    created = viewset(target_service, "POST", "create").create(
        request("post", {"resource": [{"label": "a"}, {"label": "b"}]})
    )
    assert created.status_code == 200
    assert json.loads(created.content) == {"resource": [{"id": 1}, {"id": 2}]}
    assert rows(probe) == [(1, "a"), (2, "b")]

    patched = viewset(target_service, "PATCH", "partial_update").partial_update(
        request("patch", {"label": "c"}, fields="*"), pk="2"
    )
    assert json.loads(patched.content) == {"id": 2, "label": "c"}
    replaced = viewset(target_service, "PUT", "update").update(
        request("put", {"label": "z"}, ids="1")
    )
    assert json.loads(replaced.content) == {"resource": [{"id": 1}]}
    assert rows(probe) == [(1, "z"), (2, "c")]

    deleted = viewset(target_service, "DELETE", "destroy").destroy(request("delete"), pk="1")
    assert json.loads(deleted.content) == {"id": 1}
    assert rows(probe) == [(2, "c")]


def test_an_action_run_with_another_verbs_context_is_refused(
    probe: str, target_service: Service
) -> None:
    found = viewset(target_service, "GET", "create")
    with pytest.raises(ApiError) as refused:
        found.create(request("post", [{"label": "x"}]))
    assert refused.value.status == 405
    assert rows(probe) == []
