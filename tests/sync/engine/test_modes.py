"""Each mode against the simulator: upsert, update only, create only, mirror, and record-id matching."""

from __future__ import annotations

from typing import Any

from sync.engine.jobs import run_job
from sync.models import SyncRecordError, SyncRecordState
from tests.sync.engine.conftest import BASIC_MAPPINGS, World

BY_ID: dict[str, Any] = {"match_column": "hubspot_id", "match_property": "hs_object_id"}


def test_upsert_updates_records_hubspot_already_has_and_creates_the_rest(world: World) -> None:
    existing = world.simulator.create(
        "contacts", {"email": "person2@example.com", "firstname": "Old"}
    )
    world.people(3)
    job = world.job(mode="upsert")

    run = run_job(job.pk)

    assert (run.records_created, run.records_updated, run.records_failed) == (2, 1, 0)
    assert world.simulator.count("contacts") == 3
    assert world.simulator.get("contacts", existing)["properties"]["firstname"] == "First2"  # type: ignore[index]
    assert world.rows("id, hubspot_id")[1] == (2, existing)


def test_update_only_changes_existing_records_and_creates_none(world: World) -> None:
    existing = world.simulator.create(
        "contacts", {"email": "person1@example.com", "firstname": "Old"}
    )
    world.people(2)
    job = world.job(mode="update_only")

    run = run_job(job.pk)

    assert run.status == "partial"
    assert (run.records_updated, run.records_created, run.records_failed) == (1, 0, 1)
    assert world.simulator.count("contacts") == 1
    assert world.simulator.get("contacts", existing)["properties"]["firstname"] == "First1"  # type: ignore[index]
    error = SyncRecordError.objects.get(job=job, resolved=False)
    assert (error.record_key, error.category) == ("2", "OBJECT_NOT_FOUND")
    assert world.rows()[1][2:] == ("error", f"OBJECT_NOT_FOUND: {error.message}")


def test_create_only_creates_new_records_and_leaves_existing_ones_alone(world: World) -> None:
    existing = world.simulator.create(
        "contacts", {"email": "person1@example.com", "firstname": "Old"}
    )
    world.people(3)
    job = world.job(mode="create_only")

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert (run.records_created, run.records_unchanged, run.records_updated) == (2, 1, 0)
    assert world.simulator.count("contacts") == 3
    assert world.simulator.get("contacts", existing)["properties"]["firstname"] == "Old"  # type: ignore[index]
    # The existing record is adopted: its id is written back like the others.
    assert world.rows("id, hubspot_id")[0] == (1, existing)
    world.sql("UPDATE people SET first_name = 'Changed'")
    before = world.requests("batch/")
    again = run_job(job.pk)
    assert (again.records_created, again.records_updated, again.records_unchanged) == (0, 0, 3)
    assert world.requests("batch/") == before


def test_record_id_jobs_create_then_update_by_id_and_store_the_id_in_the_match_column(
    world: World,
) -> None:
    world.people(3)
    job = world.job(mode="upsert", writeback_id_column="", **BY_ID)

    first = run_job(job.pk)
    assert (first.records_created, first.records_failed) == (3, 0), first.error
    ids = [hubspot_id for _, hubspot_id in world.rows("id, hubspot_id")]
    assert all(ids)
    world.sql("UPDATE people SET last_name = 'Renamed' WHERE id = 2")
    second = run_job(job.pk)

    assert (second.records_changed, second.records_updated, second.records_created) == (1, 1, 0)
    assert world.requests("batch/update") == 1
    assert world.simulator.count("contacts") == 3
    assert world.simulator.get("contacts", ids[1])["properties"]["lastname"] == "Renamed"  # type: ignore[index]


def test_update_only_by_record_id_fails_rows_without_an_id_without_a_request(world: World) -> None:
    world.people(2)
    job = world.job(mode="update_only", **BY_ID)

    run = run_job(job.pk)

    assert (run.records_failed, run.status) == (2, "partial")
    assert set(SyncRecordError.objects.filter(job=job).values_list("category", flat=True)) == {
        "MISSING_MATCH_KEY"
    }
    assert world.requests("batch/") == 0


def test_mirror_archives_records_whose_rows_vanished(world: World) -> None:
    world.people(5)
    job = world.job(mode="mirror", max_deletions=2)
    run_job(job.pk)
    gone = world.rows("id, hubspot_id")[1:3]
    world.sql("DELETE FROM people WHERE id IN (2, 3)")

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert run.records_deleted == 2
    assert world.simulator.count("contacts") == 3
    assert world.simulator.count("contacts", archived=True) == 2
    for _, hubspot_id in gone:
        assert world.simulator.get("contacts", hubspot_id)["archived"] is True  # type: ignore[index]
    assert SyncRecordState.objects.filter(job=job).count() == 3
    # Nothing more vanished: the next run archives nothing.
    assert run_job(job.pk).records_deleted == 0


def test_mirror_over_the_deletion_threshold_archives_nothing_and_fails(world: World) -> None:
    world.people(5)
    job = world.job(mode="mirror", max_deletions=2)
    run_job(job.pk)
    world.sql("DELETE FROM people WHERE id <= 3")

    run = run_job(job.pk)

    assert run.status == "failed"
    assert "more than 2 records vanished" in run.error
    assert "nothing was archived" in run.error
    assert run.records_deleted == 0
    assert world.simulator.count("contacts") == 5
    assert world.requests("batch/archive") == 0


def test_mirror_with_a_content_hash_archives_too(world: World) -> None:
    world.people(3)
    job = world.job(mode="mirror", watermark_column="", mappings=BASIC_MAPPINGS)
    run_job(job.pk)
    world.sql("DELETE FROM people WHERE id = 1")

    run = run_job(job.pk)

    assert (run.records_deleted, run.records_changed) == (1, 0)
    assert world.simulator.count("contacts") == 2
