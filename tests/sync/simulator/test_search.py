"""Search behaves like HubSpot's (REFERENCE §1.5, §9.12)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.hubspot.simulator import Simulator

from .conftest import Timed

SEARCH = "/crm/v3/objects/contacts/search"


def search(api: httpx.Client, *filters: dict[str, Any], **body: object) -> Any:
    payload = {"filterGroups": [{"filters": list(filters)}] if filters else [], **body}
    answer = api.post(SEARCH, json=payload)
    assert answer.status_code == 200, answer.text
    return answer.json()


def emails(found: dict[str, Any]) -> list[str]:
    return [r["properties"]["email"] for r in found["results"]]


@pytest.fixture
def people(hubspot_simulator: Simulator) -> list[str]:
    return hubspot_simulator.create_many(
        "contacts",
        [
            {"email": "ann@hubspot.com", "firstname": "Ann", "lifecyclestage": "lead"},
            {"email": "bob@example.com", "firstname": "Bob", "lifecyclestage": "customer"},
            {"email": "cid@hubspot.com", "firstname": "Cid", "lifecyclestage": "customer"},
            {"email": "dee@example.com", "lifecyclestage": "lead"},
        ],
    )


def test_answer_shape_and_default_order_oldest_first(api: httpx.Client, people: list[str]) -> None:
    found = search(api)

    assert found["total"] == 4
    assert [r["id"] for r in found["results"]] == people
    assert "paging" not in found
    assert set(found["results"][0]["properties"]) >= {"email", "createdate", "hs_object_id"}


def test_eq_on_text_is_case_insensitive(api: httpx.Client, people: list[str]) -> None:
    found = search(api, {"propertyName": "firstname", "operator": "EQ", "value": "ANN"})

    assert emails(found) == ["ann@hubspot.com"]


def test_eq_on_an_enumeration_is_case_sensitive(api: httpx.Client, people: list[str]) -> None:
    exact = search(api, {"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"})
    shouted = search(api, {"propertyName": "lifecyclestage", "operator": "EQ", "value": "LEAD"})

    assert exact["total"] == 2
    assert shouted["total"] == 0


def test_in_needs_lowercase_string_values(api: httpx.Client, people: list[str]) -> None:
    lower = search(api, {"propertyName": "firstname", "operator": "IN", "values": ["ann", "bob"]})
    upper = search(api, {"propertyName": "firstname", "operator": "IN", "values": ["Ann"]})

    assert emails(lower) == ["ann@hubspot.com", "bob@example.com"]
    assert upper["total"] == 0


def test_not_in_neq_and_has_property(api: httpx.Client, people: list[str]) -> None:
    not_in = search(
        api, {"propertyName": "lifecyclestage", "operator": "NOT_IN", "values": ["lead"]}
    )
    neq = search(api, {"propertyName": "firstname", "operator": "NEQ", "value": "ann"})
    has = search(api, {"propertyName": "firstname", "operator": "HAS_PROPERTY"})
    lacks = search(api, {"propertyName": "firstname", "operator": "NOT_HAS_PROPERTY"})

    assert emails(not_in) == ["bob@example.com", "cid@hubspot.com"]
    assert "ann@hubspot.com" not in emails(neq)
    assert has["total"] == 3
    assert emails(lacks) == ["dee@example.com"]


def test_contains_token_with_wildcard(api: httpx.Client, people: list[str]) -> None:
    found = search(
        api, {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@hubspot.com"}
    )
    others = search(
        api, {"propertyName": "email", "operator": "NOT_CONTAINS_TOKEN", "value": "*@hubspot.com"}
    )

    assert emails(found) == ["ann@hubspot.com", "cid@hubspot.com"]
    assert emails(others) == ["bob@example.com", "dee@example.com"]


def test_filters_in_a_group_are_and_groups_are_or(api: httpx.Client, people: list[str]) -> None:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"},
                    {
                        "propertyName": "email",
                        "operator": "CONTAINS_TOKEN",
                        "value": "*@hubspot.com",
                    },
                ]
            },
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": "DEE@example.com"}]},
        ]
    }

    found = api.post(SEARCH, json=body).json()

    assert emails(found) == ["cid@hubspot.com", "dee@example.com"]


def test_numbers_compare_as_numbers(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    hubspot_simulator.create_many(
        "deals",
        [
            {"dealname": name, "amount": amount}
            for name, amount in (("a", "9"), ("b", "10"), ("c", "100.5"))
        ],
    )

    answer = api.post(
        "/crm/v3/objects/deals/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "amount",
                            "operator": "BETWEEN",
                            "value": "9.5",
                            "highValue": "100",
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}],
            "properties": ["dealname", "amount"],
        },
    )

    assert [r["properties"]["dealname"] for r in answer.json()["results"]] == ["b"]
    everything = api.post(
        "/crm/v3/objects/deals/search",
        json={"sorts": [{"propertyName": "amount", "direction": "DESCENDING"}]},
    ).json()
    assert [r["properties"]["amount"] for r in everything["results"]] == ["100.5", "10", "9"]


def test_one_sort_only(api: httpx.Client, people: list[str]) -> None:
    sorts = [
        {"propertyName": "firstname", "direction": "ASCENDING"},
        {"propertyName": "email", "direction": "ASCENDING"},
    ]

    assert api.post(SEARCH, json={"sorts": sorts}).status_code == 400
    by_name = search(api, sorts=[{"propertyName": "firstname", "direction": "DESCENDING"}])
    assert emails(by_name) == [
        "cid@hubspot.com",
        "bob@example.com",
        "ann@hubspot.com",
        "dee@example.com",
    ]


def test_paging_by_integer_offset(api: httpx.Client, hubspot_simulator: Simulator) -> None:
    ids = hubspot_simulator.create_many("contacts", [{"firstname": f"p{i}"} for i in range(25)])

    first = search(api, limit=10)
    second = search(api, limit=10, after=first["paging"]["next"]["after"])
    last = search(api, limit=10, after="20")

    assert first["paging"]["next"]["after"] == "10"
    assert [r["id"] for r in first["results"] + second["results"] + last["results"]] == ids
    assert "paging" not in last
    assert last["total"] == 25


@pytest.mark.parametrize("limit", [0, 201])
def test_limit_must_be_1_to_200(api: httpx.Client, limit: int) -> None:
    assert api.post(SEARCH, json={"limit": limit}).status_code == 400


def test_paging_past_10000_results_is_400(api: httpx.Client) -> None:
    answer = api.post(SEARCH, json={"limit": 100, "after": "10000"})

    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"


def test_filter_limits_are_5_groups_6_per_group_18_in_all(api: httpx.Client) -> None:
    one = {"propertyName": "firstname", "operator": "HAS_PROPERTY"}

    six_groups = {"filterGroups": [{"filters": [one]}] * 6}
    seven_filters = {"filterGroups": [{"filters": [one] * 7}]}
    nineteen = {"filterGroups": [{"filters": [one] * 6}] * 3 + [{"filters": [one]}]}
    eighteen = {"filterGroups": [{"filters": [one] * 6}] * 3}

    for body in (six_groups, seven_filters, nineteen):
        answer = api.post(SEARCH, json=body)
        assert answer.status_code == 400
        assert answer.json()["category"] == "VALIDATION_ERROR"
    assert api.post(SEARCH, json=eighteen).status_code == 200


def test_unknown_property_or_operator_is_400(api: httpx.Client) -> None:
    bad_property = {
        "filterGroups": [{"filters": [{"propertyName": "zzz", "operator": "EQ", "value": "1"}]}]
    }
    bad_operator = {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "1"}]}]
    }

    assert api.post(SEARCH, json=bad_property).status_code == 400
    assert api.post(SEARCH, json=bad_operator).status_code == 400


def test_archived_records_never_appear(api: httpx.Client, people: list[str]) -> None:
    api.delete(f"/crm/v3/objects/contacts/{people[0]}")

    assert people[0] not in [r["id"] for r in search(api)["results"]]


def test_incremental_pull_on_lastmodifieddate(timed: Timed) -> None:
    sim, clock, api = timed.simulator, timed.clock, timed.client
    old = sim.create("contacts", {"email": "old@x.com"})
    clock.advance(60)
    cursor = int(clock.now() * 1000)
    newer = sim.create("contacts", {"email": "new@x.com"})
    clock.advance(60)
    sim.update("contacts", old, {"firstname": "Touched"})

    found = timed.client.post(
        SEARCH,
        json={
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "lastmodifieddate",
                            "operator": "GTE",
                            "value": str(cursor),
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        },
    ).json()

    assert [r["id"] for r in found["results"]] == [newer, old]
    assert api.post(SEARCH, json={}).json()["total"] == 2


@pytest.mark.parametrize("operator", ["GT", "GTE"])
def test_changes_since_a_moment_page_alike_whatever_path_answers(
    timed: Timed, operator: str
) -> None:
    """The incremental pull's search (answered from the modified index) pages as any search does."""
    sim, clock = timed.simulator, timed.clock
    sim.configure(search_limit=1000)  # the clock stands still: no window ever passes
    for i in range(12):
        sim.create("contacts", {"email": f"p{i}@x.com"})
        if i % 3 == 0:
            clock.advance(1)  # several records share each moment
    moment = str(int(clock.now() * 1000) - 1000)
    since = {"propertyName": "lastmodifieddate", "operator": operator, "value": moment}
    anything = {"propertyName": "email", "operator": "HAS_PROPERTY"}  # forces a full scan
    order = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]

    def pages(*filters: dict[str, Any]) -> list[tuple[int, list[str], str | None]]:
        found, after = [], "0"
        while after is not None:
            body = {"filterGroups": [{"filters": list(filters)}], "sorts": order}
            answer = timed.client.post(SEARCH, json={**body, "limit": 2, "after": after}).json()
            after = answer.get("paging", {}).get("next", {}).get("after")
            found.append((answer["total"], [r["id"] for r in answer["results"]], after))
        return found

    indexed = pages(since)
    assert indexed == pages(since, anything)
    assert sum(len(page) for _total, page, _after in indexed) == indexed[0][0] > 0


