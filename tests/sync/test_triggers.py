"""Pushes triggered by API writes: written records reach HubSpot within seconds, debounced.

A write leaves its records' keys in Redis and at most one `push_records`
message per job in the broker; the end-to-end tests run those messages as
a worker would (`work_off`), each once its countdown is over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from sync.engine.jobs import run_job
from sync.engine.lock import JobLock
from sync.keys import sync_key
from sync.models import SyncJob, SyncRun
from sync.tasks import push_records
from sync.triggers import KEYS, VERSION_KEY, forget_tables, take_keys
from tests.queues import TEST_QUEUE
from tests.services.api.conftest import grant
from tests.services.scripting.test_background import broker, queued_tasks
from tests.sync.engine.conftest import World, source_database, world
from tests.sync.test_webhooks import work_off

__all__ = ["broker", "source_database", "world"]  # fixtures used here

PUSH_TASK = "sync.tasks.push_records"
ALL_VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@pytest.fixture(autouse=True)
def _fresh_state(settings: Any) -> Iterator[None]:
    """No lookup held from another test, no keys or pending flags left in Redis; short debounce."""
    settings.SLUICEGATE_SYNC_DEBOUNCE_SECONDS = 0.5
    forget_tables()
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    for key in client.scan_iter(match=sync_key("push:*")):
        client.delete(key)
    yield
    forget_tables()
    client.close()


class Api:
    """Calls the `crm` service's people table with an API key allowed every verb."""

    def __init__(self, client: Client, world: World) -> None:
        self.client = client
        self.key = grant(world.service, [{"component": "_table/people", "verbs": ALL_VERBS}]).key

    def call(self, verb: str, path: str, body: Any = None) -> Any:
        answer = self.client.generic(
            verb,
            f"/api/v2/crm/_table/people{path}",
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers={"X-API-Key": self.key},
        )
        assert answer.status_code == 200, answer.content
        return answer.json()


@pytest.fixture
def api(world: World, client: Client) -> Api:
    return Api(client, world)


def person(i: int, **fields: Any) -> dict[str, Any]:
    return {"id": i, "email": f"p{i}@example.com", "first_name": f"P{i}", **fields}


def pushes(connection: redis.Redis) -> list[list[Any]]:
    return [args for name, args, _ in queued_tasks(connection) if name == PUSH_TASK]


def waiting_keys(job: SyncJob) -> set[str]:
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    try:
        members: set[bytes] = client.smembers(sync_key(KEYS, job=job.pk))  # type: ignore[assignment]  # bytes without decode_responses
        return {key.decode() for key in members}
    finally:
        client.close()


# --- what a write queues -------------------------------------------------------------


def test_writes_queue_one_push_per_job_with_every_written_key(
    world: World, api: Api, broker: redis.Redis
) -> None:
    job = world.job()

    api.call("POST", "", {"resource": [person(1), person(2)]})
    api.call("PATCH", "/2", {"first_name": "Two"})
    api.call("PATCH", "", {"resource": [{"id": 1, "last_name": "One"}]})

    assert pushes(broker) == [[job.pk]]
    assert waiting_keys(job) == {"1", "2"}


def test_tables_no_sending_job_pushes_queue_nothing(
    world: World, api: Api, broker: redis.Redis
) -> None:
    world.job(name="pulls", direction="pull")
    world.job(name="off", enabled=False)
    world.job(name="dry", dry_run=True)

    api.call("POST", "", {"resource": [person(1)]})

    assert pushes(broker) == []


def test_a_job_saved_after_a_write_is_seen_by_the_next_write(
    world: World, api: Api, broker: redis.Redis
) -> None:
    api.call("POST", "", {"resource": [person(1)]})
    assert pushes(broker) == []

    job = world.job()
    api.call("PATCH", "/1", {"first_name": "Again"})

    assert pushes(broker) == [[job.pk]]
    job.enabled = False
    job.save()
    broker.delete(TEST_QUEUE)
    api.call("PATCH", "/1", {"first_name": "Off"})
    assert pushes(broker) == []


def test_a_job_saved_by_another_process_is_seen_once_the_published_version_moves(
    world: World, api: Api, broker: redis.Redis, settings: Any
) -> None:
    settings.SLUICEGATE_SYNC_JOBS_CHECK_SECONDS = 0.2
    api.call("POST", "", {"resource": [person(1)]})  # this process loads its lookup
    # Saved elsewhere: no signal reaches this process.
    [job] = SyncJob.objects.bulk_create(
        [
            SyncJob(
                name="elsewhere",
                account=world.account,
                service=world.service,
                table="people",
                match_column="email",
            )
        ]
    )
    time.sleep(0.3)
    api.call("PATCH", "/1", {"first_name": "Unseen"})
    assert pushes(broker) == []

    try:  # what the other process does when its transaction commits
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.add(VERSION_KEY, 1, timeout=None)
    time.sleep(0.3)
    api.call("PATCH", "/1", {"first_name": "Seen"})

    assert pushes(broker) == [[job.pk]]


