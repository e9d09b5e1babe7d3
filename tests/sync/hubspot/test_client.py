"""The HubSpot client's typed methods, each round-tripped over HTTP against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import RequestRejected
from sync.hubspot.settings import AccountSettings
from sync.hubspot.types import (
    AssociationInput,
    AssociationType,
    CreateInput,
    Filter,
    PropertyCreate,
    PropertyOption,
    SearchRequest,
    Sort,
    UpdateInput,
    UpsertInput,
)

MakeClient = Callable[..., HubSpotClient]


def contacts(*emails: str, **extra: str) -> list[UpsertInput]:
    return [
        UpsertInput(id=email, id_property="email", properties={"firstname": f"F{i}", **extra})
        for i, email in enumerate(emails)
    ]


def test_default_base_url_is_hubspots_and_the_http_client_is_explicit() -> None:
    settings = AccountSettings(token="pat-na1-secret")
    assert settings.base_url == "https://api.hubapi.com"
    assert "pat-na1-secret" not in repr(settings)
    client = HubSpotClient(settings, redis_client="redis://127.0.0.1:6379/0")
    try:
        http = client.transport.http
        assert str(http.base_url) == "https://api.hubapi.com"
        assert http.follow_redirects is False
        assert http.headers["User-Agent"].startswith("Sluicegate/")
        assert http.headers["Authorization"] == "Bearer pat-na1-secret"
        timeout = http.timeout
        assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (
            5.0,
            30.0,
            30.0,
            5.0,
        )
        assert client.objects_path("contacts") == "/crm/v3/objects/contacts"
    finally:
        client.close()


def test_bad_account_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="api_version"):
        AccountSettings(token="t", api_version="v4")
    with pytest.raises(ValueError, match="batch_size"):
        AccountSettings(token="t", batch_size=101)
    with pytest.raises(ValueError, match="time zone"):
        AccountSettings(token="t", timezone="Mars/Olympus")


def test_upsert_creates_then_updates_and_reads_back(make_client: MakeClient) -> None:
    client = make_client()
    first = client.batch_upsert("contacts", contacts("ann@example.com", "Bob@Example.com"))
    assert [outcome.ok for outcome in first.outcomes] == [True, True]
    assert [outcome.result.new for outcome in first.outcomes if outcome.result] == [True, True]
    ann, bob = (outcome.result for outcome in first.outcomes)
    assert ann is not None
    assert bob is not None
    assert bob.properties["email"] == "bob@example.com"  # HubSpot lowercases emails

    again = client.batch_upsert(
        "contacts", [UpsertInput("BOB@example.com", "email", {"lastname": "Builder"})]
    )
    (outcome,) = again.outcomes
    assert outcome.result is not None
    assert (outcome.result.id, outcome.result.new) == (bob.id, False)

    read = client.batch_read(
        "contacts", ["bob@example.com", "ann@example.com"], id_property="email",
        properties=["firstname", "lastname", "email"],
    )  # fmt: skip
    assert [o.result.properties["firstname"] for o in read.outcomes if o.result] == ["F1", "F0"]
    assert read.outcomes[0].result
    assert read.outcomes[0].result.properties["lastname"] == "Builder"

    by_id = client.get_object("contacts", ann.id, properties=["firstname"])
    by_email = client.get_object("contacts", "ANN@example.com", id_property="email")
    assert by_id is not None
    assert by_id.properties["firstname"] == "F0"
    assert by_email is not None
    assert by_email.id == ann.id
    assert client.get_object("contacts", "999999") is None


def test_create_update_archive_and_list_archived(make_client: MakeClient) -> None:
    client = make_client()
    created = client.batch_create(
        "companies",
        [CreateInput({"name": "Acme", "domain": "acme.test"}), CreateInput({"name": "Globex"})],
    )
    assert len(created.succeeded) == 2
    acme, globex = (outcome.result for outcome in created.outcomes)
    assert acme is not None
    assert globex is not None
    assert (acme.properties["name"], globex.properties["name"]) == ("Acme", "Globex")

    updated = client.batch_update(
        "companies",
        [
            UpdateInput(acme.id, {"city": "Springfield"}),
            UpdateInput("acme.test", {"zip": "12345"}, id_property="domain"),
        ],
    )
    assert not updated.failed
    assert [o.result.id for o in updated.outcomes if o.result] == [acme.id, acme.id]
    after = client.get_object("companies", acme.id, properties=["city", "zip"])
    assert after is not None
    assert (after.properties["city"], after.properties["zip"]) == ("Springfield", "12345")

    archived = client.batch_archive("companies", [globex.id, "424242"])
    assert [outcome.ok for outcome in archived.outcomes] == [True, True]
    assert client.get_object("companies", globex.id) is None
    listed = client.list_objects("companies", archived=True)
    assert [record.id for record in listed.results] == [globex.id]
    assert listed.results[0].archived is True


def test_list_pages_with_the_after_cursor(make_client: MakeClient) -> None:
    client = make_client()
    emails = [f"p{i}@example.com" for i in range(5)]
    client.batch_upsert("contacts", contacts(*emails))
    page = client.list_objects("contacts", properties=["email"], limit=2)
    assert len(page.results) == 2
    assert page.after is not None
    every = list(client.iter_objects("contacts", properties=["email"]))
    assert sorted(record.properties["email"] or "" for record in every) == sorted(emails)


def test_search_filters_sorts_and_pages(make_client: MakeClient) -> None:
    client = make_client()
    client.batch_upsert(
        "contacts", contacts(*(f"s{i}@search.test" for i in range(5)), lastname="Searched")
    )
    client.batch_upsert("contacts", contacts("other@example.com"))
    request = SearchRequest(
        filter_groups=((Filter("email", "CONTAINS_TOKEN", "*@search.test"),),),
        sorts=(Sort("email", "DESCENDING"),),
        properties=("email", "lastname"),
        limit=3,
    )
    first = client.search("contacts", request)
    assert first.total == 5
    assert [r.properties["email"] for r in first.results] == [
        "s4@search.test", "s3@search.test", "s2@search.test",
    ]  # fmt: skip
    assert first.after is not None
    second = client.search("contacts", SearchRequest(**{**_fields(request), "after": first.after}))
    assert [r.properties["email"] for r in second.results] == ["s1@search.test", "s0@search.test"]
    assert second.after is None
    by_in = client.search(
        "contacts",
        SearchRequest(filter_groups=((Filter("email", "IN", values=("s0@search.test",)),),)),
    )
    assert by_in.total == 1


def _fields(request: SearchRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in request.__dataclass_fields__}


def test_properties_list_and_create(make_client: MakeClient) -> None:
    client = make_client()
    definitions = {prop.name: prop for prop in client.list_properties("contacts")}
    assert definitions["email"].type == "string"
    assert definitions["hs_object_id"].read_only_value is True
    assert "lead" in {option.value for option in definitions["lifecyclestage"].options}

    created = client.create_property(
        "contacts",
        PropertyCreate(
            name="favourite_colour", label="Favourite colour", type="enumeration",
            field_type="select", group_name="contactinformation",
            options=(PropertyOption("Red", "red"), PropertyOption("Blue", "blue")),
        ),
    )  # fmt: skip
    assert (created.name, created.type, created.hubspot_defined) == (
        "favourite_colour", "enumeration", False,
    )  # fmt: skip
    listed = {prop.name: prop for prop in client.list_properties("contacts")}
    assert [option.value for option in listed["favourite_colour"].options] == ["red", "blue"]
    with pytest.raises(RequestRejected) as raised:
        client.create_property(
            "contacts",
            PropertyCreate("favourite_colour", "Again", "string", "text", "contactinformation"),
        )
    assert raised.value.status == 409


def test_associations_batch_create_and_read(make_client: MakeClient) -> None:
    client = make_client()
    people = client.batch_upsert("contacts", contacts("a@assoc.test", "b@assoc.test"))
    firms = client.batch_create("companies", [CreateInput({"name": "Initech"})])
    (ann, bob) = (o.result.id for o in people.outcomes if o.result)
    (initech,) = (o.result.id for o in firms.outcomes if o.result)

    made = client.create_associations(
        "contacts",
        "companies",
        [
            AssociationInput(ann, initech, (AssociationType(1, "HUBSPOT_DEFINED"),)),
            AssociationInput(bob, initech),  # HubSpot's default type
            AssociationInput(ann, "999999"),  # no such company
        ],
    )
    assert [outcome.ok for outcome in made.outcomes] == [True, True, False]
    assert made.outcomes[2].error is not None

    read = client.read_associations("contacts", "companies", [ann, bob, "777777"])
    sets = {o.input: o.result for o in read.outcomes if o.result is not None}
    assert {link.to_id for link in sets[ann].associations} == {initech}
    ann_types = {kind.type_id for link in sets[ann].associations for kind in link.types}
    assert {1, 279} <= ann_types
    assert {kind.type_id for link in sets[bob].associations for kind in link.types} == {279}
    # A record without associations is an empty set, not a failure.
    assert read.outcomes[2].ok
    assert read.outcomes[2].result is not None
    assert read.outcomes[2].result.associations == ()


def test_a_date_version_builds_every_path_from_it(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    client = make_client(api_version="2026-03")
    result = client.batch_upsert("contacts", contacts("dated@example.com"))
    assert result.succeeded
    assert client.list_properties("contacts")
    paths = hubspot_simulator.stats()["requests_by_path"]
    assert paths.get("POST /crm/objects/2026-03/contacts/batch/upsert") == 1
    assert not any("/crm/v3/" in path for path in paths)


def test_custom_object_by_its_unique_property(make_client: MakeClient) -> None:
    client = make_client()
    result = client.batch_upsert(
        "p_pets", [UpsertInput("TAG-1", "pet_tag", {"name": "Rex", "species": "dog"})]
    )
    (outcome,) = result.outcomes
    assert outcome.result is not None
    assert outcome.result.new is True
    fetched = client.get_object("p_pets", "TAG-1", id_property="pet_tag", properties=["name"])
    assert fetched is not None
    assert fetched.properties["name"] == "Rex"
