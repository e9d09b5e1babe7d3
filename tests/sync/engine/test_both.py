"""Two-way runs against the simulator: echo suppression (no ping-pong) and conflicts by policy."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import override_settings

from sync.engine.jobs import run_job
from sync.models import SyncJob, SyncRun
from tests.sync.engine.conftest import World
from tests.sync.engine.test_pull_support import identity, pull_job, row_versions, writes


@pytest.fixture(autouse=True)
def no_overlap() -> Any:
    with override_settings(SLUICEGATE_SYNC_PULL_OVERLAP_SECONDS=0):
        yield


def two_way(world: World, **fields: Any) -> SyncJob:
    """A two-way job over three people, run once (HubSpot then has them all)."""
    identity(world)
    world.insert(
        [
            {"id": i, "email": f"person{i}@example.com", "first_name": f"First{i}",
             "last_name": f"Last{i}"}
            for i in (1, 2, 3)
        ]
    )  # fmt: skip
    job = pull_job(world, direction="both", **fields)
    first = run_job(job.pk)
    assert first.status == "succeeded", first.error
    assert first.records_created == 3
    return job


def hubspot_id(world: World, person: int) -> str:
    return str(world.sql("SELECT hubspot_id FROM people WHERE id = %s", [person])[0][0])


def crm_value(world: World, record: str, name: str) -> str | None:
    """The value of property `name` of contact `record` in the simulator."""
    found = world.simulator.get("contacts", record)
    assert found is not None
    value = found["properties"].get(name)
    return None if value is None else str(value)


def quiet_run(world: World, job: SyncJob) -> SyncRun:
    """A run that must send no write to HubSpot and write no row."""
    sent, versions = writes(world), row_versions(world)
    run = run_job(job.pk)
    assert run.status == "succeeded", run.error
    assert writes(world) == sent
    assert row_versions(world) == versions
    return run


def test_a_run_after_the_first_sends_and_writes_nothing(world: World) -> None:
    job = two_way(world)

    run = quiet_run(world, job)

    assert (run.direction, run.records_created, run.records_updated) == ("both", 0, 0)


def test_a_postgres_edit_is_pushed_once_and_not_pulled_back(world: World) -> None:
    job = two_way(world)
    quiet_run(world, job)
    world.sql("UPDATE people SET first_name = 'Edited' WHERE id = 2")

    sent = writes(world)
    first = run_job(job.pk)

    assert first.status == "succeeded", first.error
    assert first.records_updated == 1
    assert writes(world) == sent + 1
    assert crm_value(world, hubspot_id(world, 2), "firstname") == "Edited"
    second = quiet_run(world, job)
    assert second.conflicts == 0


def test_a_hubspot_edit_is_pulled_once_and_not_pushed_back(world: World) -> None:
    job = two_way(world)
    quiet_run(world, job)
    world.simulator.update("contacts", hubspot_id(world, 3), {"lastname": "FromCRM"})

    sent = writes(world)
    first = run_job(job.pk)

    assert first.status == "succeeded", first.error
    assert writes(world) == sent
    assert world.sql("SELECT last_name FROM people WHERE id = 3") == [("FromCRM",)]
    second = quiet_run(world, job)
    assert second.records_read == 0


def edit_both(world: World, *, postgres_last: bool) -> str:
    """Change person 1 on both sides, the later side last; return its HubSpot id."""
    record = hubspot_id(world, 1)

    def hubspot() -> None:
        world.simulator.update("contacts", record, {"firstname": "CRM"})

    def postgres() -> None:
        world.sql("UPDATE people SET first_name = 'Database' WHERE id = 1")

    first, second = (hubspot, postgres) if postgres_last else (postgres, hubspot)
    first()
    time.sleep(0.05)
    second()
    return record


@pytest.mark.parametrize(
    ("policy", "postgres_last", "winner"),
    [
        ("newest", True, "postgres"),
        ("newest", False, "hubspot"),
        ("hubspot", True, "hubspot"),
        ("postgres", False, "postgres"),
    ],
)
def test_a_record_changed_on_both_sides_is_settled_by_the_policy(
    world: World, policy: str, postgres_last: bool, winner: str
) -> None:
    job = two_way(world, conflict_policy=policy)
    record = edit_both(world, postgres_last=postgres_last)

    run = run_job(job.pk)

    expected = "Database" if winner == "postgres" else "CRM"
    assert run.status == "succeeded", run.error
    assert run.conflicts == 1
    assert [(r["hubspot_id"], r["winner"]) for r in run.resolutions] == [(record, winner)]
    assert run.resolutions[0]["fields"] == {"firstname": {"postgres": "Database", "hubspot": "CRM"}}
    assert world.sql("SELECT first_name FROM people WHERE id = 1") == [(expected,)]
    assert crm_value(world, record, "firstname") == expected
    again = quiet_run(world, job)
    assert again.conflicts == 0


def test_newest_without_a_watermark_column_lets_hubspot_win(world: World) -> None:
    job = two_way(world, conflict_policy="newest", watermark_column="")
    edit_both(world, postgres_last=True)

    run = run_job(job.pk)

    assert run.conflicts == 1
    assert run.resolutions[0]["winner"] == "hubspot"
    assert "no watermark" in run.resolutions[0]["reason"]
    assert world.sql("SELECT first_name FROM people WHERE id = 1") == [("CRM",)]


def test_the_echo_of_our_own_push_is_no_conflict(world: World) -> None:
    # HubSpot's lastmodifieddate moved for our own push (the first run's creates, then
    # "Edited"), and the row changed again since each time. Taken for HubSpot changes,
    # these echoes would conflict, and HubSpot (by policy) would overwrite the newer row
    # with the older value.
    job = two_way(world, conflict_policy="hubspot")
    record = hubspot_id(world, 2)
    for value in ("Edited", "Edited again"):
        world.sql("UPDATE people SET first_name = %s WHERE id = 2", [value])

        run = run_job(job.pk)

        assert run.conflicts == 0
        assert run.records_updated == 1
        assert world.sql("SELECT first_name FROM people WHERE id = 2") == [(value,)]
        assert crm_value(world, record, "firstname") == value


def test_a_two_way_job_whose_mappings_all_push_runs_as_a_push(world: World) -> None:
    world.people(2)
    job = pull_job(world, direction="both", mapping_direction="push")

    run = run_job(job.pk)

    assert run.status == "succeeded", run.error
    assert (run.direction, run.records_created) == ("both", 2)
    assert world.requests("/search") == 0


def test_a_targeted_pull_of_a_job_whose_mappings_all_push_does_nothing(world: World) -> None:
    from sync.engine.jobs import pull_job_objects

    world.people(1)
    job = pull_job(world, direction="both", mapping_direction="push")

    run = pull_job_objects(job.pk, ["1"])

    assert run.status == "succeeded", run.error
    assert run.requests_sent == 0
