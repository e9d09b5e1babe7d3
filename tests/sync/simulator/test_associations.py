"""Associations v4 basics (REFERENCE §1.6) and associations on v3 reads and creates."""

from __future__ import annotations

import httpx
import pytest

from sync.hubspot.simulator import Simulator


@pytest.fixture
def records(hubspot_simulator: Simulator) -> dict[str, str]:
    return {
        "contact": hubspot_simulator.create("contacts", {"email": "a@x.com"}),
        "company": hubspot_simulator.create("companies", {"name": "Acme"}),
        "deal": hubspot_simulator.create("deals", {"dealname": "Big"}),
    }


def test_default_association_links_both_ways(api: httpx.Client, records: dict[str, str]) -> None:
    contact, company = records["contact"], records["company"]

    answer = api.put(f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "COMPLETE"
    specs = {r["associationSpec"]["associationTypeId"] for r in body["results"]}
    assert specs == {279, 280}
    forward = api.get(f"/crm/v4/objects/contacts/{contact}/associations/companies").json()
    backward = api.get(f"/crm/v4/objects/companies/{company}/associations/contacts").json()
    assert forward["results"] == [
        {
            "toObjectId": int(company),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}],
        }
    ]
    assert backward["results"][0]["toObjectId"] == int(contact)
    assert backward["results"][0]["associationTypes"][0]["typeId"] == 280


def test_labelled_association_answers_201_and_keeps_the_default(
    api: httpx.Client, records: dict[str, str]
) -> None:
    contact, company = records["contact"], records["company"]

    answer = api.put(
        f"/crm/v4/objects/contacts/{contact}/associations/companies/{company}",
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )

    assert answer.status_code == 201
    assert answer.json() == {
        "fromObjectTypeId": "0-1",
        "fromObjectId": int(contact),
        "toObjectTypeId": "0-2",
        "toObjectId": int(company),
        "labels": ["Primary"],
    }
    linked = api.get(f"/crm/v4/objects/contacts/{contact}/associations/companies").json()
    type_ids = [t["typeId"] for t in linked["results"][0]["associationTypes"]]
    assert type_ids == [1, 279]


def test_an_association_type_of_another_pair_is_400(
    api: httpx.Client, records: dict[str, str]
) -> None:
    answer = api.put(
        f"/crm/v4/objects/contacts/{records['contact']}/associations/companies/{records['company']}",
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
    )

    assert answer.status_code == 400


def test_batch_create_and_read(
    api: httpx.Client, records: dict[str, str], hubspot_simulator: Simulator
) -> None:
    lonely = hubspot_simulator.create("deals", {"dealname": "Lonely"})
    created = api.post(
        "/crm/v4/associations/deals/contacts/batch/create",
        json={
            "inputs": [
                {
                    "from": {"id": records["deal"]},
                    "to": {"id": records["contact"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
                }
            ]
        },
    )

    read = api.post(
        "/crm/v4/associations/deals/contacts/batch/read",
        json={"inputs": [{"id": records["deal"]}, {"id": lonely}]},
    )

    assert created.status_code == 201
    assert created.json()["results"][0]["toObjectId"] == int(records["contact"])
    assert read.status_code == 207
    body = read.json()
    assert body["results"] == [
        {
            "from": {"id": records["deal"]},
            "to": [
                {
                    "toObjectId": int(records["contact"]),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}
                    ],
                }
            ],
        }
    ]
    error = body["errors"][0]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["context"] == {"fromObjectId": [lonely]}


def test_batch_read_takes_up_to_1000_inputs(api: httpx.Client) -> None:
    inputs = [{"id": str(i)} for i in range(1001)]

    too_many = api.post(
        "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": inputs}
    )
    enough = api.post(
        "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": inputs[:1000]}
    )

    assert too_many.status_code == 400
    assert enough.status_code == 207


def test_batch_associate_default_and_archive(api: httpx.Client, records: dict[str, str]) -> None:
    pair = {"from": {"id": records["company"]}, "to": {"id": records["deal"]}}

    made = api.post(
        "/crm/v4/associations/companies/deals/batch/associate/default", json={"inputs": [pair]}
    )
    removed = api.post(
        "/crm/v4/associations/companies/deals/batch/archive",
        json={"inputs": [{"from": pair["from"], "to": [pair["to"]]}]},
    )

    assert made.status_code == 200
    assert made.json()["results"][0]["associationSpec"]["associationTypeId"] == 342
    assert removed.status_code == 204
    assert (
        api.get(f"/crm/v4/objects/deals/{records['deal']}/associations/companies").json()["results"]
        == []
    )


def test_delete_one_association(api: httpx.Client, records: dict[str, str]) -> None:
    base = f"/crm/v4/objects/contacts/{records['contact']}/associations"
    api.put(f"{base}/default/deals/{records['deal']}")

    assert api.delete(f"{base}/deals/{records['deal']}").status_code == 204
    assert api.get(f"{base}/deals").json()["results"] == []


def test_associations_on_create_and_on_v3_reads(api: httpx.Client, records: dict[str, str]) -> None:
    created = api.post(
        "/crm/v3/objects/contacts",
        json={
            "properties": {"email": "new@x.com"},
            "associations": [
                {
                    "to": {"id": records["company"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        },
    ).json()

    read = api.get(
        f"/crm/v3/objects/contacts/{created['id']}", params={"associations": "companies"}
    )

    assert read.json()["associations"] == {
        "companies": {
            "results": [{"id": records["company"], "type": "contact_to_company_unlabeled"}]
        }
    }


def test_association_to_a_missing_record_is_refused(
    api: httpx.Client, records: dict[str, str]
) -> None:
    answer = api.put(
        f"/crm/v4/objects/contacts/{records['contact']}/associations/default/companies/999"
    )

    assert answer.status_code == 400
