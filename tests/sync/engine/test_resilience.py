"""Runs under pressure: 429 storms, 5xx and dropped connections, ambiguous creates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sync.engine.jobs import run_job
from sync.engine.push import run_push
from sync.hubspot.errors import HubSpotUnavailable
from sync.models import RunStatus, SyncJob, SyncRecordError, SyncRun
from tests.sync.engine.conftest import World, fast

BY_ID: dict[str, Any] = {
    "match_column": "hubspot_id",
    "match_property": "hs_object_id",
    "writeback_id_column": "",
}


def push_now(job: SyncJob, *, batch_size: int = 100, retry_failed: bool = False) -> SyncRun:
    """Run the job in this process with short timeouts and backoff, and `batch_size` batches."""
    return push_spec(job, batch_size=batch_size, retry_failed=retry_failed)


def push_spec(
    job: SyncJob, *, batch_size: int = 100, window: float = 0.0, retry_failed: bool = False
) -> SyncRun:
    spec = fast(job.spec())
    account = replace(spec.account, batch_size=batch_size)
    if window:
        account = replace(account, burst_window=window)
    spec = replace(spec, account=account)
    run = SyncRun.objects.create(job=job, status=RunStatus.QUEUED)
    return run_push(spec, run=run, retry_failed=retry_failed)


def test_a_429_storm_is_absorbed_with_no_failed_record_and_within_the_limit(world: World) -> None:
    world.simulator.configure(
        burst_limit=5, burst_window_seconds=0.5, fault_rate=0.15, fault_modes=["429"], fault_seed=5
    )
    world.account.burst_limit = 10
    world.account.save()
    world.people(40)
    job = world.job()

    run = push_spec(job, batch_size=5, window=0.5)

    assert (run.status, run.records_failed, run.records_created) == ("succeeded", 0, 40)
    stats = world.simulator.stats()
    injected = stats["faults"]["injected"]["429"]
    assert injected >= 2
    # Injected 429s and any of the simulator's own limit: all absorbed.
    assert run.rate_limited == injected + stats["rate_limited"]
    assert stats["max_requests_in_window"] <= 10
    assert world.simulator.count("contacts") == 40
    assert world.requests("batch/upsert") == 8 + run.rate_limited


def test_5xx_answers_and_dropped_connections_are_retried(world: World) -> None:
    world.simulator.configure(
        fault_rate=0.4,
        fault_modes=["502", "503", "504", "drop"],
        fault_seed=7,
        fault_retry_after_seconds=0,
    )
    world.people(40)
    job = world.job()

    run = push_now(job, batch_size=5)

    assert (run.status, run.records_failed, run.records_created) == ("succeeded", 0, 40)
    injected = world.simulator.stats()["faults"]["injected"]
    assert sum(injected.values()) >= 3
    assert run.requests_sent == 1 + 8 + sum(injected.values())
    assert world.simulator.count("contacts") == 40


def test_a_run_hubspot_stays_unavailable_for_fails_clearly_and_keeps_its_checkpoint(
    world: World,
) -> None:
    world.people(10)
    job = world.job()
    push_now(job, batch_size=5)
    world.sql("UPDATE people SET first_name = 'Later'")
    world.simulator.configure(
        fault_rate=1.0, fault_modes=["503"], fault_paths="batch", fault_retry_after_seconds=0
    )

    with pytest.raises(HubSpotUnavailable):
        push_now(job, batch_size=5)
    failed = SyncRun.objects.filter(job=job).order_by("-pk").first()
    assert failed is not None
    assert failed.status == "failed"
    assert "503" in failed.error
    world.simulator.configure(fault_rate=0.0)
    again = push_now(job, batch_size=5)
    assert (again.status, again.records_updated) == ("succeeded", 10)


def test_a_create_cut_off_after_hubspot_applied_it_is_adopted_not_duplicated(world: World) -> None:
    world.simulator.configure(fault_script=["drop_after"], fault_paths="batch/create")
    world.people(4)
    job = world.job(mode="create_only")

    run = push_now(job)

    assert run.status == "succeeded", run.error
    # The first attempt created them; the second found them by email (409) and adopted them.
    assert world.simulator.count("contacts") == 4
    assert world.requests("batch/create") == 2
    assert all(hubspot_id for _, hubspot_id, _, _ in world.rows())


def test_a_create_cut_off_without_a_unique_value_is_never_sent_twice(world: World) -> None:
    world.simulator.configure(fault_script=["drop_after"], fault_paths="batch/create")
    world.people(3)
    job = world.job(**BY_ID, mappings=[("first_name", "firstname", "", {})])

    run = push_now(job)

    assert (run.status, run.records_failed) == ("partial", 3)
    assert world.simulator.count("contacts") == 3  # created once, by the cut-off request
    errors = SyncRecordError.objects.filter(job=job, resolved=False)
    assert {error.category for error in errors} == {"AMBIGUOUS_CREATE"}
    job.refresh_from_db()
    assert "pending_creates" not in job.checkpoint.get("push", {})
    # A normal run does not create them again; an admin's retry does.
    assert push_now(job).records_failed == 3
    assert world.simulator.count("contacts") == 3
    assert world.requests("batch/create") == 1
    retried = push_now(job, retry_failed=True)
    assert (retried.records_created, retried.records_failed) == (3, 0)


def test_creates_interrupted_before_they_were_recorded_are_not_sent_again(world: World) -> None:
    world.people(2)
    job = world.job(**BY_ID, mappings=[("first_name", "firstname", "", {})])
    # What a run killed between announcing its creates and recording them leaves behind.
    job.checkpoint = {"push": {"pending_creates": ["1"]}}
    job.save()

    run = run_job(job.pk)

    assert (run.records_created, run.records_failed) == (1, 1)
    error = SyncRecordError.objects.get(job=job, resolved=False)
    assert (error.record_key, error.category) == ("1", "AMBIGUOUS_CREATE")
    job.refresh_from_db()
    assert "pending_creates" not in job.checkpoint["push"]
