"""Saving a sync job in the admin checks it against its table and HubSpot's properties.

The table is a real one (a scratch database with the shapes a job meets);
the properties are read from the HubSpot simulator through the client. Each
mistake must come back as a form error on the field to fix, and an
unreachable HubSpot or database as a clean form error, never a 500.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from services.models import Service
from sync.forms import forget_properties
from sync.hubspot.simulator import Simulator
from sync.hubspot.types import PropertyCreate
from sync.models import FieldMappingRow, HubSpotAccount, SyncJob
from tests.conftest import scratch_database

pytestmark = pytest.mark.django_db

TARGET_SQL = """
CREATE TYPE lead_state AS ENUM ('NEW', 'OPEN', 'weird');
CREATE TYPE stage AS ENUM ('lead', 'customer');
CREATE TABLE people (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    first_name text,
    last_name text,
    full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
    born date,
    signed_up timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    lead lead_state,
    stage stage,
    tags text[],
    score integer,
    vip boolean,
    member_no text,
    note jsonb,
    hubspot_id text,
    synced_at timestamptz,
    sync_status text,
    sync_error text
);
CREATE SCHEMA crm;
CREATE TABLE crm.pets (tag text PRIMARY KEY, name text, species text);
"""


# --- fixtures (also used by test_admin) ---


@pytest.fixture(scope="module")
def sync_target(worker_suffix: str, django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """A database of this module's own holding the tables the jobs sync."""
    name = f"sg_test_syncforms_{worker_suffix}"
    with scratch_database(name, django_db_blocker, [TARGET_SQL]) as database:
        yield database


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    """pytest-django's admin, without a password to hash (the client logs in directly)."""
    return django_user_model.objects.create_superuser("admin", "admin@example.com", password=None)


@pytest.fixture(autouse=True)
def _no_cached_properties() -> Iterator[None]:
    forget_properties()
    yield
    forget_properties()


@pytest.fixture
def target_service(sync_target: str) -> Service:
    """A service serving the target database (schemas public and crm)."""
    db = settings.DATABASES["default"]
    service = Service(
        name="crm",
        label="CRM",
        host=str(db.get("HOST") or "localhost"),
        port=int(db.get("PORT") or 5432),
        database=sync_target,
        username=str(db.get("USER") or "postgres"),
        schemas="public,crm",
    )
    service.set_password(str(db.get("PASSWORD") or "unused"))
    service.save()
    return service


@pytest.fixture
def sim_account(hubspot_simulator: Simulator) -> HubSpotAccount:
    """An account on the simulator, with the simulator's token."""
    account = HubSpotAccount(name="sim", label="Simulator", base_url=hubspot_simulator.base_url)
    account.set_token(hubspot_simulator.token)
    account.save()
    return account


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def job_data(account: HubSpotAccount, service: Service, mappings: list[dict[str, str]] | None = None,
             **overrides: str) -> dict[str, str]:  # fmt: skip
    """The add form's POST data: a valid contacts push, with `mappings` inline."""
    data = {
        "name": "people-to-contacts",
        "label": "People",
        "enabled": "on",
        "account": str(account.pk),
        "service": str(service.pk),
        "table": "people",
        "object_type": "contacts",
        "direction": "push",
        "mode": "upsert",
        "match_column": "email",
        "match_property": "email",
        "watermark_column": "updated_at",
        "conflict_policy": "newest",
        "writeback_id_column": "hubspot_id",
        "writeback_synced_at_column": "synced_at",
        "writeback_status_column": "sync_status",
        "writeback_error_column": "sync_error",
        "interval_seconds": "",
        "crontab": "",
        "max_deletions": "100",
        "error_threshold": "0",
        "_save": "Save",
    }
    data.update(overrides)
    rows = mappings if mappings is not None else []
    data.update(
        {
            "mappings-TOTAL_FORMS": str(len(rows)),
            "mappings-INITIAL_FORMS": "0",
            "mappings-MIN_NUM_FORMS": "0",
            "mappings-MAX_NUM_FORMS": "1000",
            "associations-TOTAL_FORMS": "0",
            "associations-INITIAL_FORMS": "0",
        }
    )
    for index, row in enumerate(rows):
        values = {
            "position": str(index),
            "transform": "",
            "options": "{}",
            "direction": "push",
            **row,
        }
        data.update({f"mappings-{index}-{key}": value for key, value in values.items()})
    return data


