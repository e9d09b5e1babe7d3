"""Batch answers tied back to their inputs: shuffled results, 207 failures, conflicts, chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import RequestRejected
from sync.hubspot.types import CreateInput, UpdateInput, UpsertInput

MakeClient = Callable[..., HubSpotClient]


def test_results_are_matched_to_inputs_despite_shuffled_order(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(shuffle_results=True, shuffle_seed=7)
    client = make_client()
    inputs = [
        UpsertInput(f"shuffle{i}@example.com", "email", {"firstname": f"First{i}"})
        for i in range(40)
    ]
    result = client.batch_upsert("contacts", inputs)
    assert len(result.succeeded) == 40
    for item, outcome in zip(inputs, result.outcomes, strict=True):
        assert outcome.input is item
        assert outcome.result is not None
        assert outcome.result.properties["email"] == item.id
        assert outcome.result.properties["firstname"] == item.properties["firstname"]
    ids = [o.result.id for o in result.outcomes if o.result]
    updates = [UpdateInput(ids[i], {"lastname": f"Last{i}"}) for i in range(40)]
    updated = client.batch_update("contacts", updates)
    for i, changed in enumerate(updated.outcomes):
        assert changed.result is not None
        assert (changed.result.id, changed.result.properties["lastname"]) == (ids[i], f"Last{i}")
    read = client.batch_read("contacts", list(reversed(ids)), properties=["lastname"])
    assert [o.result.id for o in read.outcomes if o.result] == list(reversed(ids))


def test_a_207_fails_only_the_bad_records_with_hubspots_reasons(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(shuffle_results=True)
    client = make_client()
    inputs = [
        CreateInput({"email": "good1@example.com", "firstname": "Good"}),
        CreateInput({"email": "not-an-email", "firstname": "Bad"}),
        CreateInput({"email": "good2@example.com", "lifecyclestage": "no_such_stage"}),
        CreateInput({"email": "good3@example.com", "no_such_property": "x"}),
        CreateInput({"email": "good4@example.com"}),
    ]
    result = client.batch_create("contacts", inputs)
    assert [outcome.ok for outcome in result.outcomes] == [True, False, False, False, True]
    assert result.requests == 1
    failures = {o.input.properties["email"]: o.error for o in result.failed if o.error}
    assert {error.category for error in failures.values()} == {"VALIDATION_ERROR"}
    assert [(d.property_name, d.code) for d in failures["not-an-email"].details] == [
        ("email", "INVALID_EMAIL")
    ]
    assert ("lifecyclestage", "INVALID_OPTION") in {
        (d.property_name, d.code) for d in failures["good2@example.com"].details
    }
    assert ("no_such_property", "PROPERTY_DOESNT_EXIST") in {
        (d.property_name, d.code) for d in failures["good3@example.com"].details
    }
    # The batch-mates were written; the bad ones were not.
    emails = {r.properties["email"] for r in client.iter_objects("contacts", properties=["email"])}
    assert emails == {"good1@example.com", "good4@example.com"}


def test_a_conflict_names_the_existing_record(make_client: MakeClient) -> None:
    client = make_client()
    existing = client.batch_create("contacts", [CreateInput({"email": "taken@example.com"})])
    (first,) = existing.outcomes
    assert first.result is not None
    result = client.batch_create(
        "contacts",
        [CreateInput({"email": "fresh@example.com"}), CreateInput({"email": "TAKEN@example.com"})],
    )
    fresh, taken = result.outcomes
    assert fresh.ok
    assert taken.error is not None
    assert taken.error.category == "CONFLICT"
    assert taken.error.existing_id == first.result.id


def test_unknown_ids_fail_per_record_in_update_and_read(make_client: MakeClient) -> None:
    client = make_client()
    made = client.batch_upsert("contacts", [UpsertInput("known@example.com", "email", {})])
    known = made.outcomes[0].result
    assert known is not None
    updated = client.batch_update(
        "contacts",
        [UpdateInput("123456789", {"firstname": "X"}), UpdateInput(known.id, {"firstname": "Y"})],
    )
    missing, found = updated.outcomes
    assert missing.error is not None
    assert missing.error.category == "OBJECT_NOT_FOUND"
    assert found.result is not None
    assert found.result.properties["firstname"] == "Y"
    read = client.batch_read("contacts", [known.id, "123456789"])
    assert [outcome.ok for outcome in read.outcomes] == [True, False]


def test_duplicate_inputs_are_refused_without_failing_the_batch(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    client = make_client()
    result = client.batch_upsert(
        "contacts",
        [
            UpsertInput("twice@example.com", "email", {"firstname": "One"}),
            UpsertInput("other@example.com", "email", {}),
            UpsertInput(" Twice@Example.com", "email", {"firstname": "Two"}),
        ],
    )
    assert [outcome.ok for outcome in result.outcomes] == [True, True, False]
    assert result.outcomes[2].error is not None
    assert result.outcomes[2].error.category == "DUPLICATE_INPUT"
    assert result.requests == 1
    assert hubspot_simulator.stats()["responses_by_status"] == {"200": 1}


def test_more_than_a_batch_is_sent_in_chunks_of_at_most_100(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    client = make_client()
    inputs = [UpsertInput(f"bulk{i}@example.com", "email", {}) for i in range(250)]
    result = client.batch_upsert("contacts", inputs)
    assert len(result.succeeded) == 250
    assert result.requests == 3
    assert hubspot_simulator.stats()["requests_by_path"] == {
        "POST /crm/v3/objects/contacts/batch/upsert": 3
    }
    small = make_client(batch_size=10)
    assert small.batch_upsert("contacts", inputs[:25]).requests == 3


def test_a_request_level_refusal_raises_instead_of_failing_each_record(
    make_client: MakeClient,
) -> None:
    client = make_client()
    with pytest.raises(RequestRejected) as raised:
        client.batch_upsert(
            "contacts", [UpsertInput("x", "firstname", {}), UpsertInput("y", "firstname", {})]
        )
    assert raised.value.status == 400
    assert "non-unique" in str(raised.value)
