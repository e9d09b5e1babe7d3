"""`_spec` follows the database and the roles: no restart, no stale document."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.test import Client

from config.database import platform_conninfo
from rbac.models import AccessRule
from services.models import Service
from services.schema_cache import refresh_snapshot
from tests.services.api.conftest import Api, grant
from tests.services.api.openapi.support import properties, spec

pytestmark = pytest.mark.django_db

PROBE = "spec_probe"


def execute(database: str, statement: str) -> None:
    with psycopg.connect(platform_conninfo(dbname=database), autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.fixture
def probe_table(target_database: str, target_service: Service) -> Iterator[str]:
    execute(target_database, f"DROP TABLE IF EXISTS {PROBE}")
    yield PROBE
    execute(target_database, f"DROP TABLE IF EXISTS {PROBE}")
    refresh_snapshot(target_service.config())  # later tests see the database as it is


def test_a_new_table_and_column_appear_after_a_refresh(
    client: Client, api: Api, target_database: str, probe_table: str
) -> None:
    before = spec(client, api.service, api.key)
    assert f"/_table/{probe_table}" not in before["paths"]

    execute(target_database, f"CREATE TABLE {probe_table} (id serial PRIMARY KEY, label text)")
    assert api.get("/_table", refresh="true").status_code == 200
    added = spec(client, api.service, api.key)
    assert set(added["paths"][f"/_table/{probe_table}"]) == {
        "get",
        "post",
        "put",
        "patch",
        "delete",
    }
    assert set(properties(added, "SpecProbeRecord")) == {"id", "label"}
    assert added["info"]["version"] != before["info"]["version"]

    execute(target_database, f"ALTER TABLE {probe_table} ADD COLUMN weight numeric(5, 1)")
    assert api.get("/_table", refresh="true").status_code == 200
    widened = spec(client, api.service, api.key)
    weight = properties(widened, "SpecProbeRecord")["weight"]
    assert weight["type"] == ["number", "null"]
    assert weight["exclusiveMaximum"] == 10**4


def test_a_role_change_shows_in_the_next_document(client: Client, demo_service: Service) -> None:
    credentials = grant(demo_service, [{"component": "_table/contacts", "verbs": ["GET"]}])
    first = spec(client, demo_service.name, credentials.key)
    assert set(first["paths"]["/_table/contacts"]) == {"get"}
    assert "email" in properties(first, "ContactsRecord")

    rule = AccessRule.objects.get(service=demo_service, component="_table/contacts")
    rule.verbs = ["GET", "POST"]
    rule.readable_columns = ["id", "first_name"]
    rule.save()
    second = spec(client, demo_service.name, credentials.key)
    assert set(second["paths"]["/_table/contacts"]) == {"get", "post"}
    columns = {name for name in properties(second, "ContactsRecord") if "_by_" not in name}
    assert columns == {"id", "first_name"}

    rule.delete()
    response = client.get(
        f"/api/v2/{demo_service.name}/_spec", headers={"X-API-Key": credentials.key}
    )
    assert response.status_code == 404  # the role no longer reaches the service