GOOD_MAPPINGS = [
    {"column": "email", "property": "email", "transform": "lowercase_trim"},
    {"column": "first_name", "property": "firstname"},
    {"column": "born", "property": "date_of_birth", "transform": "date_midnight_utc"},
    {"column": "stage", "property": "lifecyclestage"},
    {"column": "vip", "property": "hs_email_optout", "transform": "boolean"},
    {"column": "lead", "property": "hs_lead_status", "transform": "enum_map",
     "options": '{"values": {"NEW": "NEW", "OPEN": "OPEN", "weird": "BAD_TIMING"}}'},
    {"column": "full_name", "property": "message", "transform": "expression",
     "options": '{"expression": "(value or \'\').upper()"}'},
]  # fmt: skip


def post_job(client: Client, data: dict[str, str]) -> Any:
    return client.post(reverse("admin:sync_syncjob_add"), data)


def form_errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, "the form should have been shown again with errors"
    return {key: list(value) for key, value in response.context["adminform"].form.errors.items()}


def row_errors(response: Any) -> list[dict[str, list[str]]]:
    assert response.status_code == 200, "the form should have been shown again with errors"
    formset = response.context["inline_admin_formsets"][0].formset
    return [{key: list(value) for key, value in form.errors.items()} for form in formset.forms]


def page_text(response: Any) -> str:
    return html.unescape(bytes(response.content).decode())


# --- a job that fits is saved ---


def test_a_job_that_fits_both_sides_is_saved_with_its_mappings(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service, GOOD_MAPPINGS,
                                               interval_seconds="300"))  # fmt: skip
    assert response.status_code == 302, form_errors(response) or row_errors(response)
    job = SyncJob.objects.get(name="people-to-contacts")
    assert [row.property for row in job.mappings.all()] == [m["property"] for m in GOOD_MAPPINGS]
    assert job.mappings.get(column="lead").options == {
        "values": {"NEW": "NEW", "OPEN": "OPEN", "weird": "BAD_TIMING"}
    }
    assert job.periodic_task is not None
    assert job.periodic_task.interval.every == 300


def test_a_table_outside_the_first_schema_is_named_as_the_api_names_it(
    admin_client: Client,
    sim_account: HubSpotAccount,
    target_service: Service,
    hubspot_simulator: Simulator,
) -> None:
    data = job_data(sim_account, target_service, [{"column": "name", "property": "name"}],
                    table="crm.pets", object_type="p_pets", match_column="tag", match_property="pet_tag",
                    watermark_column="", writeback_id_column="", writeback_synced_at_column="",
                    writeback_status_column="", writeback_error_column="")  # fmt: skip
    response = post_job(admin_client, data)
    assert response.status_code == 302, form_errors(response) or row_errors(response)
    data["table"] = "pets"
    data["name"] = "pets-again"
    assert form_errors(post_job(admin_client, data)) == {
        "table": ["Service 'crm' has no table or view 'pets'."]
    }


# --- mappings ---


def test_an_unknown_column_is_an_error_on_the_column(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service,
                                               [{"column": "nickname", "property": "firstname"}]))  # fmt: skip
    assert row_errors(response) == [{"column": ["'nickname' is not a column of 'people'."]}]
    assert "'nickname' is not a column of 'people'." in page_text(response)
    assert not SyncJob.objects.exists()