def test_indexing_delay_hides_fresh_changes_until_it_passes(timed: Timed) -> None:
    timed.simulator.configure(search_indexing_delay_seconds=5)
    timed.simulator.create("contacts", {"email": "fresh@x.com"})

    before = timed.client.post(SEARCH, json={}).json()
    timed.clock.advance(6)
    after = timed.client.post(SEARCH, json={}).json()

    assert before["total"] == 0
    assert after["total"] == 1


def test_free_text_query(api: httpx.Client, people: list[str]) -> None:
    assert emails(search(api, query="cid")) == ["cid@hubspot.com"]
    assert api.post(SEARCH, json={"query": "x" * 3001}).status_code == 400


def test_search_by_association(
    api: httpx.Client, people: list[str], hubspot_simulator: Simulator
) -> None:
    company = hubspot_simulator.create("companies", {"name": "Acme"})
    api.put(f"/crm/v4/objects/contacts/{people[1]}/associations/default/companies/{company}")

    found = search(
        api, {"propertyName": "associations.company", "operator": "EQ", "value": company}
    )

    assert emails(found) == ["bob@example.com"]


def test_eq_on_a_custom_unique_property_ignores_case(
    api: httpx.Client, hubspot_simulator: Simulator
) -> None:
    pet = hubspot_simulator.create("p_pets", {"name": "Rex", "pet_tag": "TAG-1"})

    answer = api.post(
        "/crm/v3/objects/p_pets/search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "pet_tag", "operator": "EQ", "value": "tag-1"}]}
            ]
        },
    )

    assert [r["id"] for r in answer.json()["results"]] == [pet]


def test_the_date_versioned_prefix_searches_too(api: httpx.Client, people: list[str]) -> None:
    answer = api.post("/crm/objects/2026-03/contacts/search", json={})

    assert answer.json()["total"] == 4
