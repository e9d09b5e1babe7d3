"""Run alerting: a run that makes its job unhealthy fires `sync.{job}.failed` for event scripts.

The scripts are queued through the real broker: the finished run leaves a
task message in Redis, and the test runs that very message as a worker
would; the script records what it saw in its `platform.store`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from config.celery import app as celery_app
from rbac.models import AccessRule, App, Role
from services.scripting.host import store_key
from services.scripting.models import EventScript, ScriptRun
from services.scripting.sample import sample_run
from services.scripting.state import forget_scripts, script_info
from sync.engine import runs
from sync.engine.jobs import run_job
from sync.engine.types import Counts
from sync.hubspot.transport import ClientStats
from sync.models import RunStatus, SyncRun
from tests.queues import TEST_QUEUE as QUEUE
from tests.services.scripting.conftest import clear_script_store
from tests.sync.engine.conftest import World, source_database, world
from tests.sync.test_admin import health_cells, text_of

__all__ = ["source_database", "world"]  # fixtures of the engine tests, used here

TASK = "services.scripting.tasks.run_queued_script"
RECORD = """
platform.store.set("seen", (platform.store.get("seen") or []) + [{
    "job": event["job"], "run_id": event["run_id"], "status": event["status"],
    "direction": event["direction"], "error": event["error"], "failed": event["counts"]["failed"],
}])
"""
Captured = Callable[..., Any]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The Celery broker's Redis, with the default queue emptied before and after."""
    connection = redis.Redis.from_url(str(settings.CELERY_BROKER_URL))
    connection.delete(QUEUE)
    forget_scripts()
    clear_script_store()
    yield connection
    connection.delete(QUEUE)
    connection.close()
    forget_scripts()


def script(name: str, source: str = RECORD) -> EventScript:
    """Save a script as the admin does (validated)."""
    made = EventScript(name=name, source=source)
    made.full_clean()
    made.save()
    forget_scripts()
    return made


def work_off(broker: redis.Redis) -> list[tuple[str, str]]:
    """Run the queued script tasks as a worker would; return (event name, outcome) of each."""
    done = []
    for raw in reversed(broker.lrange(QUEUE, 0, -1)):
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert message["headers"]["task"] == TASK
        outcome = celery_app.tasks[TASK].apply(args=tuple(args), kwargs=kwargs).get()
        done.append((args[1], outcome))
    broker.delete(QUEUE)
    return done


def seen(made: EventScript) -> list[dict[str, Any]]:
    return list(cache.get(store_key(made.pk, "seen")) or [])


@pytest.mark.parametrize("name", ["sync.people.failed", "sync.{job_name}.failed"])
def test_sync_failed_names_are_valid_script_names(name: str, db: None) -> None:
    EventScript(name=name, source="pass").full_clean()


@pytest.mark.parametrize("name", ["sync.people.broken", "sync.pe ople.failed", "sync..failed"])
def test_other_sync_names_are_refused(name: str, db: None) -> None:
    with pytest.raises(ValidationError) as raised:
        EventScript(name=name, source="pass").full_clean()
    assert "name" in raised.value.message_dict


def test_a_failed_run_fires_its_scripts_in_a_worker_after_the_run(
    world: World, broker: redis.Redis, django_capture_on_commit_callbacks: Captured
) -> None:
    generic, specific = script("sync.{job_name}.failed"), script("sync.people.failed")
    other = script("sync.other.failed")
    job = world.job(table="no_such_table")

    with django_capture_on_commit_callbacks(execute=True):
        run = run_job(job.pk)

    assert run.status == "failed"
    # The run is over and its scripts have not run: they wait in the broker.
    assert not ScriptRun.objects.exists()
    assert work_off(broker) == [("sync.{job_name}.failed", "ok"), ("sync.people.failed", "ok")]
    expected = {
        "job": "people",
        "run_id": run.pk,
        "status": "failed",
        "direction": "push",
        "error": run.error,
        "failed": 0,
    }
    assert "no table or view 'no_such_table'" in run.error
    assert seen(generic) == seen(specific) == [expected]
    assert seen(other) == []