def test_an_unknown_property_is_an_error_on_the_property(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service,
                                               [{"column": "first_name", "property": "nick_name"}]))  # fmt: skip
    assert row_errors(response) == [
        {"property": ["HubSpot contacts have no property 'nick_name'."]}
    ]


def test_a_type_mismatch_is_an_error_on_the_property(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service, [
        {"column": "signed_up", "property": "date_of_birth"},
        {"column": "score", "property": "hs_email_optout"},
    ]))  # fmt: skip
    first, second = row_errors(response)
    assert first == {
        "property": [
            "type mismatch: column 'signed_up' is datetime (timestamp with time zone) but HubSpot "
            "property 'date_of_birth' is date; use the date_midnight_utc transform"
        ]
    }
    assert second["property"][0].startswith("type mismatch: column 'score' is integer")


def test_an_unknown_enum_option_is_an_error(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service, [
        {"column": "lead", "property": "hs_lead_status"},
        {"column": "first_name", "property": "lifecyclestage", "transform": "enum_map",
         "options": '{"values": {"Ada": "lead", "Bob": "vip"}}'},
    ]))  # fmt: skip
    enum_column, value_map = row_errors(response)
    assert list(enum_column) == ["property"]
    assert enum_column["property"][0].startswith(
        "unknown enum option: values 'weird' of column 'lead' are not options of 'hs_lead_status'"
    )
    assert list(value_map) == ["options"]
    assert value_map["options"][0].startswith(
        "unknown enum option: 'vip' is not an option of 'lifecyclestage' (customer, evangelist, "
    )


def test_an_unfit_transform_or_bad_options_are_errors_on_them(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service, [
        {"column": "score", "property": "firstname", "transform": "lowercase_trim"},
        {"column": "first_name", "property": "lastname", "transform": "expression",
         "options": '{"expression": "value.__class__"}'},
        {"column": "last_name", "property": "company", "options": "{not json"},
    ]))  # fmt: skip
    unfit, expression, bad_json = row_errors(response)
    assert unfit == {
        "transform": [
            "lowercase_trim does not fit column 'score' (integer (integer)); it takes string columns"
        ]
    }
    assert expression == {
        "options": ["expression: attribute '__class__' is not allowed (at character 7)"]
    }
    assert list(bad_json) == ["options"]


def test_a_read_only_property_cannot_be_pushed_and_a_property_not_twice(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service, [
        {"column": "signed_up", "property": "createdate"},
        {"column": "first_name", "property": "firstname"},
        {"column": "last_name", "property": "firstname"},
    ]))  # fmt: skip
    read_only, fine, twice = row_errors(response)
    assert read_only == {
        "property": ["HubSpot property 'createdate' is read-only; a mapping to it can only pull"]
    }
    assert fine == {}
    assert twice == {"property": ["'firstname' is already pushed from 'first_name'."]}


def test_a_mapping_against_the_jobs_direction_is_an_error(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service, [
        {"column": "first_name", "property": "firstname", "direction": "pull"},
    ]))  # fmt: skip
    assert row_errors(response) == [
        {"direction": ["The job only goes push; this mapping never runs."]}
    ]


# --- the job's own columns and match key ---


