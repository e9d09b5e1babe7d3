"""Services that assume PostgreSQL roles: row-level security in the database applies on top."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.test import Client
from psycopg import sql

from config.database import platform_conninfo
from rbac.models import Role
from rbac.sessions import issue_session
from services.api.registry import forget_services
from services.models import Service
from tests.rbac.enforcement.conftest import OWNER_ADA, Caller

# Visits of one's own patients only, decided by PostgreSQL from the claims.
POLICY = """
CREATE POLICY own_visits ON visits TO {role} USING (
    patient_id IN (
        SELECT id FROM patients
        WHERE owner_id = (nullif(current_setting('request.claims', true), '')::jsonb->>'user_id')::int
    )
)
"""


def run(database: str, *statements: str) -> None:
    with psycopg.connect(platform_conninfo(dbname=database), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


@pytest.fixture
def pg_role(clinic_database: str, worker_suffix: str) -> Iterator[str]:
    role = f"sg_clinic_reader_{worker_suffix}"[:63]
    run(
        clinic_database,
        "DROP POLICY IF EXISTS own_visits ON visits",
        f"DROP ROLE IF EXISTS {role}",
        f"CREATE ROLE {role} NOLOGIN",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        "ALTER TABLE visits ENABLE ROW LEVEL SECURITY",
        POLICY.format(role=role),
    )
    yield role
    run(
        clinic_database,
        "DROP POLICY own_visits ON visits",
        "ALTER TABLE visits DISABLE ROW LEVEL SECURITY",
        f"DROP OWNED BY {role}",
        f"DROP ROLE {role}",
    )


@pytest.fixture
def assuming(clinic: Service, pg_role: str) -> Service:
    clinic.assume_roles = True
    clinic.save()
    forget_services()
    return clinic


def visit_ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["resource"])


def test_rls_narrows_what_the_role_reads(
    make_caller: Callable[..., Caller], assuming: Service, pg_role: str
) -> None:
    caller = make_caller([{"component": "*", "verbs": ["GET"]}], user_id=OWNER_ADA)
    Role.objects.update(pg_role=pg_role)
    assert visit_ids(caller.table("visits")) == [1, 2]
    assert caller.table("visits", count_only="true").json() == 2
    export = caller.table("visits", file="v.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(int(row["id"]) for row in rows) == [1, 2]


def test_sluicegates_own_row_filter_still_applies(
    make_caller: Callable[..., Caller], assuming: Service, pg_role: str
) -> None:
    caller = make_caller(
        [{"component": "*", "verbs": ["GET"], "row_filter": "note = 'flu'"}], user_id=OWNER_ADA
    )
    Role.objects.update(pg_role=pg_role)
    assert visit_ids(caller.table("visits")) == [2]


def test_without_assume_roles_the_service_user_reads_everything(
    make_caller: Callable[..., Caller], clinic: Service, pg_role: str
) -> None:
    caller = make_caller([{"component": "*", "verbs": ["GET"]}], user_id=OWNER_ADA)
    Role.objects.update(pg_role=pg_role)
    assert visit_ids(caller.table("visits")) == [1, 2, 3, 4, 5]


def test_the_role_does_not_outlive_the_request(
    make_caller: Callable[..., Caller], assuming: Service, pg_role: str, client: Client
) -> None:
    caller = make_caller([{"component": "*", "verbs": ["GET"]}], user_id=OWNER_ADA)
    Role.objects.update(pg_role=pg_role)
    for _ in range(3):
        assert visit_ids(caller.table("visits")) == [1, 2]
    admin = User.objects.create_superuser("dba", "dba@example.com", "pw-1")
    token = issue_session(user_id=admin.pk, app_id=None)[0]
    response = client.get(
        f"/api/v2/{assuming.name}/_table/visits",
        headers={"X-DreamFactory-Session-Token": token},
    )
    # Superusers run as the service's own user (here a superuser, so RLS is bypassed).
    assert visit_ids(response) == [1, 2, 3, 4, 5]


def test_an_assumed_role_granted_some_columns_pages_through_them(
    make_caller: Callable[..., Caller], assuming: Service, pg_role: str, clinic_database: str
) -> None:
    # PostgREST-style column grants: the role may not read ssn at all.
    role = sql.Identifier(pg_role)
    run(
        clinic_database,
        sql.SQL("REVOKE SELECT ON patients FROM {}").format(role).as_string(None),
        sql.SQL("GRANT SELECT (id, owner_id, name, score) ON patients TO {}")
        .format(role)
        .as_string(None),
    )
    columns = ["id", "owner_id", "name", "score"]
    caller = make_caller(
        [{"component": "*", "verbs": ["GET"], "readable_columns": columns}], user_id=OWNER_ADA
    )
    Role.objects.update(pg_role=pg_role)
    response = caller.table("patients", order="id", limit="2", offset="1")
    assert response.status_code == 200, response.content
    assert response.json()["resource"] == [
        {"id": 2, "owner_id": 1001, "name": "Amir", "score": 20},
        {"id": 3, "owner_id": 1001, "name": "Anna", "score": 30},
    ]
