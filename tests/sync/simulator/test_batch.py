"""Batch endpoints behave like HubSpot's (REFERENCE §1.4, §9.2, §9.3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.hubspot.simulator import Simulator

from .conftest import stored

BATCH = "/crm/v3/objects/contacts/batch"


def contact(i: int, **extra: str) -> dict[str, Any]:
    return {"properties": {"email": f"c{i}@example.com", **extra}, "associations": []}


def assert_batch_body(body: dict[str, Any]) -> None:
    assert body["status"] == "COMPLETE"
    assert isinstance(body["results"], list)
    assert body["startedAt"] <= body["completedAt"]


@pytest.mark.parametrize("action", ["create", "update", "upsert", "read", "archive"])
def test_more_than_100_inputs_is_400(api: httpx.Client, action: str) -> None:
    inputs = [{"id": str(i), "idProperty": "email", "properties": {}} for i in range(101)]

    answer = api.post(f"{BATCH}/{action}", json={"inputs": inputs})

    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert "100" in answer.json()["message"]


def test_batch_create_answers_201_with_every_record(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    answer = api.post(f"{BATCH}/create", json={"inputs": [contact(i) for i in range(100)]})

    assert answer.status_code == 201
    body = answer.json()
    assert_batch_body(body)
    assert sorted(r["properties"]["email"] for r in body["results"]) == sorted(
        f"c{i}@example.com" for i in range(100)
    )
    assert hubspot_simulator.count("contacts") == 100


def test_results_do_not_come_back_in_input_order(api: httpx.Client) -> None:
    inputs = [contact(i) for i in range(5)]

    results = api.post(f"{BATCH}/create", json={"inputs": inputs}).json()["results"]

    emails = [r["properties"]["email"] for r in results]
    assert emails != [f"c{i}@example.com" for i in range(5)]
    assert sorted(emails) == sorted(f"c{i}@example.com" for i in range(5))


def test_shuffled_results_follow_the_seed(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    def order(seed: int, start: int) -> list[int]:
        hubspot_simulator.configure(shuffle_results=True, shuffle_seed=seed)
        inputs = [contact(start + i) for i in range(10)]
        results = api.post(f"{BATCH}/create", json={"inputs": inputs}).json()["results"]
        return [int(r["properties"]["email"][1:].split("@")[0]) - start for r in results]

    first = order(7, 0)
    again = order(7, 100)

    assert first == again
    assert first != list(range(10))
    assert first != list(reversed(range(10)))


def test_one_bad_input_without_trace_ids_fails_the_whole_batch(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    inputs = [contact(1), {"properties": {"email": "broken"}}, contact(3)]

    answer = api.post(f"{BATCH}/create", json={"inputs": inputs})

    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert "INVALID_EMAIL" in answer.json()["message"]
    assert hubspot_simulator.count("contacts") == 0


def test_a_conflict_without_trace_ids_fails_the_whole_batch_with_409(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    existing = hubspot_simulator.create("contacts", {"email": "c2@example.com"})

    answer = api.post(f"{BATCH}/create", json={"inputs": [contact(1), contact(2)]})

    assert answer.status_code == 409
    assert answer.json()["message"] == f"Contact already exists. Existing ID: {existing}"
    assert hubspot_simulator.count("contacts") == 1


def test_trace_ids_turn_bad_inputs_into_207_errors(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    existing = hubspot_simulator.create("contacts", {"email": "c3@example.com"})
    inputs = [
        {**contact(1), "objectWriteTraceId": "t1"},
        {"properties": {"email": "broken", "missing": "x"}, "objectWriteTraceId": "t2"},
        {**contact(3), "objectWriteTraceId": "t3"},
        {**contact(4), "objectWriteTraceId": "t4"},
    ]

    answer = api.post(f"{BATCH}/create", json={"inputs": inputs})

    assert answer.status_code == 207
    body = answer.json()
    assert_batch_body(body)
    assert body["numErrors"] == 2
    assert sorted(r["objectWriteTraceId"] for r in body["results"]) == ["t1", "t4"]
    errors = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert errors["t2"]["category"] == "VALIDATION_ERROR"
    assert errors["t2"]["status"] == "error"
    assert '"error":"PROPERTY_DOESNT_EXIST"' in errors["t2"]["message"]
    assert errors["t3"]["category"] == "CONFLICT"
    assert errors["t3"]["message"] == f"Contact already exists. Existing ID: {existing}"
    assert hubspot_simulator.count("contacts") == 3


def test_two_inputs_with_the_same_email_are_not_both_created(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    inputs = [
        {**contact(1), "objectWriteTraceId": "a"},
        {"properties": {"email": "C1@example.com"}, "objectWriteTraceId": "b"},
    ]

    body = api.post(f"{BATCH}/create", json={"inputs": inputs}).json()

    assert body["numErrors"] == 1
    assert hubspot_simulator.count("contacts") == 1


def test_batch_read_answers_207_object_not_found_for_unknown_ids(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    known = hubspot_simulator.create("contacts", {"email": "r@x.com", "city": "Oslo"})

    answer = api.post(
        f"{BATCH}/read", json={"inputs": [{"id": known}, {"id": "404040"}], "properties": ["city"]}
    )

    assert answer.status_code == 207
    body = answer.json()
    assert [r["properties"]["city"] for r in body["results"]] == ["Oslo"]
    assert body["numErrors"] == 1
    error = body["errors"][0]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"ids": ["404040"]}
    assert error["message"] == (
        "Could not get some CONTACT objects, they may be deleted or not exist. "
        "Check that ids are valid."
    )


def test_batch_read_by_email(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    known = hubspot_simulator.create("contacts", {"email": "r@x.com"})

    answer = api.post(f"{BATCH}/read", json={"inputs": [{"id": "R@X.com"}], "idProperty": "email"})

    assert answer.status_code == 200
    assert [r["id"] for r in answer.json()["results"]] == [known]


def test_batch_update_writes_known_ids_and_lists_unknown_ones(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    known = hubspot_simulator.create("contacts", {"email": "u@x.com"})

    answer = api.post(
        f"{BATCH}/update",
        json={
            "inputs": [
                {"id": known, "properties": {"firstname": "U"}},
                {"id": "77777", "properties": {"firstname": "Nobody"}},
            ]
        },
    )

    assert answer.status_code == 207
    assert answer.json()["errors"][0]["context"] == {"ids": ["77777"]}
    assert stored(hubspot_simulator, "contacts", known)["properties"]["firstname"] == "U"


def test_batch_update_all_known_is_200(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    known = hubspot_simulator.create("contacts", {"email": "u@x.com"})

    answer = api.post(
        f"{BATCH}/update",
        json={"inputs": [{"id": "u@x.com", "idProperty": "email", "properties": {"city": "Oslo"}}]},
    )

    assert answer.status_code == 200
    assert answer.json()["results"][0]["id"] == known
    assert answer.json()["results"][0]["properties"]["city"] == "Oslo"


def test_duplicate_ids_in_a_batch_are_400(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    known = hubspot_simulator.create("contacts", {"email": "d@x.com"})

    update = api.post(
        f"{BATCH}/update",
        json={"inputs": [{"id": known, "properties": {}}, {"id": known, "properties": {}}]},
    )
    upsert = api.post(
        f"{BATCH}/upsert",
        json={
            "inputs": [
                {"id": "a@x.com", "idProperty": "email", "properties": {}},
                {"id": "A@X.com", "idProperty": "email", "properties": {}},
            ]
        },
    )

    for answer in (update, upsert):
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("Duplicate IDs found in batch input")


def test_upsert_creates_and_updates_and_says_which(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    existing = hubspot_simulator.create("contacts", {"email": "old@x.com", "firstname": "Old"})

    answer = api.post(
        f"{BATCH}/upsert",
        json={
            "inputs": [
                {"id": "OLD@x.com", "idProperty": "email", "properties": {"firstname": "Renewed"}},
                {"id": "new@x.com", "idProperty": "email", "properties": {"firstname": "New"}},
            ]
        },
    )

    assert answer.status_code == 200
    by_email = {r["properties"]["email"]: r for r in answer.json()["results"]}
    assert by_email["old@x.com"]["new"] is False
    assert by_email["old@x.com"]["id"] == existing
    assert by_email["old@x.com"]["properties"]["firstname"] == "Renewed"
    assert by_email["new@x.com"]["new"] is True
    assert hubspot_simulator.count("contacts") == 2


def test_upsert_by_a_custom_unique_property(api: httpx.Client) -> None:
    answer = api.post(
        "/crm/v3/objects/p_pets/batch/upsert",
        json={"inputs": [{"id": "TAG-1", "idProperty": "pet_tag", "properties": {"name": "Rex"}}]},
    )

    assert answer.status_code == 200
    assert answer.json()["results"][0]["properties"]["pet_tag"] == "TAG-1"


def test_upsert_by_a_non_unique_property_is_400(api: httpx.Client) -> None:
    answer = api.post(
        "/crm/v3/objects/deals/batch/upsert",
        json={"inputs": [{"id": "Big deal", "idProperty": "dealname", "properties": {}}]},
    )

    assert answer.status_code == 400
    assert (
        answer.json()["message"]
        == "Unable to perform update/upsert by non-unique 0-3 property dealname"
    )


def test_upsert_with_trace_ids_answers_207_for_bad_inputs(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    answer = api.post(
        f"{BATCH}/upsert",
        json={
            "inputs": [
                {
                    "id": "ok@x.com",
                    "idProperty": "email",
                    "properties": {},
                    "objectWriteTraceId": "1",
                },
                {
                    "id": "bad@x.com",
                    "idProperty": "email",
                    "properties": {"lifecyclestage": "nope"},
                    "objectWriteTraceId": "2",
                },
            ]
        },
    )

    assert answer.status_code == 207
    assert answer.json()["errors"][0]["context"] == {"objectWriteTraceId": ["2"]}
    assert hubspot_simulator.count("contacts") == 1


def test_batch_archive_answers_204_and_skips_unknown_ids(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    ids = hubspot_simulator.create_many("deals", [{"dealname": "a"}, {"dealname": "b"}])

    answer = api.post(
        "/crm/v3/objects/deals/batch/archive", json={"inputs": [{"id": ids[0]}, {"id": "999"}]}
    )

    assert answer.status_code == 204
    assert hubspot_simulator.count("deals") == 1
    assert hubspot_simulator.count("deals", archived=True) == 1


def test_an_update_that_changes_nothing_keeps_the_modification_time(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    known = hubspot_simulator.create("contacts", {"email": "same@x.com", "city": "Oslo"})
    before = stored(hubspot_simulator, "contacts", known)["updatedAt"]

    api.post(f"{BATCH}/update", json={"inputs": [{"id": known, "properties": {"city": "Oslo"}}]})

    assert stored(hubspot_simulator, "contacts", known)["updatedAt"] == before


def test_inputs_must_be_a_list_of_objects(api: httpx.Client) -> None:
    assert api.post(f"{BATCH}/create", json={"inputs": "nope"}).status_code == 400
    assert api.post(f"{BATCH}/create", json=[1, 2]).status_code == 400
