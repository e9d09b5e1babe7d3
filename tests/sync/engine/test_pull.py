"""Pull runs against the simulator: full and incremental pulls, the search cap, modes, crashes."""

from __future__ import annotations

import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from sync.engine.jobs import open_run, run_job
from sync.engine.pull import run_pull
from sync.models import SyncJob, SyncRecordState
from tests.sync.engine.conftest import World
from tests.sync.engine.test_pull_support import contacts, identity, pull_job

pytestmark = pytest.mark.usefixtures("no_overlap")


@pytest.fixture
def no_overlap() -> Any:
    with override_settings(SLUICEGATE_SYNC_PULL_OVERLAP_SECONDS=0):
        yield


def names(world: World) -> list[tuple[Any, ...]]:
    return world.rows("email, first_name, last_name, hubspot_id, sync_status")


def test_full_pull_creates_rows_and_updates_the_row_with_the_same_email(world: World) -> None:
    identity(world)
    ids = contacts(world, 3)
    world.insert([{"id": 1, "email": "Person2@Example.com", "first_name": "Old"}])
    job = pull_job(world)

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert (run.direction, run.records_read, run.records_created, run.records_updated) == (
        "pull", 3, 2, 1,
    )  # fmt: skip
    assert sorted(names(world)) == [
        ("person1@example.com", "First1", "Last1", ids[0], "synced"),
        ("person2@example.com", "First2", "Last2", ids[1], "synced"),
        ("person3@example.com", "First3", "Last3", ids[2], "synced"),
    ]
    assert world.requests("/search") == 0  # a first pull pages the list


def test_incremental_pull_reads_only_what_changed_since_the_checkpoint(world: World) -> None:
    identity(world)
    ids = contacts(world, 3)
    job = pull_job(world)
    run_job(job.pk)
    time.sleep(0.01)
    world.simulator.update("contacts", ids[1], {"firstname": "Changed"})

    second = run_job(job.pk)
    third = run_job(job.pk)

    assert second.status == "succeeded", second.error
    assert (second.records_read, second.records_updated, second.records_created) == (1, 1, 0)
    assert ("person2@example.com", "Changed") in world.rows("email, first_name")
    assert world.requests("/search") >= 1
    assert (third.records_read, third.records_updated) == (0, 0)


def test_run_sync_full_pulls_every_record_again(world: World) -> None:
    identity(world)
    contacts(world, 3)
    job = pull_job(world)
    run_job(job.pk)
    world.sql("DELETE FROM people")  # a direct database change no pull sees

    call_command("run_sync", job.name, "--no-progress", stdout=StringIO())
    assert world.rows("email") == []
    call_command("run_sync", job.name, "--full", "--no-progress", stdout=StringIO())

    assert sorted(world.rows("email")) == [(f"person{i}@example.com",) for i in (1, 2, 3)]


def test_a_pull_that_changes_nothing_writes_no_row(world: World) -> None:
    identity(world)
    contacts(world, 2)
    job = pull_job(world)
    run_job(job.pk)
    before = world.sql("SELECT id, xmin::text FROM people ORDER BY id")

    again = run_job(job.pk, full=True)

    assert (again.records_read, again.records_unchanged, again.records_updated) == (2, 2, 0)
    assert world.sql("SELECT id, xmin::text FROM people ORDER BY id") == before


def custom_properties(job: SyncJob, *definitions: tuple[str, str, str]) -> None:
    """Create custom contact properties (name, type, field type) through HubSpot's API."""
    from django.conf import settings

    from sync.hubspot.client import HubSpotClient
    from sync.hubspot.types import PropertyCreate

    with HubSpotClient(job.spec().account, redis_client=str(settings.REDIS_URL)) as client:
        for name, kind, field_type in definitions:
            client.create_property(
                "contacts",
                PropertyCreate(name, name.title(), kind, field_type, "contactinformation"),
            )


