"""Push runs against the simulator over real HTTP: first push, incremental pushes, write-back."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from sync.engine.jobs import run_job
from sync.engine.lock import JobLock
from sync.models import SyncRecordState, SyncRun
from tests.sync.engine.conftest import World

UPSERTS = "batch/upsert"


def test_first_push_creates_every_record_and_writes_back_ids(world: World) -> None:
    world.people(5)
    job = world.job()

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert (run.records_read, run.records_changed, run.records_created) == (5, 5, 5)
    assert (run.records_updated, run.records_failed, run.progress_done) == (0, 0, 5)
    for person_id, hubspot_id, status, error in world.rows():
        contact = world.contact(f"person{person_id}@example.com")
        assert contact is not None
        assert contact["id"] == hubspot_id
        assert contact["properties"]["firstname"] == f"First{person_id}"
        assert (status, error) == ("synced", None)
    synced_at = world.sql("SELECT count(*) FROM people WHERE synced_at IS NOT NULL")
    assert synced_at == [(5,)]
    # One read of the property definitions, one batch.
    assert world.requests(UPSERTS) == 1
    assert run.requests_sent == 2


@pytest.mark.parametrize("watermark", ["updated_at", ""], ids=["watermark", "content-hash"])
def test_an_incremental_push_sends_only_the_changed_rows(world: World, watermark: str) -> None:
    world.people(30)
    job = world.job(watermark_column=watermark)
    assert run_job(job.pk).records_created == 30
    world.sql("UPDATE people SET first_name = 'Changed' WHERE id IN (3, 17, 29)")
    before = world.requests(UPSERTS)

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert (run.records_changed, run.records_updated, run.records_created) == (3, 3, 0)
    assert world.requests(UPSERTS) == before + 1
    assert world.simulator.count("contacts") == 30
    assert world.contact("person17@example.com")["properties"]["firstname"] == "Changed"  # type: ignore[index]
    assert world.contact("person18@example.com")["properties"]["firstname"] == "First18"  # type: ignore[index]


@pytest.mark.parametrize("watermark", ["updated_at", ""], ids=["watermark", "content-hash"])
def test_a_run_with_nothing_changed_sends_no_batch(world: World, watermark: str) -> None:
    world.people(12)
    job = world.job(watermark_column=watermark)
    run_job(job.pk)
    before = world.requests()

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert run.records_changed == 0
    # Only the property definitions were read.
    assert world.requests() == before + 1
    # The write-back moved every watermark, yet a third run has nothing to send either.
    assert run_job(job.pk).records_changed == 0


def test_a_watermark_run_reads_only_rows_after_its_checkpoint(world: World) -> None:
    world.people(10)
    # No write-back columns: writing back would move the watermarks (the trigger).
    job = world.job(
        writeback_id_column="",
        writeback_synced_at_column="",
        writeback_status_column="",
        writeback_error_column="",
    )
    run_job(job.pk)
    job.refresh_from_db()
    assert job.checkpoint["push"]["key"] == ["10"]
    world.people(2, start=11)

    run = run_job(job.pk)

    assert (run.records_read, run.records_created) == (2, 2)
    job.refresh_from_db()
    assert job.checkpoint["push"]["key"] == ["12"]


def test_records_are_sent_in_batches_of_at_most_one_hundred(world: World) -> None:
    world.sql(
        "INSERT INTO people (id, email, first_name) "
        "SELECT i, 'bulk' || i || '@example.com', 'Bulk' FROM generate_series(1, 250) AS i"
    )
    job = world.job()

    run = run_job(job.pk)

    assert run.records_created == 250
    assert world.requests(UPSERTS) == 3
    assert SyncRecordState.objects.filter(job=job).count() == 250


def test_a_second_start_while_the_job_runs_ends_at_once_as_already_running(world: World) -> None:
    world.people(2)
    job = world.job()
    holder = JobLock(redis.Redis.from_url(str(settings.REDIS_URL)), job.pk)
    assert holder.acquire()
    try:
        run = run_job(job.pk)
    finally:
        holder.release()

    assert run.status == "cancelled"
    assert "Already running" in run.error
    assert world.requests() == 0
    assert run_job(job.pk).status == "succeeded"


def test_a_run_left_running_by_a_dead_worker_is_marked_interrupted(world: World) -> None:
    world.people(1)
    job = world.job()
    stale = SyncRun.objects.create(job=job, status="running")

    run_job(job.pk)

    stale.refresh_from_db()
    assert stale.status == "failed"
    assert "Interrupted" in stale.error


def test_a_job_whose_mapping_names_an_unknown_property_fails_before_reading(world: World) -> None:
    world.people(3)
    job = world.job(mappings=[("email", "email", "", {}), ("job_title", "no_such_thing", "", {})])

    run = run_job(job.pk)

    assert run.status == "failed"
    assert "no property 'no_such_thing'" in run.error
    assert run.records_read == 0
    assert world.requests(UPSERTS) == 0
