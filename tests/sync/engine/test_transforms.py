"""Every documented transform, through a real push: the value HubSpot stores is the transformed one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from sync.engine.jobs import run_job
from sync.hubspot.client import HubSpotClient
from sync.hubspot.types import PropertyCreate, PropertyOption
from tests.sync.engine.conftest import World

CASES: list[tuple[str, dict[str, Any], tuple[str, str, str, dict[str, Any]], str, str]] = [
    (
        "lowercase_trim",
        {"email": "  MiXed.Case@Example.COM "},
        ("email", "email", "lowercase_trim", {}),
        "email",
        "mixed.case@example.com",
    ),
    (
        "date_midnight_utc",
        {"birthday": date(1990, 5, 17)},
        ("birthday", "date_of_birth", "date_midnight_utc", {}),
        "date_of_birth",
        "1990-05-17",
    ),
    (
        "epoch_millis",
        {"last_seen": datetime(2026, 3, 1, 12, 34, 56, 789000, tzinfo=UTC)},
        ("last_seen", "last_seen_at", "epoch_millis", {}),
        "last_seen_at",
        "2026-03-01T12:34:56.789Z",
    ),
    (
        "enum_map",
        {"status": "customer"},
        (
            "status",
            "lifecyclestage",
            "enum_map",
            {"values": {"lead": "lead", "customer": "opportunity", "churned": "other"}},
        ),
        "lifecyclestage",
        "opportunity",
    ),
    (
        "boolean",
        {"is_vip": True},
        ("is_vip", "hs_email_optout", "boolean", {}),
        "hs_email_optout",
        "true",
    ),
    (
        "join",
        {"tags": ["sports", "music"]},
        ("tags", "interests", "join", {"separator": ";"}),
        "interests",
        "sports;music",
    ),
    (
        "default",
        {"job_title": None},
        ("job_title", "jobtitle", "default", {"value": "Unknown"}),
        "jobtitle",
        "Unknown",
    ),
    (
        "expression",
        {"first_name": "Jane", "last_name": "Doe"},
        (
            "last_name",
            "lastname",
            "expression",
            {"expression": "value.upper() + ', ' + row['first_name']"},
        ),
        "lastname",
        "DOE, Jane",
    ),
]


def add_custom_properties(world: World) -> None:
    """A datetime and a multiple-checkbox property, which contacts lack by default."""
    settings = world.account.settings()
    with HubSpotClient(settings, redis_client=world_redis()) as client:
        client.create_property(
            "contacts",
            PropertyCreate("last_seen_at", "Last seen", "datetime", "date", "contactinformation"),
        )
        client.create_property(
            "contacts",
            PropertyCreate(
                "interests",
                "Interests",
                "enumeration",
                "checkbox",
                "contactinformation",
                options=tuple(PropertyOption(v.title(), v) for v in ("sports", "music", "travel")),
            ),
        )


def world_redis() -> str:
    from django.conf import settings

    return str(settings.REDIS_URL)


@pytest.mark.parametrize(
    ("values", "mapping", "prop", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_transform_shapes_what_hubspot_stores(
    world: World,
    values: dict[str, Any],
    mapping: tuple[str, str, str, dict[str, Any]],
    prop: str,
    expected: str,
) -> None:
    add_custom_properties(world)
    row = {"id": 1, "email": "t@example.com", "first_name": "F", "last_name": "L", **values}
    world.insert([row])
    mappings: list[tuple[str, str, str, dict[str, Any]]] = [
        ("email", "email", "lowercase_trim", {})
    ]
    if mapping[0] != "email":
        mappings.append(mapping)
    job = world.job(mappings=mappings, mode="upsert")

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    email = "mixed.case@example.com" if mapping[0] == "email" else "t@example.com"
    contact = world.contact(email)
    assert contact is not None
    assert contact["properties"][prop] == expected


def test_a_value_a_transform_refuses_is_a_record_error_and_costs_no_request(world: World) -> None:
    world.insert([{"id": 1, "email": "a@example.com", "status": "churned"}])
    world.insert([{"id": 2, "email": "b@example.com", "status": "lead"}])
    job = world.job(
        mappings=[
            ("email", "email", "", {}),
            ("status", "lifecyclestage", "enum_map", {"values": {"lead": "lead"}}),
        ]
    )

    run = run_job(job.pk)

    assert (run.records_created, run.records_failed) == (1, 1)
    assert world.rows("id, sync_status, sync_error")[0] == (
        1,
        "error",
        "TRANSFORM_ERROR: status → lifecyclestage: 'churned' has no HubSpot option in the value map",
    )