def test_values_are_converted_to_the_columns_types(world: World) -> None:
    identity(world, "ALTER TABLE people ADD COLUMN score integer, ADD COLUMN amount numeric(10, 2)")
    mappings: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
        ("email", "email", "", {}),
        ("status", "lifecyclestage", "enum_map", {"values": {"lead": "lead", "churned": "other"}}),
        ("birthday", "date_of_birth", "date_midnight_utc", {}),
        ("last_seen", "seen_at", "epoch_millis", {}),
        ("is_vip", "hs_email_optout", "boolean", {}),
        ("tags", "tag_list", "join", {"separator": ";"}),
        ("score", "score", "", {}),
        ("amount", "amount", "", {}),
    )
    job = pull_job(world, mappings=mappings, mapping_direction="pull")
    custom_properties(
        job,
        ("seen_at", "datetime", "date"),
        ("tag_list", "string", "text"),
        ("score", "number", "number"),
        ("amount", "number", "number"),
    )
    world.simulator.create(
        "contacts",
        {
            "email": "typed@example.com",
            "lifecyclestage": "other",
            "date_of_birth": "1990-05-17",
            "seen_at": "2026-03-04T05:06:07.089Z",
            "hs_email_optout": "true",
            "tag_list": "red;green",
            "score": "42",
            "amount": "1234.5",
        },
    )
    world.simulator.create("contacts", {"email": "bad@example.com", "score": "4.5"})

    run = run_job(job.pk)

    assert run.status == "partial"
    assert (run.records_created, run.records_failed) == (1, 1)
    row = world.sql(
        "SELECT status::text, birthday::text, last_seen = '2026-03-04T05:06:07.089Z'::timestamptz,"
        " is_vip, tags, score, amount::text FROM people"
    )
    assert row == [("churned", "1990-05-17", True, True, ["red", "green"], 42, "1234.50")]
    error = job.record_errors.get(resolved=False)
    assert error.category == "CONVERSION_ERROR"
    assert "score" in error.message
    assert "whole number" in error.message


def test_a_value_the_database_refuses_fails_only_its_record(world: World) -> None:
    identity(world)
    job = pull_job(
        world, mappings=(("email", "email", "", {}), ("status", "lifecyclestage", "", {}))
    )
    world.simulator.create("contacts", {"email": "ok@example.com", "lifecyclestage": "lead"})
    world.simulator.create("contacts", {"email": "no@example.com", "lifecyclestage": "customer"})
    world.simulator.create("contacts", {"email": "odd@example.com", "lifecyclestage": "other"})

    run = run_job(job.pk)

    assert (run.records_created, run.records_failed) == (2, 1)
    assert sorted(world.rows("email, status::text")) == [
        ("no@example.com", "customer"),
        ("ok@example.com", "lead"),
    ]
    assert job.record_errors.get(resolved=False).category == "DATABASE_ERROR"


def test_the_window_moves_before_the_search_cap_without_skipping_or_repeating(
    world: World,
) -> None:
    from sync.hubspot.simulator import Simulator
    from sync.hubspot.simulator.clock import ManualClock

    identity(world)
    clock = ManualClock(start=time.time())
    with Simulator(clock=clock) as simulator:
        simulator.configure(search_result_cap=50, search_limit=100_000, burst_limit=100_000)
        world.account.base_url = simulator.base_url
        world.account.save()
        # 70 records share one moment (more than a whole window), then groups of 30 and 45.
        for group, size in enumerate((70, 30, 45)):
            simulator.create_many(
                "contacts",
                [{"email": f"g{group}n{i}@example.com"} for i in range(size)],
            )
            clock.advance(1.0)
        job = pull_job(world, mappings=(("email", "email", "", {}),))
        SyncJob.objects.filter(pk=job.pk).update(checkpoint={"pull": {"since": 0, "ids": []}})

        with override_settings(SLUICEGATE_SYNC_SEARCH_CAP=50):
            run = run_job(job.pk)
        searches = sum(
            n for path, n in simulator.stats()["requests_by_path"].items() if "search" in path
        )

    assert run.status == "succeeded", run.error
    assert (run.records_read, run.records_created) == (145, 145)
    assert world.sql("SELECT count(DISTINCT email), count(*) FROM people") == [(145, 145)]
    assert searches > 145 // 50


class Crash(Exception):
    """Stands for a worker killed between two pages."""


def crash_after_first_page(run: Any) -> None:
    if run.progress_done:
        raise Crash


