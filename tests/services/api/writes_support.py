"""Fixtures of the write tests: a database of their own, a service on it, and clients.

Each test module binds the fixtures it uses (`wapi = writes_support.wapi`);
every test starts from empty tables (`writes_clean`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from django.test import Client

from services.models import Service
from tests.conftest import postgis_available, scratch_database
from tests.services.api.conftest import grant, make_service

SCHEMA = Path(__file__).parent / "writes_schema.sql"
# Children before parents. DELETE and resetting sequences is much quicker than
# TRUNCATE on tables this small.
TABLES = ("books", "authors", "todo", "all_types", "order_lines", "notes", "counters", "guarded")
RESET = "; ".join(
    [f"DELETE FROM {table}" for table in TABLES]  # noqa: S608 (fixed names of our own schema)
    + [
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)"
        for table in ("books", "authors", "todo", "all_types", "notes", "guarded")
    ]
)


# With PostGIS (CI installs it): a table of geometries, written as GeoJSON.
PLACES = (
    "CREATE EXTENSION IF NOT EXISTS postgis",
    "CREATE TABLE places (id serial PRIMARY KEY, shape geometry(Point, 4326),"
    " area geography(Polygon, 4326))",
)


@pytest.fixture(scope="session")
def writes_database(
    worker_suffix: str, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    with django_db_blocker.unblock():
        extra = PLACES if postgis_available() else ()
    statements = (SCHEMA.read_text(), *extra)
    with scratch_database(f"sg_test_writes_{worker_suffix}", django_db_blocker, statements) as name:
        yield name


def run_sql(database: str, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run `query` on the writes database directly (autocommit); its rows, if any."""
    from config.database import platform_conninfo

    with psycopg.connect(platform_conninfo(dbname=database), autocommit=True) as conn:
        cursor = conn.execute(query.encode(), params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def writes_clean(writes_database: str) -> str:
    run_sql(writes_database, RESET)
    return writes_database


@pytest.fixture
def writes_service(db: None, writes_clean: str, worker_suffix: str) -> Service:
    return make_service(f"writes-{worker_suffix}".replace("_", "-")[:60], writes_clean)


@dataclass
class WriteApi:
    """Calls one service's /api/v2 with an API key (and optionally a session)."""

    client: Client
    service: str
    key: str
    database: str
    token: str | None = None

    def call(
        self,
        verb: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        **params: Any,
    ) -> Any:
        url = f"/api/v2/{self.service}{path}"
        if params:
            url += "?" + urlencode(params)
        sent = {"X-API-Key": self.key, **(headers or {})}
        if self.token:
            sent["X-DreamFactory-Session-Token"] = self.token
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        return self.client.generic(
            verb, url, data=data, content_type="application/json", headers=sent
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("POST", path, body, **params)

    def put(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("PUT", path, body, **params)

    def patch(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("PATCH", path, body, **params)

    def delete(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("DELETE", path, body, **params)

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return run_sql(self.database, query, params)


def body(response: Any) -> Any:
    """The response's JSON, numbers with every digit."""
    return json.loads(response.content, parse_float=Decimal)


def error_of(response: Any) -> dict[str, Any]:
    """The `error` object of an error answer."""
    error: dict[str, Any] = body(response)["error"]
    return error


@pytest.fixture
def wapi(client: Client, admin_key: str, writes_service: Service) -> WriteApi:
    """An admin's client on a service whose tables are empty."""
    return WriteApi(client, writes_service.name, admin_key, writes_service.database)


@pytest.fixture
def make_writer(client: Client, writes_service: Service) -> Callable[..., WriteApi]:
    """Build a role from rule specs, an app with it as default role, and a client.

    `user_id` creates a user with that id whose session the client also sends;
    `lookups` become that user's lookups.
    """

    def build(
        rules: Sequence[dict[str, Any]],
        *,
        user_id: int | None = None,
        lookups: dict[str, str] | None = None,
    ) -> WriteApi:
        granted = grant(writes_service, rules, user_id=user_id, lookups=lookups)
        return WriteApi(
            client, writes_service.name, granted.key, writes_service.database, granted.token
        )

    return build
