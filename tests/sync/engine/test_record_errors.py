"""Per-record failures: pre-empted validation, HubSpot's own refusals (207, 409), retries, resolution."""

from __future__ import annotations

from typing import Any

import pytest

from sync.engine.jobs import run_job
from sync.models import SyncRecordError
from tests.sync.engine.conftest import World

BY_ID: dict[str, Any] = {
    "match_column": "hubspot_id",
    "match_property": "hs_object_id",
    "writeback_id_column": "",
}


def open_errors(job_id: int) -> dict[str, SyncRecordError]:
    return {e.record_key: e for e in SyncRecordError.objects.filter(job_id=job_id, resolved=False)}


def test_invalid_records_become_errors_without_costing_a_request(world: World) -> None:
    world.insert(
        [
            {"id": 1, "email": "not-an-email", "first_name": "A"},
            {"id": 2, "email": "ok@example.com", "first_name": "B"},
            {"id": 3, "email": "c@example.com", "last_seen": "2026-01-01 10:00:00+00"},
        ]
    )
    job = world.job(
        mappings=[
            ("email", "email", "", {}),
            ("first_name", "firstname", "", {}),
            # A timestamp that is not midnight, for a date property: HubSpot refuses it.
            ("last_seen", "date_of_birth", "epoch_millis", {}),
        ]
    )

    run = run_job(job.pk)

    assert (run.status, run.records_created, run.records_failed) == ("partial", 1, 2)
    errors = open_errors(job.pk)
    assert set(errors) == {"1", "3"}
    assert errors["1"].category == errors["3"].category == "VALIDATION_ERROR"
    assert "INVALID_EMAIL" in errors["1"].message
    assert "not midnight" in errors["3"].message
    assert errors["1"].payload["properties"]["email"] == "not-an-email"
    # Only the valid record was sent.
    assert world.simulator.count("contacts") == 1
    assert world.requests("batch/upsert") == 1
    assert world.rows()[0][2] == "error"
    assert "INVALID_EMAIL" in world.rows()[0][3]


def test_a_batch_of_only_invalid_records_sends_nothing(world: World) -> None:
    world.insert([{"id": i, "email": f"broken{i}"} for i in range(1, 4)])
    job = world.job()

    run = run_job(job.pk)

    assert (run.status, run.records_failed) == ("partial", 3)
    assert world.requests("batch/") == 0


def test_a_record_fixed_later_has_its_error_resolved(world: World) -> None:
    world.insert([{"id": 1, "email": "broken"}])
    job = world.job()
    run_job(job.pk)
    again = run_job(job.pk)
    assert open_errors(job.pk)["1"].attempts == 2
    assert again.records_failed == 1

    world.sql("UPDATE people SET email = 'fixed@example.com'")
    run = run_job(job.pk)

    assert (run.status, run.records_created) == ("succeeded", 1)
    assert open_errors(job.pk) == {}
    assert SyncRecordError.objects.get(job=job).resolved
    assert world.rows("sync_status, sync_error") == [("synced", None)]


def test_hubspot_refusals_are_recorded_per_record_while_batch_mates_succeed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot's rules can go beyond what the engine checks (e.g. admin validation rules)."""
    monkeypatch.setattr("sync.engine.decide.check_record", lambda properties, definitions: None)
    world.insert(
        [
            {"id": 1, "email": "one@example.com"},
            {"id": 2, "email": "two@example"},
            {"id": 3, "email": "three@example.com"},
        ]
    )
    job = world.job()

    run = run_job(job.pk)

    assert (run.records_created, run.records_failed) == (2, 1)
    # One request: HubSpot answered 207 and only the bad record failed.
    assert world.requests("batch/upsert") == 1
    assert world.simulator.stats()["responses_by_status"].get("207") == 1
    error = open_errors(job.pk)["2"]
    assert error.category == "VALIDATION_ERROR"
    assert "INVALID_EMAIL" in error.message
    assert [row[2] for row in world.rows()] == ["synced", "error", "synced"]


def test_a_409_conflict_fails_only_its_record(world: World) -> None:
    world.people(3)
    job = world.job(**BY_ID)
    run_job(job.pk)
    # Row 2 takes row 1's email: HubSpot keeps emails unique and answers 409.
    world.sql("UPDATE people SET email = 'person1@example.com' WHERE id = 2")
    world.sql("UPDATE people SET first_name = 'Renamed' WHERE id = 3")

    run = run_job(job.pk)

    assert (run.records_updated, run.records_failed) == (1, 1)
    error = open_errors(job.pk)["2"]
    assert error.category == "CONFLICT"
    assert "already exists" in error.message
    assert world.contact("person3@example.com")["properties"]["firstname"] == "Renamed"  # type: ignore[index]


def test_records_hubspot_no_longer_has_fail_as_object_not_found(world: World) -> None:
    world.people(3)
    job = world.job(**BY_ID)
    run_job(job.pk)
    gone = world.rows("hubspot_id")[0][0]
    world.simulator.archive("contacts", gone)
    world.sql("UPDATE people SET first_name = 'Again'")

    run = run_job(job.pk)

    assert (run.records_updated, run.records_failed) == (2, 1)
    assert open_errors(job.pk)["1"].category == "OBJECT_NOT_FOUND"
    assert world.simulator.count("contacts") == 2


def test_duplicate_match_keys_in_a_run_send_only_the_first(world: World) -> None:
    world.insert(
        [
            {"id": 1, "email": "dup@example.com", "first_name": "First"},
            {"id": 2, "email": "DUP@example.com ", "first_name": "Second"},
        ]
    )
    job = world.job()

    run = run_job(job.pk)

    assert (run.records_created, run.records_failed) == (1, 1)
    assert open_errors(job.pk)["2"].category == "DUPLICATE_MATCH_KEY"
    assert world.contact("dup@example.com")["properties"]["firstname"] == "First"  # type: ignore[index]


def test_retry_failed_pushes_only_the_failed_records(world: World) -> None:
    world.people(4)
    job = world.job(mode="update_only")
    world.simulator.create("contacts", {"email": "person1@example.com"})
    first = run_job(job.pk)
    assert first.records_failed == 3
    world.simulator.create("contacts", {"email": "person3@example.com"})
    world.sql("UPDATE people SET first_name = 'Later' WHERE id = 1")

    run = run_job(job.pk, retry_failed=True)

    # Row 1 changed but had no error: a retry leaves it to the next normal run.
    assert (run.records_read, run.records_updated, run.records_failed) == (3, 1, 2)
    assert set(open_errors(job.pk)) == {"2", "4"}
    assert world.contact("person1@example.com")["properties"]["firstname"] == "First1"  # type: ignore[index]
    assert world.contact("person3@example.com")["properties"]["firstname"] == "First3"  # type: ignore[index]