CALL_API = """
answer = platform.api.post("crm/_table/people", {"resource": [
    {"id": 99, "email": "alert-" + str(event["run_id"]) + "@" + event["job"] + ".example.com"}
]})
platform.log(answer["status_code"])
"""


def test_a_failed_run_script_calls_the_api_as_its_app(
    world: World, broker: redis.Redis, django_capture_on_commit_callbacks: Captured
) -> None:
    role = Role.objects.create(name="alerts")
    AccessRule.objects.create(
        role=role,
        service=world.service,
        component="_table/people",
        verbs=["POST"],
        requestors=["SCRIPT"],
    )
    made = EventScript(
        name="sync.people.failed",
        source=CALL_API,
        run_as_app=App.objects.create(name="alerts", default_role=role),
    )
    made.full_clean()
    made.save()
    forget_scripts()
    job = world.job(table="no_such_table")

    with django_capture_on_commit_callbacks(execute=True):
        run = run_job(job.pk)

    assert work_off(broker) == [("sync.people.failed", "ok")]
    assert ScriptRun.objects.get().logs == "200"
    assert world.sql("SELECT email FROM people") == [(f"alert-{run.pk}@people.example.com",)]


def test_a_succeeded_run_fires_nothing(
    world: World, broker: redis.Redis, django_capture_on_commit_callbacks: Captured
) -> None:
    made = script("sync.people.failed")
    world.people(2)
    job = world.job()

    with django_capture_on_commit_callbacks(execute=True):
        run = run_job(job.pk)

    assert run.status == "succeeded"
    assert work_off(broker) == []
    assert seen(made) == []


@pytest.mark.parametrize(("threshold", "fires"), [(1, True), (2, False), (0, False)])
def test_failed_records_fire_only_past_the_jobs_error_threshold(
    world: World,
    broker: redis.Redis,
    django_capture_on_commit_callbacks: Captured,
    threshold: int,
    fires: bool,
) -> None:
    made = script("sync.people.failed")
    world.insert([{"id": i, "email": f"not-an-email-{i}"} for i in (1, 2)])
    world.people(1, start=3)
    job = world.job(error_threshold=threshold)

    with django_capture_on_commit_callbacks(execute=True):
        run = run_job(job.pk)

    assert (run.status, run.records_failed) == ("partial", 2)
    assert work_off(broker) == ([("sync.people.failed", "ok")] if fires else [])
    assert [entry["failed"] for entry in seen(made)] == ([2] if fires else [])


def test_a_failed_pull_run_is_unhealthy_and_fires_with_its_direction(
    world: World,
    broker: redis.Redis,
    django_capture_on_commit_callbacks: Captured,
    admin_client: Client,
) -> None:
    made = script("sync.people.failed")
    job = world.job(direction="pull")
    run = SyncRun.objects.create(job=job, direction="pull", status=RunStatus.RUNNING)

    with django_capture_on_commit_callbacks(execute=True):
        runs.run_finished(
            run, Counts(read=5), ClientStats(), status=RunStatus.FAILED, error="HubSpot is down."
        )

    assert work_off(broker) == [("sync.people.failed", "ok")]
    assert seen(made) == [
        {
            "job": "people",
            "run_id": run.pk,
            "status": "failed",
            "direction": "pull",
            "error": "HubSpot is down.",
            "failed": 0,
        }
    ]
    page = text_of(admin_client.get(reverse("admin:sync_syncjob_changelist")))
    assert health_cells(page) == ["False"]


def test_the_admins_sample_run_gives_a_failed_run_event(world: World, broker: redis.Redis) -> None:
    made = script("sync.people.failed")

    result = sample_run(script_info(made), user_id=0)

    assert result.outcome == "ok", result.message
    assert seen(made)[0]["job"] == "people"
    assert seen(made)[0]["status"] == "failed"
