import stat
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from pytest_django.fixtures import Settings

from config.database import platform_conninfo
from services.demo import load_demo

pytestmark = pytest.mark.django_db


def query(dbname: str, statement: str, params: list[object] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(platform_conninfo(dbname=dbname)) as conn:
        return conn.execute(statement.encode(), params).fetchall()


def column_types(dbname: str, table: str) -> dict[str, str]:
    rows = query(
        dbname,
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a WHERE a.attrelid = %s::regclass
            AND a.attnum > 0 AND NOT a.attisdropped""",
        [f"public.{table}"],
    )
    return {str(name): str(kind) for name, kind in rows}


def test_loading_twice_keeps_the_same_rows(demo_database: str) -> None:
    before = query(
        demo_database, "SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM contacts c"
    )
    again = load_demo(demo_database)
    assert again.loaded is False
    assert again.counts == {
        "companies": 500,
        "contacts": 10_000,
        "deals": 4_000,
        "segments": 12,
        "contact_segments": again.counts["contact_segments"],
    }
    assert again.counts["contact_segments"] > 10_000
    assert (
        query(demo_database, "SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM contacts c")
        == before
    )


def test_reset_rebuilds_identical_rows(worker_suffix: str) -> None:
    from services.demo import drop_database

    name = f"sg_test_demo_reset_{worker_suffix}"
    checksum = "SELECT md5(string_agg(d::text, '|' ORDER BY id)) FROM deals d"
    try:
        first = load_demo(name)
        digest = query(name, checksum)
        query(name, "DELETE FROM contact_segments RETURNING 1")
        second = load_demo(name, reset=True)
        assert second.loaded is True
        assert second.counts == first.counts
        assert query(name, checksum) == digest
    finally:
        drop_database(name)


def test_contacts_have_the_documented_types(demo_database: str) -> None:
    types = column_types(demo_database, "contacts")
    assert types["external_id"] == "uuid"
    assert types["tags"] == "text[]"
    assert types["attributes"] == "jsonb"
    assert types["status"] == "contact_status"
    assert types["lifetime_value"] == "numeric(12,2)"
    assert types["created_at"] == types["updated_at"] == "timestamp with time zone"
    assert types["birthday"] == "date"
    labels = query(demo_database, "SELECT enum_range(NULL::contact_status)::text")
    assert labels == [("{lead,prospect,customer,churned}",)]


def test_contact_emails_are_unique_and_lower_case(demo_database: str) -> None:
    assert query(demo_database, "SELECT count(*) FROM contacts WHERE email <> lower(email)") == [
        (0,)
    ]
    with pytest.raises(psycopg.errors.UniqueViolation):
        query(
            demo_database,
            "INSERT INTO contacts (email, first_name, last_name) "
            "SELECT email, 'x', 'y' FROM contacts WHERE id = 1",
        )
    with pytest.raises(psycopg.errors.CheckViolation):
        query(
            demo_database,
            "INSERT INTO contacts (email, first_name, last_name) VALUES ('UP@X.ORG', 'x', 'y')",
        )


def test_relations_view_functions_and_procedure_exist(demo_database: str) -> None:
    fks = query(
        demo_database,
        """SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
           WHERE contype = 'f' ORDER BY 1, 2""",
    )
    assert fks == [
        ("contact_segments", "contacts"),
        ("contact_segments", "segments"),
        ("contacts", "companies"),
        ("deals", "companies"),
        ("deals", "contacts"),
    ]
    assert column_types(demo_database, "deals")["stage"] == "deal_stage"
    assert query(demo_database, "SELECT count(*) > 0 FROM active_contacts") == [(True,)]
    assert query(
        demo_database, "SELECT count(*) FROM active_contacts WHERE status = 'churned'"
    ) == [(0,)]
    top = query(demo_database, "SELECT company_id, won_amount FROM top_companies(3)")
    assert len(top) == 3
    assert query(demo_database, "SELECT company_won_amount(%s)", [top[0][0]]) == [(top[0][1],)]
    assert query(demo_database, "SELECT count(*) FROM company_revenue") == [(500,)]
    kinds = dict(
        query(
            demo_database,
            "SELECT proname::text, prokind::text FROM pg_proc WHERE proname IN ('close_deal', 'top_companies')",
        )
    )
    assert kinds == {"close_deal": "p", "top_companies": "f"}


def test_updated_at_trigger_moves_on_update(demo_database: str) -> None:
    rows = query(
        demo_database,
        """WITH before AS (SELECT updated_at FROM contacts WHERE id = 2)
           UPDATE contacts SET job_title = 'CFO' WHERE id = 2
           RETURNING updated_at > (SELECT updated_at FROM before)""",
    )
    assert rows == [(True,)]


def test_postgis_location_when_the_extension_is_available(demo_database: str) -> None:
    available = query(
        demo_database, "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
    )
    types = column_types(demo_database, "companies")
    if available == [(1,)]:
        assert types["location"] == "geography(Point,4326)"
        assert query(demo_database, "SELECT count(*) FROM companies WHERE location IS NULL") == [
            (0,)
        ]
    else:
        assert "location" not in types


def test_demo_command_creates_the_admin_with_the_stored_password(
    settings: Settings, tmp_path: Path, demo_database: str
) -> None:
    settings.SLUICEGATE_DATA_DIR = tmp_path
    call_command("demo", database=demo_database)
    password = (tmp_path / "admin_password").read_text().strip()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(password)
    assert len(password) >= 40

    call_command("demo", database=demo_database)  # second run: same user, same password
    assert get_user_model().objects.filter(username="admin").count() == 1
    assert (tmp_path / "admin_password").read_text().strip() == password


def test_demo_api_key_reads_demo_rows_and_survives_a_second_run(
    settings: Settings, tmp_path: Path, demo_database: str, client: Client
) -> None:
    settings.SLUICEGATE_DATA_DIR = tmp_path
    call_command("demo", database=demo_database)
    key_file = tmp_path / "demo_api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    response = client.get(
        "/api/v2/demo/_table/contacts",
        {"limit": "3", "fields": "id,email,status"},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 200
    rows = response.json()["resource"]
    assert [row["id"] for row in rows] == [1, 2, 3]
    assert set(rows[0]) == {"id", "email", "status"}

    call_command("demo", database=demo_database)
    assert key_file.read_text().strip() == key  # still valid, so kept


def test_demo_app_key_reads_through_the_demo_role(
    settings: Settings, tmp_path: Path, demo_database: str, client: Client
) -> None:
    settings.SLUICEGATE_DATA_DIR = tmp_path
    call_command("demo", database=demo_database)
    key = (tmp_path / "demo_app_key").read_text().strip()
    headers = {"X-API-Key": key}
    contacts = client.get("/api/v2/demo/_table/contacts", {"limit": "500"}, headers=headers)
    assert contacts.status_code == 200
    rows = contacts.json()["resource"]
    assert rows
    assert "phone" not in rows[0]
    assert "birthday" not in rows[0]
    assert {row["status"] for row in rows} <= {"lead", "prospect", "customer"}
    hidden = client.get("/api/v2/demo/_table/contacts", {"fields": "phone"}, headers=headers)
    assert hidden.status_code == 400
    assert client.get("/api/v2/demo/_table/deals", headers=headers).status_code == 200

    call_command("demo", database=demo_database)
    assert (tmp_path / "demo_app_key").read_text().strip() == key  # still valid, so kept
