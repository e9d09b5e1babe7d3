"""The event scripts' admin: the event-name picker, syntax check, runs, and the sample button."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from services.models import Service
from services.scripting.models import EventScript, ScriptHttpHost, ScriptRun
from tests.services.api.writes_support import WriteApi

Maker = Callable[..., EventScript]


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "",
        "language": "python",
        "active": "on",
        "source": "",
        "time_limit_seconds": "5",
        "memory_limit_mb": "256",
        "interval_seconds": "",
        "crontab": "",
        "run_as_app": "",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        "runs-MIN_NUM_FORMS": "0",
        "runs-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def press_sample(client: Client, script: EventScript) -> Any:
    url = reverse("admin:services_eventscript_run_sample", args=[script.pk])
    return client.post(url, follow=True)


def test_add_page_offers_the_schemas_event_names(
    admin_client: Client, writes_service: Service
) -> None:
    page = admin_client.get(reverse("admin:services_eventscript_add")).content.decode()
    assert 'list="event-script-names"' in page
    assert f'<option value="{writes_service.name}._table.todo.post.pre_process">' in page
    assert f'<option value="{writes_service.name}._table.{{table_name}}.{{id}}.get.queued">' in page


def test_syntax_error_is_refused_on_save(admin_client: Client, db: None) -> None:
    response = admin_client.post(
        reverse("admin:services_eventscript_add"),
        form_data(name="crm._table.todo.get.pre_process", source="if True\n    pass"),
    )
    assert response.status_code == 200
    assert "Syntax error: line 1" in response.content.decode()
    assert not EventScript.objects.exists()


def test_saving_a_scheduled_script_schedules_it(admin_client: Client, db: None) -> None:
    response = admin_client.post(
        reverse("admin:services_eventscript_add"),
        form_data(name="tick.scheduled", source="platform.log('tick')", interval_seconds="30"),
    )
    assert response.status_code == 302
    script = EventScript.objects.get()
    assert PeriodicTask.objects.get().pk == script.periodic_task_id
    admin_client.post(
        reverse("admin:services_eventscript_delete", args=[script.pk]), {"post": "yes"}
    )
    assert not PeriodicTask.objects.exists()


def test_change_page_shows_recent_runs(
    admin_client: Client, wapi: WriteApi, make_script: Maker
) -> None:
    script = make_script(f"{wapi.service}._table.todo.get.pre_process", "platform.log('seen it')")
    wapi.get("/_table/todo")
    page = admin_client.get(
        reverse("admin:services_eventscript_change", args=[script.pk])
    ).content.decode()
    assert "Recent runs" in page
    assert "seen it" in page
    assert "Run with sample event" in page


def test_sample_run_shows_output_and_changes_without_writing(
    admin_client: Client, wapi: WriteApi, make_script: Maker
) -> None:
    script = make_script(
        f"{wapi.service}._table.todo.post.pre_process",
        'print("records:", len(event["request"]["payload"]["resource"]))\n'
        'event["request"]["payload"]["resource"][0]["name"] = "Changed"',
    )

    shown = messages_of(press_sample(admin_client, script))

    assert shown[0].startswith("Sample run: ok in ")
    assert "records: 1" in shown[1]
    assert shown[2].startswith("Changes to the event (ignored: event modification is not allowed)")
    assert "Changed" in shown[2]
    assert wapi.rows("SELECT count(*) FROM todo") == [(0,)]
    assert ScriptRun.objects.get().event_name.endswith("(sample)")


def test_sample_run_touches_data_through_the_api(
    admin_client: Client, wapi: WriteApi, make_script: Maker
) -> None:
    script = make_script(
        f"{wapi.service}._table.todo.get.post_process",
        f"platform.api.post({wapi.service!r} + '/_table/todo', "
        "{'resource': [{'name': 'from sample'}]})",
    )
    shown = messages_of(press_sample(admin_client, script))
    assert shown[0].startswith("Sample run: ok")
    assert shown[-1] == "The script left the event unchanged."
    assert wapi.rows("SELECT name FROM todo") == [("from sample",)]


def test_sample_run_reports_an_abort(admin_client: Client, make_script: Maker) -> None:
    script = make_script("crm._table.todo.delete.pre_process", "raise platform.Abort(403, 'no')")
    shown = messages_of(press_sample(admin_client, script))
    assert shown[0].startswith("Sample run: aborted in ")
    assert shown[0].endswith("403: no")


def test_allowed_hosts_are_edited_in_the_admin(admin_client: Client, db: None) -> None:
    response = admin_client.post(
        reverse("admin:services_scripthttphost_add"),
        {"scheme": "https", "host": " API.HubAPI.com. ", "port": "", "note": "HubSpot"},
    )
    assert response.status_code == 302
    assert str(ScriptHttpHost.objects.get()) == "https://api.hubapi.com"
