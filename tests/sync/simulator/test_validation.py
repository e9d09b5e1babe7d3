"""Written values are checked like HubSpot checks them (REFERENCE §2.3, §5, §9.1, §9.4, §9.5)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sync.hubspot.simulator import Simulator, SimulatorError

PREFIX = "Property values were not valid: "


def validation_items(answer: httpx.Response) -> Any:
    """The JSON list HubSpot embeds in a VALIDATION_ERROR's message."""
    body = answer.json()
    assert answer.status_code == 400
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith(PREFIX)
    return json.loads(body["message"].removeprefix(PREFIX))


def create(api: httpx.Client, kind: str, properties: dict[str, Any]) -> httpx.Response:
    return api.post(f"/crm/v3/objects/{kind}", json={"properties": properties})


@pytest.mark.parametrize(
    ("kind", "properties", "error", "message"),
    [
        (
            "contacts",
            {"email": "not-an-email"},
            "INVALID_EMAIL",
            "Email address not-an-email is invalid",
        ),
        ("contacts", {"nope": "x"}, "PROPERTY_DOESNT_EXIST", 'Property "nope" does not exist'),
        (
            "contacts",
            {"date_of_birth": "1635535865"},
            "INVALID_DATE",
            "1635535865 is at 22:18:55.865 UTC, not midnight!",
        ),
        (
            "companies",
            {"industry": "accounting"},  # enumerations are case-sensitive
            "INVALID_OPTION",
            "accounting was not one of the allowed options: [ACCOUNTING, AIRLINES_AVIATION,",
        ),
        ("deals", {"amount": "12.3.4"}, "INVALID_INTEGER", "12.3.4 is not a valid number"),
        (
            "contacts",
            {"hs_object_id": "5"},
            "READ_ONLY_VALUE",
            "hs_object_id is a read only property",
        ),
        (
            "p_pets",
            {"vaccinated": "maybe"},
            "INVALID_OPTION",
            "maybe was not one of the allowed options",
        ),
        (
            "deals",
            {"closedate": "next tuesday"},
            "INVALID_DATETIME",
            "next tuesday is not a valid datetime",
        ),
    ],
)
def test_invalid_values_are_400_with_hubspots_message(
    api: httpx.Client, kind: str, properties: dict[str, Any], error: str, message: str
) -> None:
    items = validation_items(create(api, kind, properties))

    assert len(items) == 1
    item = items[0]
    assert item["isValid"] is False
    assert item["error"] == error
    assert item["name"] == next(iter(properties))
    assert item["message"].startswith(message)