def test_deletes_queue_a_whole_push_for_mirror_jobs_only(
    world: World, api: Api, broker: redis.Redis
) -> None:
    world.insert([person(1), person(2)])
    upsert = world.job(name="upserts")
    mirror = world.job(name="mirrors", mode="mirror")

    api.call("DELETE", "/1")

    assert pushes(broker) == [[mirror.pk]]
    assert waiting_keys(mirror) == {"*"}
    assert waiting_keys(upsert) == set()


def test_a_two_way_job_runs_whole_so_its_conflict_policy_sees_both_sides(
    world: World, api: Api, broker: redis.Redis
) -> None:
    job = world.job(name="both-ways", direction="both")

    api.call("POST", "", {"resource": [person(1)]})

    assert pushes(broker) == [[job.pk]]
    assert waiting_keys(job) == {"*"}


def test_a_write_succeeds_when_redis_is_down(
    world: World, api: Api, broker: redis.Redis, settings: Any
) -> None:
    world.job()
    working = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    try:
        answer = api.call("POST", "", {"resource": [person(1)]})
    finally:
        settings.REDIS_URL = working

    assert answer == {"resource": [{"id": 1}]}
    assert world.rows("id, email") == [(1, "p1@example.com")]
    assert pushes(broker) == []


# --- end to end ----------------------------------------------------------------------


def test_written_records_reach_hubspot_within_seconds_in_one_debounced_run(
    world: World, api: Api, broker: redis.Redis
) -> None:
    world.insert([person(9)])  # written directly: left to the schedule
    job = world.job()

    started = time.monotonic()
    api.call("POST", "", {"resource": [person(1), person(2), person(3)]})
    api.call("PATCH", "/2", {"first_name": "Second"})
    api.call("PATCH", "", {"resource": [{"id": 3, "last_name": "Third"}]})
    assert pushes(broker) == [[job.pk]]

    work_off(broker, lambda: world.contact("p3@example.com") is not None, timeout=10)

    assert time.monotonic() - started < 5
    assert world.contact("p1@example.com")["properties"]["firstname"] == "P1"  # type: ignore[index]
    assert world.contact("p2@example.com")["properties"]["firstname"] == "Second"  # type: ignore[index]
    assert world.contact("p3@example.com")["properties"]["lastname"] == "Third"  # type: ignore[index]
    assert world.contact("p9@example.com") is None
    [run] = SyncRun.objects.filter(job=job)
    assert (run.status, run.records_created, run.records_read) == ("succeeded", 3, 3)
    assert world.rows("id, sync_status") == [
        (1, "synced"),
        (2, "synced"),
        (3, "synced"),
        (9, None),
    ]


def test_a_later_write_pushes_only_its_record_and_the_schedule_sends_nothing_again(
    world: World, api: Api, broker: redis.Redis
) -> None:
    job = world.job()
    api.call("POST", "", {"resource": [person(1), person(2)]})
    work_off(broker, lambda: world.contact("p2@example.com") is not None)
    before = world.requests("/batch/")

    api.call("PATCH", "/1", {"first_name": "Changed"})
    work_off(broker, lambda: SyncRun.objects.filter(job=job).count() == 2)

    assert world.contact("p1@example.com")["properties"]["firstname"] == "Changed"  # type: ignore[index]
    assert world.requests("/batch/") == before + 1
    latest = SyncRun.objects.filter(job=job).first()
    assert latest is not None
    assert (latest.records_read, latest.records_updated) == (1, 1)
    # The scheduled push finds nothing left to send.
    scheduled = run_job(job.pk)
    assert (scheduled.status, scheduled.records_changed) == ("succeeded", 0)
    assert world.requests("/batch/") == before + 1


def test_keys_wait_while_another_run_holds_the_job_and_are_pushed_after(
    world: World, api: Api, broker: redis.Redis
) -> None:
    job = world.job()
    api.call("POST", "", {"resource": [person(1)]})
    [[job_id]] = pushes(broker)
    connection = redis.Redis.from_url(str(settings.REDIS_URL))
    lock = JobLock(connection, job.pk)
    assert lock.acquire()
    try:
        run_id = push_records.apply(args=(job_id,), task_id="first").get()
    finally:
        lock.release()
        connection.close()

    assert SyncRun.objects.get(pk=run_id).status == "cancelled"
    assert waiting_keys(job) == {"1"}
    # A new message was queued for the keys given back (after the one just run).
    assert pushes(broker) == [[job.pk], [job.pk]]
    broker.delete(TEST_QUEUE)
    push_records.apply(args=(job_id,), task_id="second").get()
    assert world.contact("p1@example.com") is not None
    assert waiting_keys(job) == set()


def test_a_task_delivered_again_after_a_crash_pushes_the_keys_it_had_taken(
    world: World, api: Api, broker: redis.Redis
) -> None:
    job = world.job()
    api.call("POST", "", {"resource": [person(1), person(2)]})
    # The first delivery took the keys, then its worker died before pushing them.
    assert take_keys(job.pk, "redelivered") == ["1", "2"]
    assert waiting_keys(job) == set()

    push_records.apply(args=(job.pk,), task_id="redelivered").get()

    assert world.contact("p1@example.com") is not None
    assert world.contact("p2@example.com") is not None
