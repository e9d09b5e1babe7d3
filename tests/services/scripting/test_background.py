"""Queued scripts run after the response in a worker; scheduled scripts run from beat.

Queued runs are checked through the real broker: the request leaves a task
message in Redis, and the test runs that very message as a worker would
(`apply` of the task it names, with its arguments).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from config.celery import app as celery_app
from rbac.models import AccessRule, App, Role
from services.models import Service
from services.scripting.models import EventScript, ScriptRun
from services.scripting.schedule import TASK_NAME, delete_script, schedule_script
from services.scripting.tasks import run_queued_script, run_scheduled_script
from tests.queues import TEST_QUEUE as QUEUE
from tests.services.api.writes_support import WriteApi

Maker = Callable[..., EventScript]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The Celery broker's Redis, with the default queue emptied before and after."""
    connection = redis.Redis.from_url(str(settings.CELERY_BROKER_URL))
    connection.delete(QUEUE)
    yield connection
    connection.delete(QUEUE)
    connection.close()


def queued_tasks(broker: redis.Redis) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """The task messages waiting in the queue, oldest first: (task name, args, kwargs)."""
    found = []
    for raw in reversed(broker.lrange(QUEUE, 0, -1)):
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args, kwargs))
    return found


def test_tasks_are_acknowledged_late_and_requeued_on_worker_loss() -> None:
    for task in (run_queued_script, run_scheduled_script):
        assert task.acks_late
        assert task.reject_on_worker_lost


QUEUED = """
svc = event["request"]["service"]
name = event["request"]["payload"]["resource"][0]["name"]
status = event["response"]["status_code"]
platform.api.post(svc + "/_table/authors", {"resource": [{"name": f"after {name} {status}"}]})
platform.log("queued ran")
"""


def test_queued_script_runs_after_the_response(
    wapi: WriteApi, make_script: Maker, broker: redis.Redis
) -> None:
    script = make_script(f"{wapi.service}._table.todo.post.queued", QUEUED)

    response = wapi.post("/_table/todo", {"resource": [{"name": "milk"}]})

    assert response.status_code == 200
    # Answered, and the script has not run: it waits in the broker for a worker.
    assert wapi.rows("SELECT name FROM authors") == []
    assert not ScriptRun.objects.exists()
    [(name, args, kwargs)] = queued_tasks(broker)
    assert name == "services.scripting.tasks.run_queued_script"
    assert args[:2] == [script.pk, f"{wapi.service}._table.todo.post.queued"]

    result = celery_app.tasks[name].apply(args=tuple(args), kwargs=kwargs).get()

    assert result == "ok"
    assert wapi.rows("SELECT name FROM authors") == [("after milk 200",)]
    assert ScriptRun.objects.get().logs == "queued ran"


def test_queued_script_deleted_before_it_runs_does_not_run(
    wapi: WriteApi, make_script: Maker, broker: redis.Redis
) -> None:
    script = make_script(f"{wapi.service}._table.todo.post.queued", QUEUED)
    wapi.post("/_table/todo", {"resource": [{"name": "milk"}]})
    [(name, args, kwargs)] = queued_tasks(broker)
    delete_script(script)

    assert celery_app.tasks[name].apply(args=tuple(args), kwargs=kwargs).get() == "gone"
    assert wapi.rows("SELECT name FROM authors") == []


def script_app(service: Service, requestors: list[str]) -> App:
    role = Role.objects.create(name=f"nightly-{'-'.join(requestors)}")
    AccessRule.objects.create(
        role=role,
        service=service,
        component="_table/authors",
        verbs=["GET", "POST"],
        requestors=requestors,
    )
    return App.objects.create(name=f"nightly-app-{'-'.join(requestors)}", default_role=role)


SCHEDULED = """
answer = platform.api.post({service!r} + "/_table/authors", {{"resource": [{{"name": "nightly"}}]}})
platform.log(answer["status_code"])
"""


def run_as_beat(task: PeriodicTask) -> Any:
    """Run the periodic task's task with its arguments, as beat sends it."""
    return (
        celery_app.tasks[task.task]
        .apply(args=json.loads(task.args), kwargs=json.loads(task.kwargs))
        .get()
    )


def test_scheduled_script_runs_from_its_periodic_task_as_its_app(
    wapi: WriteApi, make_script: Maker, writes_service: Service
) -> None:
    script = make_script(
        "nightly-authors.scheduled",
        SCHEDULED.format(service=wapi.service),
        interval_seconds=3600,
        run_as_app=script_app(writes_service, ["SCRIPT"]),
    )
    task = PeriodicTask.objects.get()
    assert (task.task, json.loads(task.args), task.enabled) == (TASK_NAME, [script.pk], True)
    assert task.interval is not None
    assert task.interval.every == 3600

    assert run_as_beat(task) == "ok"

    assert wapi.rows("SELECT name FROM authors") == [("nightly",)]
    assert ScriptRun.objects.get().logs == "200"


def test_scheduled_script_app_without_script_rules_is_refused(
    wapi: WriteApi, make_script: Maker, writes_service: Service
) -> None:
    make_script(
        "nightly-api-only.scheduled",
        SCHEDULED.format(service=wapi.service),
        crontab="0 3 * * *",
        run_as_app=script_app(writes_service, ["API"]),
    )
    task = PeriodicTask.objects.get()
    assert task.crontab is not None
    assert (task.crontab.minute, task.crontab.hour) == ("0", "3")

    assert run_as_beat(task) == "ok"

    assert wapi.rows("SELECT name FROM authors") == []
    assert ScriptRun.objects.get().logs == "404"


def test_periodic_task_follows_the_script(make_script: Maker) -> None:
    script = make_script("tick.scheduled", "platform.log('tick')", interval_seconds=60)
    script.active = False
    script.save()
    schedule_script(script)
    assert not PeriodicTask.objects.get().enabled
    script.interval_seconds = None
    script.save()
    schedule_script(script)
    assert not PeriodicTask.objects.exists()
    script.crontab = "*/5 * * * *"
    script.save()
    schedule_script(script)
    delete_script(script)
    assert not PeriodicTask.objects.exists()


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("crm._table.todo.get.pre_process", {"interval_seconds": 60}, "Only a script named"),
        ("x.scheduled", {"crontab": "* * *"}, "five fields"),
        ("x.scheduled", {"crontab": "99 * * * *"}, "Not a valid crontab"),
        ("x.scheduled", {"crontab": "* * * * *", "interval_seconds": 5}, "not both"),
    ],
)
def test_bad_schedules_are_refused(
    db: None, name: str, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        EventScript(name=name, source="", **fields).full_clean()
    assert message in str(caught.value)