def test_a_non_unique_match_property_is_refused(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    response = post_job(
        admin_client,
        job_data(
            sim_account, target_service, match_column="first_name", match_property="firstname"
        ),
    )
    assert form_errors(response) == {
        "match_property": [
            "HubSpot property 'firstname' is not unique, so it cannot match records: use email, "
            "a property with unique values, or hs_object_id."
        ]
    }


def test_a_unique_custom_property_or_the_record_id_can_match(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    with sim_account.client() as client:
        client.create_property(
            "contacts",
            PropertyCreate(name="member_no", label="Member number", type="string",
                           field_type="text", group_name="contactinformation", has_unique_value=True),
        )  # fmt: skip
    data = job_data(
        sim_account, target_service, match_column="member_no", match_property="member_no"
    )
    assert post_job(admin_client, data).status_code == 302
    data = job_data(sim_account, target_service, name="by-id", match_column="hubspot_id",
                    match_property="hs_object_id")  # fmt: skip
    assert post_job(admin_client, data).status_code == 302
    data = job_data(sim_account, target_service, name="by-vip", match_column="vip",
                    match_property="hs_object_id")  # fmt: skip
    assert form_errors(post_job(admin_client, data)) == {
        "match_column": [
            "Column 'vip' (boolean) cannot hold HubSpot record ids; use a text or integer column."
        ]
    }


def test_match_watermark_and_write_back_columns_are_checked(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    data = job_data(
        sim_account,
        target_service,
        match_column="mail",
        watermark_column="first_name",
        writeback_id_column="hs_id",
        writeback_synced_at_column="score",
        writeback_status_column="full_name",
    )
    assert form_errors(post_job(admin_client, data)) == {
        "match_column": ["'mail' is not a column of 'people'."],
        "watermark_column": [
            "A watermark must be a timestamp or number column; 'first_name' is text."
        ],
        "writeback_id_column": ["'hs_id' is not a column of 'people'."],
        "writeback_synced_at_column": [
            "Column 'score' (integer) cannot take this value; use a datetime or string column."
        ],
        "writeback_status_column": ["Column 'full_name' is filled by the database."],
    }


def test_an_unknown_table_or_object_type_is_an_error_on_it(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    assert form_errors(
        post_job(admin_client, job_data(sim_account, target_service, table="nobody"))
    ) == {"table": ["Service 'crm' has no table or view 'nobody'."]}
    errors = form_errors(
        post_job(admin_client, job_data(sim_account, target_service, object_type="unicorns"))
    )
    assert list(errors) == ["object_type"]
    assert errors["object_type"][0].startswith("HubSpot has no object type 'unicorns'")


# --- the other side cannot be reached ---


def test_an_unreachable_hubspot_is_a_clean_form_error(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    sim_account.base_url = f"http://127.0.0.1:{closed_port()}"
    sim_account.save()
    response = post_job(admin_client, job_data(sim_account, target_service, GOOD_MAPPINGS))
    errors = form_errors(response)
    assert list(errors) == ["account"]
    assert errors["account"][0].startswith(
        f"HubSpot at {sim_account.base_url} could not be reached to read the contacts properties"
    )
    assert row_errors(response) == [{}] * len(GOOD_MAPPINGS)
    assert "Traceback" not in page_text(response)


def test_a_refused_token_is_a_clean_form_error(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    sim_account.set_token("pat-wrong-Distinct-5521")
    sim_account.save()
    response = post_job(admin_client, job_data(sim_account, target_service))
    assert form_errors(response) == {
        "account": [
            "HubSpot refused account 'sim''s token (401). Set a valid token on the account."
        ]
    }
    assert "pat-wrong-Distinct-5521" not in page_text(response)


def test_an_unreachable_database_is_a_clean_form_error(
    admin_client: Client, sim_account: HubSpotAccount, target_service: Service
) -> None:
    target_service.port = closed_port()
    target_service.host = "127.0.0.1"
    target_service.save()
    errors = form_errors(post_job(admin_client, job_data(sim_account, target_service)))
    assert errors == {
        "service": ["Service 'crm''s database could not be reached to check the table."]
    }


def test_properties_are_read_once_per_save(
    admin_client: Client,
    sim_account: HubSpotAccount,
    target_service: Service,
    hubspot_simulator: Simulator,
) -> None:
    response = post_job(admin_client, job_data(sim_account, target_service, GOOD_MAPPINGS))
    assert response.status_code == 302
    by_path = hubspot_simulator.stats()["requests_by_path"]
    assert sum(count for path, count in by_path.items() if "/properties/" in path) == 1
    assert FieldMappingRow.objects.count() == len(GOOD_MAPPINGS)
