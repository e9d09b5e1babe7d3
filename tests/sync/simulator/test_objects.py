"""The basic object endpoints answer with HubSpot's statuses and shapes (REFERENCE §1.2, §1.3)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from sync.hubspot.simulator import Simulator

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PREFIXES = ["/crm/v3/objects", "/crm/objects/2026-03"]


def assert_simple_object(body: dict[str, Any]) -> None:
    """The required fields of a SimplePublicObject; every property value a string or null."""
    assert set(body) >= {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert isinstance(body["id"], str)
    assert ISO.match(body["createdAt"])
    assert ISO.match(body["updatedAt"])
    assert all(value is None or isinstance(value, str) for value in body["properties"].values())


@pytest.mark.parametrize("prefix", PREFIXES)
def test_create_answers_201_with_a_simple_public_object(api: httpx.Client, prefix: str) -> None:
    answer = api.post(
        f"{prefix}/contacts", json={"properties": {"email": "ann@example.com", "firstname": "Ann"}}
    )

    assert answer.status_code == 201
    body = answer.json()
    assert_simple_object(body)
    assert body["archived"] is False
    assert body["properties"]["email"] == "ann@example.com"
    assert body["properties"]["hs_object_id"] == body["id"]
    assert ISO.match(body["properties"]["createdate"])


def test_both_prefixes_serve_the_same_records(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/companies", json={"properties": {"name": "Acme"}}).json()

    again = api.get(f"/crm/objects/2026-03/companies/{created['id']}")

    assert again.status_code == 200
    assert again.json()["properties"]["name"] == "Acme"


def test_ids_are_increasing_strings_per_object_type(api: httpx.Client) -> None:
    first = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "A"}}).json()["id"]
    second = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "B"}}).json()["id"]
    company = api.post("/crm/v3/objects/companies", json={"properties": {"name": "C"}}).json()["id"]

    assert int(second) == int(first) + 1
    assert company == first  # ids are unique only within one object type


def test_get_returns_default_properties_and_the_system_ones(api: httpx.Client) -> None:
    created = api.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"email": "a@b.io", "firstname": "A", "city": "Oslo"}},
    ).json()

    body = api.get(f"/crm/v3/objects/contacts/{created['id']}").json()

    assert set(body["properties"]) == {
        "firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id",
    }  # fmt: skip
    assert body["properties"]["lastname"] is None


def test_get_with_properties_returns_those_and_ignores_unknown_names(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/contacts", json={"properties": {"city": "Oslo"}}).json()

    body = api.get(
        f"/crm/v3/objects/contacts/{created['id']}", params={"properties": "city,nonsense"}
    ).json()

    assert body["properties"]["city"] == "Oslo"
    assert "nonsense" not in body["properties"]
    assert "firstname" not in body["properties"]


def test_get_by_id_property_finds_by_email_case_insensitively(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "x@y.com"}}).json()

    found = api.get("/crm/v3/objects/contacts/X@Y.COM", params={"idProperty": "email"})

    assert found.status_code == 200
    assert found.json()["id"] == created["id"]
    # Clients percent-encode the value in the path, as for any path segment.
    encoded = api.get("/crm/v3/objects/contacts/x%40y.com", params={"idProperty": "email"})
    assert encoded.status_code == 200
    assert encoded.json()["id"] == created["id"]


def test_get_by_a_non_unique_id_property_is_refused(api: httpx.Client) -> None:
    answer = api.get("/crm/v3/objects/deals/x", params={"idProperty": "dealname"})

    assert answer.status_code == 400
    assert "non-unique 0-3 property dealname" in answer.json()["message"]


def test_unknown_record_is_404_object_not_found(api: httpx.Client) -> None:
    answer = api.get("/crm/v3/objects/contacts/999")

    assert answer.status_code == 404
    body = answer.json()
    assert body["status"] == "error"
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]


def test_update_answers_200_and_moves_lastmodifieddate(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/contacts", json={"properties": {"firstname": "A"}}).json()

    answer = api.patch(
        f"/crm/v3/objects/contacts/{created['id']}", json={"properties": {"firstname": "B"}}
    )

    assert answer.status_code == 200
    body = answer.json()
    assert body["properties"]["firstname"] == "B"
    assert body["updatedAt"] >= created["updatedAt"]
    assert body["properties"]["lastmodifieddate"] == body["updatedAt"]


def test_update_by_email_id_property(api: httpx.Client) -> None:
    api.post("/crm/v3/objects/contacts", json={"properties": {"email": "e@x.com"}})

    answer = api.patch(
        "/crm/v3/objects/contacts/e@x.com",
        params={"idProperty": "email"},
        json={"properties": {"lastname": "Eve"}},
    )

    assert answer.status_code == 200
    assert answer.json()["properties"]["lastname"] == "Eve"


def test_empty_string_clears_a_value(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/contacts", json={"properties": {"city": "Oslo"}}).json()

    api.patch(f"/crm/v3/objects/contacts/{created['id']}", json={"properties": {"city": ""}})

    body = api.get(f"/crm/v3/objects/contacts/{created['id']}", params={"properties": "city"})
    assert body.json()["properties"]["city"] is None


def test_archive_answers_204_and_archived_records_leave_reads_and_lists(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/contacts", json={"properties": {"firstname": "A"}}).json()

    answer = api.delete(f"/crm/v3/objects/contacts/{created['id']}")

    assert answer.status_code == 204
    assert answer.content == b""
    assert api.get(f"/crm/v3/objects/contacts/{created['id']}").status_code == 404
    assert api.get("/crm/v3/objects/contacts").json()["results"] == []
    archived = api.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()["results"]
    assert [r["id"] for r in archived] == [created["id"]]
    assert archived[0]["archived"] is True
    assert ISO.match(archived[0]["archivedAt"])


def test_archived_true_returns_only_archived_records(api: httpx.Client) -> None:
    kept = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "kept"}}).json()
    gone = api.post("/crm/v3/objects/deals", json={"properties": {"dealname": "gone"}}).json()
    api.delete(f"/crm/v3/objects/deals/{gone['id']}")

    archived = api.get("/crm/v3/objects/deals", params={"archived": "true"}).json()["results"]
    active = api.get("/crm/v3/objects/deals").json()["results"]

    assert [r["id"] for r in archived] == [gone["id"]]
    assert [r["id"] for r in active] == [kept["id"]]


def test_list_pages_by_opaque_cursor_until_no_paging(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    ids = hubspot_simulator.create_many("companies", [{"name": f"c{i}"} for i in range(25)])

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"limit": 10, **({"after": after} if after else {})}
        body = api.get("/crm/v3/objects/companies", params=params).json()
        seen += [r["id"] for r in body["results"]]
        pages += 1
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert not after.isdigit()  # opaque, not an id or offset
        assert body["paging"]["next"]["link"].startswith(hubspot_simulator.base_url)

    assert pages == 3
    assert seen == ids


def test_list_limit_is_capped_at_100(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    hubspot_simulator.create_many("deals", [{"dealname": f"d{i}"} for i in range(120)])

    body = api.get("/crm/v3/objects/deals", params={"limit": 500}).json()

    assert len(body["results"]) == 100
    assert "paging" in body


def test_list_with_history_is_capped_at_50(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    hubspot_simulator.create_many("deals", [{"dealname": f"d{i}"} for i in range(60)])

    body = api.get(
        "/crm/v3/objects/deals", params={"limit": 100, "propertiesWithHistory": "dealname"}
    ).json()

    assert len(body["results"]) == 50
    history = body["results"][0]["propertiesWithHistory"]["dealname"]
    assert history[0]["value"] == "d0"


def test_bad_cursor_and_bad_limit_are_400(api: httpx.Client) -> None:
    assert api.get("/crm/v3/objects/contacts", params={"after": "%%%"}).status_code == 400
    assert api.get("/crm/v3/objects/contacts", params={"limit": "ten"}).status_code == 400


@pytest.mark.parametrize("name", ["p_pets", "2-4001", "p62515_pets"])
def test_custom_object_is_served_by_every_name(api: httpx.Client, name: str) -> None:
    answer = api.post(
        f"/crm/v3/objects/{name}", json={"properties": {"name": "Rex", "species": "dog"}}
    )

    assert answer.status_code == 201
    fetched = api.get(f"/crm/v3/objects/2-4001/{answer.json()['id']}").json()
    assert fetched["properties"]["name"] == "Rex"
    assert "hs_createdate" in fetched["properties"]


def test_standard_types_answer_to_their_type_ids(api: httpx.Client) -> None:
    created = api.post("/crm/v3/objects/0-3", json={"properties": {"dealname": "D"}}).json()

    assert api.get(f"/crm/v3/objects/deals/{created['id']}").status_code == 200


def test_unknown_object_type_is_400(api: httpx.Client) -> None:
    answer = api.get("/crm/v3/objects/unicorns")

    assert answer.status_code == 400
    assert answer.json()["message"] == "Unable to infer object type from: unicorns"


def test_malformed_json_is_400_validation_error(api: httpx.Client) -> None:
    answer = api.post(
        "/crm/v3/objects/contacts",
        content=b'{"properties": ',
        headers={"Content-Type": "application/json"},
    )

    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert answer.json()["message"].startswith("Invalid input JSON")


def test_unknown_path_is_404(api: httpx.Client) -> None:
    assert api.get("/crm/v3/nothing/here").status_code == 404


def test_merge_keeps_the_primary_and_archives_the_other(api: httpx.Client) -> None:
    primary = api.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "p@x.com", "firstname": "P"}}
    ).json()
    other = api.post(
        "/crm/v3/objects/contacts", json={"properties": {"email": "o@x.com", "city": "Rome"}}
    ).json()

    answer = api.post(
        "/crm/v3/objects/contacts/merge",
        json={"primaryObjectId": primary["id"], "objectIdToMerge": other["id"]},
    )

    assert answer.status_code == 200
    merged = answer.json()
    assert merged["id"] == primary["id"]
    assert merged["properties"]["city"] == "Rome"
    assert merged["properties"]["hs_merged_object_ids"] == other["id"]
    assert api.get(f"/crm/v3/objects/contacts/{other['id']}").status_code == 404
    assert "o@x.com" in merged["properties"]["hs_additional_emails"]


def test_gdpr_delete_removes_a_contact_for_good(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    contact = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "g@x.com"}}).json()

    answer = api.post(
        "/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "g@x.com", "idProperty": "email"}
    )

    assert answer.status_code == 204
    assert hubspot_simulator.get("contacts", contact["id"]) is None
    assert api.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()["results"] == []
