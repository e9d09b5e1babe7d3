"""Associations of push jobs against the simulator: contact → company from a foreign key.

Two jobs: `companies` (a companies table → HubSpot companies) and `people`
(the people table, whose `company_id` references companies, → contacts,
with an association on `company_id` through the companies job). What the
tests check is what HubSpot shows: the contact's associated companies.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from services.schema_cache import refresh_snapshot
from sync.engine.jobs import push_job_records, run_job
from sync.models import SyncAssociation, SyncAssociationLink, SyncJob
from tests.sync.engine.conftest import World

COMPANIES = """
CREATE TABLE companies (
    id          bigint PRIMARY KEY,
    domain      text NOT NULL,
    name        text,
    hubspot_id  text,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE people ADD COLUMN company_id bigint REFERENCES companies (id);
ALTER TABLE people ADD COLUMN company_hubspot_id text;
"""
CREATE_ROUTE = "/associations/contacts/companies/batch/create"
ARCHIVE_ROUTE = "/associations/contacts/companies/batch/archive"


@pytest.fixture
def crm(world: World) -> World:
    """The world with a companies table, and people pointing at it."""
    world.sql(COMPANIES)
    refresh_snapshot(world.service.config())
    return world


def add_companies(world: World, *ids: int) -> None:
    for i in ids:
        world.sql(
            "INSERT INTO companies (id, domain, name) VALUES (%s, %s, %s)",
            [i, f"company{i}.example.com", f"Company {i}"],
        )


def companies_job(world: World) -> SyncJob:
    return world.job(
        name="companies",
        table="companies",
        object_type="companies",
        match_column="domain",
        match_property="domain",
        writeback_synced_at_column="",
        writeback_status_column="",
        writeback_error_column="",
        mappings=[("domain", "domain", "", {}), ("name", "name", "", {})],
    )


def people_job(world: World, to_job: SyncJob | None = None, **association: Any) -> SyncJob:
    job = world.job()
    fields: dict[str, Any] = {"column": "company_id", "to_job": to_job, **association}
    SyncAssociation.objects.create(job=job, **fields)
    return job


def hubspot_id(world: World, table: str, row_id: int) -> str:
    [(value,)] = world.sql(f"SELECT hubspot_id FROM {table} WHERE id = %s", [row_id])  # noqa: S608 (test names)
    assert value
    return str(value)


def companies_of(world: World, person_id: int) -> dict[str, list[int]]:
    """The companies HubSpot associates with person `person_id`'s contact: id → type ids."""
    contact = hubspot_id(world, "people", person_id)
    answer = httpx.get(
        f"{world.simulator.base_url}/crm/v4/objects/contacts/{contact}/associations/companies",
        headers={"Authorization": f"Bearer {world.simulator.token}"},
        timeout=10,
    )
    assert answer.status_code == 200
    return {
        str(item["toObjectId"]): [kind["typeId"] for kind in item["associationTypes"]]
        for item in answer.json()["results"]
    }


def test_contacts_are_associated_with_their_company_once_both_exist(crm: World) -> None:
    add_companies(crm, 1, 2)
    crm.people(3)
    crm.sql("UPDATE people SET company_id = 1 WHERE id IN (1, 2)")
    crm.sql("UPDATE people SET company_id = 2 WHERE id = 3")
    companies = companies_job(crm)
    people = people_job(crm, companies)
    assert run_job(companies.pk).status == "succeeded"

    run = run_job(people.pk)

    assert run.status == "succeeded", run.error
    first, second = hubspot_id(crm, "companies", 1), hubspot_id(crm, "companies", 2)
    # The primary contact → company type (1), and the pair's unlabelled one with it.
    assert companies_of(crm, 1) == {first: [1, 279]}
    assert companies_of(crm, 2) == {first: [1, 279]}
    assert companies_of(crm, 3) == {second: [1, 279]}
    assert crm.requests(CREATE_ROUTE) == 1  # three associations, one batch


def test_a_second_run_does_not_create_the_associations_again(crm: World) -> None:
    add_companies(crm, 1)
    crm.people(4, company_id=1)
    companies = companies_job(crm)
    people = people_job(crm, companies)
    run_job(companies.pk)
    run_job(people.pk)
    before = crm.requests("/associations/")

    run = run_job(people.pk)

    assert run.status == "succeeded"
    assert crm.requests("/associations/") == before == 1
    assert run.requests_sent == 1  # the property definitions, nothing else


def test_a_contact_whose_company_is_not_synced_yet_gets_it_on_a_later_run(crm: World) -> None:
    add_companies(crm, 1)
    companies = companies_job(crm)
    people = people_job(crm, companies)
    run_job(companies.pk)
    add_companies(crm, 2)  # not pushed yet
    crm.people(2)
    crm.sql("UPDATE people SET company_id = id")

    run = run_job(people.pk)

    # The contacts are pushed; the one whose company HubSpot lacks waits, not failing anything.
    assert (run.status, run.records_created, run.records_failed) == ("succeeded", 2, 0)
    assert companies_of(crm, 1) == {hubspot_id(crm, "companies", 1): [1, 279]}
    assert companies_of(crm, 2) == {}
    waiting = SyncAssociationLink.objects.get(record_key="2")
    assert not waiting.linked
    assert "companies's record 2 is not in HubSpot yet" in waiting.message

    run_job(companies.pk)
    run = run_job(people.pk)

    assert (run.status, run.records_changed) == ("succeeded", 0)
    assert companies_of(crm, 2) == {hubspot_id(crm, "companies", 2): [1, 279]}
    assert SyncAssociationLink.objects.get(record_key="2").linked


def test_a_changed_foreign_key_moves_the_association(crm: World) -> None:
    add_companies(crm, 1, 2)
    crm.people(2, company_id=1)
    companies = companies_job(crm)
    people = people_job(crm, companies)
    run_job(companies.pk)
    run_job(people.pk)
    crm.sql("UPDATE people SET company_id = 2 WHERE id = 1")
    crm.sql("UPDATE people SET company_id = NULL WHERE id = 2")

    run = run_job(people.pk)

    assert run.status == "succeeded", run.error
    assert companies_of(crm, 1) == {hubspot_id(crm, "companies", 2): [1, 279]}
    assert companies_of(crm, 2) == {}
    assert crm.requests(ARCHIVE_ROUTE) == 1  # both old associations, one request
    assert crm.requests(CREATE_ROUTE) == 2
    assert not SyncAssociationLink.objects.filter(record_key="2").exists()


def test_without_replace_a_changed_foreign_key_keeps_the_old_association(crm: World) -> None:
    add_companies(crm, 1, 2)
    crm.people(1, company_id=1)
    companies = companies_job(crm)
    people = people_job(crm, companies, replace=False)
    run_job(companies.pk)
    run_job(people.pk)
    crm.sql("UPDATE people SET company_id = 2")

    run_job(people.pk)

    assert set(companies_of(crm, 1)) == {
        hubspot_id(crm, "companies", 1),
        hubspot_id(crm, "companies", 2),
    }
    assert crm.requests(ARCHIVE_ROUTE) == 0


def test_associations_go_in_batches_of_at_most_100(crm: World) -> None:
    add_companies(crm, 1)
    crm.people(150, company_id=1)
    companies = companies_job(crm)
    people = people_job(crm, companies)
    run_job(companies.pk)

    run = run_job(people.pk)

    assert run.status == "succeeded", run.error
    assert crm.requests(CREATE_ROUTE) == 2
    assert SyncAssociationLink.objects.filter(linked=True).count() == 150
    # The association requests count among the run's requests: properties, 2 upserts, 2 links.
    assert run.requests_sent == 5
    company = crm.simulator.get("companies", hubspot_id(crm, "companies", 1))
    assert company is not None
    assert companies_of(crm, 150) == {company["id"]: [1, 279]}


def test_a_column_holding_hubspot_ids_associates_directly(crm: World) -> None:
    company = crm.simulator.create("companies", {"name": "Made in HubSpot"})
    crm.people(1, company_hubspot_id=company)
    people = people_job(crm, column="company_hubspot_id", to_object_type="companies")

    run = run_job(people.pk)

    assert run.status == "succeeded", run.error
    assert companies_of(crm, 1) == {company: [1, 279]}


def test_a_type_hubspot_does_not_know_for_the_pair_fails_the_run_clearly(crm: World) -> None:
    add_companies(crm, 1)
    crm.people(1, company_id=1)
    companies = companies_job(crm)
    people = people_job(crm, companies, type_id=3)  # deal → contact, not contact → company
    run_job(companies.pk)

    run = run_job(people.pk)

    assert run.status == "failed"
    assert "3 is not a valid association type from contacts to companies" in run.error
    assert run.records_created == 1  # the contact itself was pushed and recorded
    assert not SyncAssociationLink.objects.filter(linked=True).exists()


def test_an_association_names_either_a_job_or_an_object_type(crm: World) -> None:
    job = crm.job()
    with pytest.raises(ValidationError, match="either the job"):
        SyncAssociation(job=job, column="company_id").full_clean()
    with pytest.raises(ValidationError, match="either the job"):
        SyncAssociation(
            job=job, column="company_id", to_job=job, to_object_type="companies"
        ).full_clean()
    with pytest.raises(ValidationError, match="needs its type id"):
        SyncAssociation(
            job=job, column="company_id", to_object_type="companies", category="USER_DEFINED"
        ).full_clean()
    SyncAssociation(job=job, column="company_id", to_object_type="companies").full_clean()


def test_the_job_page_shows_its_associations_linked_and_waiting(
    crm: World, admin_client: Client
) -> None:
    add_companies(crm, 1)
    companies = companies_job(crm)
    people = people_job(crm, companies)
    run_job(companies.pk)
    add_companies(crm, 2)
    crm.people(3)
    crm.sql("UPDATE people SET company_id = 1 WHERE id IN (1, 2)")
    crm.sql("UPDATE people SET company_id = 2 WHERE id = 3")
    run_job(people.pk)

    page = admin_client.get(reverse("admin:sync_syncjob_change", args=[people.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "records linked / waiting" in text.lower()
    assert "2 / 1" in text
    assert 'name="associations-0-column" value="company_id"' in text


def test_a_keyed_push_associates_just_its_records(crm: World) -> None:
    add_companies(crm, 1)
    crm.people(2, company_id=1)
    companies = companies_job(crm)
    people = people_job(crm, companies)
    run_job(companies.pk)

    run = push_job_records(people.pk, ["1"])

    assert run.status == "succeeded", run.error
    assert companies_of(crm, 1) == {hubspot_id(crm, "companies", 1): [1, 279]}
    assert crm.contact("person2@example.com") is None
    assert list(SyncAssociationLink.objects.values_list("record_key", "linked")) == [("1", True)]


def test_an_association_on_a_column_the_table_lacks_fails_the_run_clearly(crm: World) -> None:
    crm.people(1)
    people = people_job(crm, column="no_such_column", to_object_type="companies")

    run = run_job(people.pk)

    assert run.status == "failed"
    assert "Association of 'no_such_column'" in run.error
    assert "no_such_column" in run.error.split(":", 1)[1]