@pytest.mark.parametrize("incremental", [False, True])
def test_a_run_killed_between_pages_resumes_without_skip_or_repeat(
    world: World, incremental: bool
) -> None:
    identity(world)
    contacts(world, 230)
    job = pull_job(world)
    if incremental:
        SyncJob.objects.filter(pk=job.pk).update(checkpoint={"pull": {"since": 0, "ids": []}})
    first = open_run(job, "pull")

    with pytest.raises(Crash):
        run_pull(job.spec(), run=first, on_progress=crash_after_first_page)
    first.refresh_from_db()
    second = run_job(job.pk)

    page = 200 if incremental else 100
    assert first.status == "failed"
    assert first.records_created == page
    assert second.status == "succeeded", second.error
    assert (second.records_read, second.records_created) == (230 - page, 230 - page)
    assert world.sql("SELECT count(DISTINCT email), count(*) FROM people") == [(230, 230)]


def test_mirror_deletes_rows_of_archived_records_and_upsert_keeps_them(world: World) -> None:
    identity(world)
    ids = contacts(world, 3)
    mirror = pull_job(world, mode="mirror")
    run_job(mirror.pk)
    world.simulator.archive("contacts", ids[0])

    kept = run_job(mirror.pk)

    assert kept.records_deleted == 1
    assert [r[0] for r in world.rows("email")] == ["person2@example.com", "person3@example.com"]
    assert not SyncRecordState.objects.filter(job=mirror, hubspot_id=ids[0]).exists()

    mirror.mode = "upsert"
    mirror.save()
    world.simulator.archive("contacts", ids[1])
    upsert = run_job(mirror.pk, full=True)
    assert upsert.records_deleted == 0
    assert len(world.rows("email")) == 2


def test_mirror_deletes_nothing_past_the_jobs_maximum(world: World) -> None:
    identity(world)
    ids = contacts(world, 3)
    job = pull_job(world, mode="mirror", max_deletions=1)
    run_job(job.pk)
    for record in ids[:2]:
        world.simulator.archive("contacts", record)

    run = run_job(job.pk)

    assert run.status == "failed"
    assert "more than the job's maximum of 1" in run.error
    assert len(world.rows("email")) == 3


def test_pull_objects_applies_just_those_records(world: World) -> None:
    from sync.engine.jobs import pull_job_objects

    identity(world)
    ids = contacts(world, 3)
    job = pull_job(world, mode="mirror")
    run_job(job.pk)
    world.simulator.update("contacts", ids[0], {"firstname": "Webhook"})
    world.simulator.update("contacts", ids[1], {"firstname": "NotAsked"})
    world.simulator.archive("contacts", ids[2])

    run = pull_job_objects(job.pk, [ids[0], ids[2]])

    assert (run.records_updated, run.records_deleted) == (1, 1)
    assert world.rows("email, first_name") == [
        ("person1@example.com", "Webhook"),
        ("person2@example.com", "First2"),
    ]
    assert world.requests("batch/read") == 1


def test_a_run_killed_after_writing_a_page_but_before_recording_it_rewrites_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.engine import runs

    identity(world)
    contacts(world, 150)
    job = pull_job(world)
    save = runs.save_checkpoint
    calls: list[int] = []

    def dies_on_the_first_page(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise Crash  # the rows are committed, their record is not
        save(*args, **kwargs)

    monkeypatch.setattr(runs, "save_checkpoint", dies_on_the_first_page)
    with pytest.raises(Crash):
        run_pull(job.spec(), run=open_run(job, "pull"))
    assert world.sql("SELECT count(*) FROM people") == [(100,)]
    versions = world.sql("SELECT id, xmin::text FROM people ORDER BY id")

    again = run_job(job.pk)

    assert again.status == "succeeded", again.error
    assert (again.records_unchanged, again.records_created) == (100, 50)
    assert world.sql("SELECT id, xmin::text FROM people ORDER BY id")[:100] == versions
    assert world.sql("SELECT count(DISTINCT email), count(*) FROM people") == [(150, 150)]


def test_a_dry_run_pull_previews_and_writes_nothing(world: World) -> None:
    identity(world)
    ids = contacts(world, 2)
    job = pull_job(world)

    run = run_job(job.pk, dry_run=True)

    assert run.status == "succeeded", run.error
    assert world.rows("email") == []
    assert sorted(entry["id"] for entry in run.preview) == sorted(ids)
    assert run.preview[0]["values"]["sync_status"] == "synced"
    assert SyncJob.objects.get(pk=job.pk).checkpoint == {}