def test_every_bad_property_is_listed_and_nothing_is_written(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    answer = create(api, "contacts", {"email": "bad", "lifecyclestage": "x", "firstname": "ok"})

    assert [item["name"] for item in validation_items(answer)] == ["email", "lifecyclestage"]
    assert answer.json()["errors"][0]["code"] == "INVALID_EMAIL"
    assert hubspot_simulator.count("contacts") == 0


def test_string_longer_than_65536_characters_is_refused(api: httpx.Client) -> None:
    items = validation_items(create(api, "contacts", {"message": "x" * 65_537}))

    assert items[0]["name"] == "message"


def test_values_are_stored_as_strings(api: httpx.Client) -> None:
    created = create(
        api,
        "p_pets",
        {"name": "Rex", "weight_kg": 12.5, "vaccinated": True, "birthday": 1577836800000},
    )

    assert created.status_code == 201
    properties = created.json()["properties"]
    assert properties["weight_kg"] == "12.5"
    assert properties["vaccinated"] == "true"
    assert properties["birthday"] == "2020-01-01"  # midnight-UTC epoch ms, shown as a date


def test_datetime_accepts_iso_and_epoch_ms_and_answers_iso(api: httpx.Client) -> None:
    iso = create(api, "deals", {"dealname": "a", "closedate": "2020-02-29T03:30:17Z"}).json()
    epoch = create(api, "deals", {"dealname": "b", "closedate": "1582947017000"}).json()

    assert iso["properties"]["closedate"] == "2020-02-29T03:30:17.000Z"
    assert epoch["properties"]["closedate"] == "2020-02-29T03:30:17.000Z"


def test_multi_checkbox_replaces_and_a_leading_semicolon_appends(api: httpx.Client) -> None:
    pet = create(api, "p_pets", {"name": "Rex", "toys": "ball;rope"}).json()

    replaced = api.patch(
        f"/crm/v3/objects/p_pets/{pet['id']}", json={"properties": {"toys": "bone"}}
    )
    appended = api.patch(
        f"/crm/v3/objects/p_pets/{pet['id']}", json={"properties": {"toys": ";mouse;bone"}}
    )

    assert pet["properties"]["toys"] == "ball;rope"
    assert replaced.json()["properties"]["toys"] == "bone"
    assert appended.json()["properties"]["toys"] == "bone;mouse"
    bad = api.patch(
        f"/crm/v3/objects/p_pets/{pet['id']}", json={"properties": {"toys": "ball;car"}}
    )
    assert validation_items(bad)[0]["error"] == "INVALID_OPTION"


def test_emails_are_stored_lowercased(api: httpx.Client) -> None:
    created = create(api, "contacts", {"email": "  Mixed.Case@Example.COM "}).json()

    assert created["properties"]["email"] == "mixed.case@example.com"


def test_duplicate_email_is_409_conflict_naming_the_existing_id(api: httpx.Client) -> None:
    first = create(api, "contacts", {"email": "dup@example.com"}).json()

    answer = create(api, "contacts", {"email": "DUP@Example.com"})

    assert answer.status_code == 409
    body = answer.json()
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {first['id']}"


def test_changing_an_email_to_one_in_use_is_409(api: httpx.Client) -> None:
    taken = create(api, "contacts", {"email": "taken@example.com"}).json()
    other = create(api, "contacts", {"email": "other@example.com"}).json()

    answer = api.patch(
        f"/crm/v3/objects/contacts/{other['id']}",
        json={"properties": {"email": "Taken@example.com"}},
    )

    assert answer.status_code == 409
    assert answer.json()["message"].endswith(f"Existing ID: {taken['id']}")


def test_an_archived_contacts_email_can_be_used_again(api: httpx.Client) -> None:
    old = create(api, "contacts", {"email": "reuse@example.com"}).json()
    api.delete(f"/crm/v3/objects/contacts/{old['id']}")

    assert create(api, "contacts", {"email": "reuse@example.com"}).status_code == 201


def test_company_domain_is_unique_case_insensitively(api: httpx.Client) -> None:
    first = create(api, "companies", {"domain": "acme.com"}).json()

    answer = create(api, "companies", {"domain": "ACME.com"})

    assert answer.status_code == 409
    assert answer.json()["message"] == f"Company already exists. Existing ID: {first['id']}"


def test_direct_writes_are_checked_too(hubspot_simulator: Simulator) -> None:
    hubspot_simulator.create("contacts", {"email": "d@x.com"})

    with pytest.raises(SimulatorError, match="Existing ID"):
        hubspot_simulator.create("contacts", {"email": "D@x.com"})
    with pytest.raises(SimulatorError, match="INVALID_EMAIL"):
        hubspot_simulator.create("contacts", {"email": "nope"})


def test_properties_list_describes_types_options_and_read_only_values(api: httpx.Client) -> None:
    answer = api.get("/crm/v3/properties/contacts")

    assert answer.status_code == 200
    by_name = {prop["name"]: prop for prop in answer.json()["results"]}
    assert by_name["email"]["type"] == "string"
    assert by_name["date_of_birth"]["type"] == "date"
    stage = by_name["lifecyclestage"]
    assert stage["type"] == "enumeration"
    assert {"label": "Lead", "value": "lead", "displayOrder": 1, "hidden": False} in stage[
        "options"
    ]
    assert by_name["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert by_name["firstname"]["modificationMetadata"]["readOnlyValue"] is False
    assert api.get("/crm/properties/2026-03/contacts").json() == answer.json()


def test_property_get_and_404(api: httpx.Client) -> None:
    assert api.get("/crm/v3/properties/deals/amount").json()["type"] == "number"
    assert api.get("/crm/v3/properties/deals/nothing").status_code == 404


def test_created_property_is_listed_validated_and_unique(api: httpx.Client) -> None:
    created = api.post(
        "/crm/v3/properties/contacts",
        json={
            "name": "Member_Number",
            "label": "Member number",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
            "hasUniqueValue": True,
        },
    )
    tier = api.post(
        "/crm/v3/properties/contacts",
        json={
            "name": "tier",
            "label": "Tier",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "contactinformation",
            "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}],
        },
    )

    assert created.status_code == 201
    assert created.json()["name"] == "member_number"  # names are lowercased
    assert created.json()["hasUniqueValue"] is True
    assert tier.status_code == 201
    assert create(api, "contacts", {"member_number": "M1", "tier": "gold"}).status_code == 201
    assert create(api, "contacts", {"member_number": "M1"}).status_code == 409
    assert (
        validation_items(create(api, "contacts", {"tier": "bronze"}))[0]["error"]
        == "INVALID_OPTION"
    )
    found = api.get("/crm/v3/objects/contacts/M1", params={"idProperty": "member_number"})
    assert found.status_code == 200


@pytest.mark.parametrize(
    "definition",
    [
        {"label": "No name", "type": "string", "fieldType": "text", "groupName": "g"},
        {"name": "x", "label": "X", "type": "string", "fieldType": "select", "groupName": "g"},
        {"name": "x", "label": "X", "type": "enumeration", "fieldType": "select", "groupName": "g"},
        {"name": "9x", "label": "X", "type": "string", "fieldType": "text", "groupName": "g"},
        {"name": "x", "label": "X", "type": "blob", "fieldType": "text", "groupName": "g"},
    ],
)
def test_bad_property_definitions_are_400(api: httpx.Client, definition: dict[str, Any]) -> None:
    assert api.post("/crm/v3/properties/contacts", json=definition).status_code == 400


def test_an_existing_property_name_is_409(api: httpx.Client) -> None:
    answer = api.post(
        "/crm/v3/properties/contacts",
        json={
            "name": "email",
            "label": "E",
            "type": "string",
            "fieldType": "text",
            "groupName": "g",
        },
    )

    assert answer.status_code == 409
