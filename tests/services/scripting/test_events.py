"""Scripts around table calls: order, modification, short-circuit answers, aborts, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler

from services.scripting.models import EventScript, ScriptRun
from services.scripting.runs import defer_run, record_deferred, writer
from services.scripting.sandbox import Outcome
from tests.services.api.writes_support import WriteApi, body, error_of

Maker = Callable[..., EventScript]
TODO = "/_table/todo"

TRAIL_PRE = """
trail = event["request"]["parameters"].get("trail", "")
event["request"]["parameters"]["trail"] = trail + "{tag},"
"""
TRAIL_POST = """
content = event["response"]["content"]
if "trail" not in content:
    content = {{"trail": event["request"]["parameters"].get("trail", "")}}
content["trail"] += "{tag},"
event["response"]["content"] = content
"""


def test_generic_then_specific_pre_then_post(wapi: WriteApi, make_script: Maker) -> None:
    service = wapi.service
    # Saved in an order unlike the firing order: firing does not follow the ids.
    for name, source in (
        (f"{service}._table.todo.get.post_process", TRAIL_POST.format(tag="specific-post")),
        (f"{service}._table.todo.get.pre_process", TRAIL_PRE.format(tag="specific-pre")),
        (
            f"{service}._table.{{table_name}}.get.post_process",
            TRAIL_POST.format(tag="generic-post"),
        ),
        (f"{service}._table.{{table_name}}.get.pre_process", TRAIL_PRE.format(tag="generic-pre")),
    ):
        make_script(name, source, allow_event_modification=True)

    response = wapi.get(TODO)

    assert response.status_code == 200
    assert body(response) == {"trail": "generic-pre,specific-pre,generic-post,specific-post,"}
    assert ScriptRun.objects.filter(outcome="ok").count() == 4


def test_generic_script_fires_for_every_table_but_not_by_id(
    wapi: WriteApi, make_script: Maker
) -> None:
    make_script(
        f"{wapi.service}._table.{{table_name}}.get.post_process",
        'event["response"]["content"] = {"table": event["resource"]}',
        allow_event_modification=True,
    )
    assert body(wapi.get("/_table/authors")) == {"table": "_table/authors"}
    assert body(wapi.get(TODO)) == {"table": "_table/todo"}
    wapi.post(TODO, {"resource": [{"name": "a"}]})
    assert body(wapi.get(f"{TODO}/1"))["name"] == "a"  # the by-id event is another one


def test_by_id_event_fires_for_one_record(wapi: WriteApi, make_script: Maker) -> None:
    wapi.post(TODO, {"resource": [{"name": "a"}]})
    make_script(
        f"{wapi.service}._table.todo.{{id}}.get.post_process",
        'event["response"]["content"]["seen"] = event["resource"]',
        allow_event_modification=True,
    )
    assert body(wapi.get(f"{TODO}/1")) == {
        "id": 1,
        "name": "a",
        "complete": None,
        "seen": "_table/todo/1",
    }
    assert "seen" not in body(wapi.get(TODO))


def test_pre_process_changes_payload_and_parameters(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.post.pre_process",
        """
for record in event["request"]["payload"]["resource"]:
    record["name"] = record["name"].upper()
event["request"]["parameters"]["fields"] = "name"
""",
        allow_event_modification=True,
    )

    response = wapi.post(TODO, {"resource": [{"name": "buy milk"}]})

    assert response.status_code == 200
    assert body(response) == {"resource": [{"name": "BUY MILK"}]}
    assert wapi.rows("SELECT name FROM todo") == [("BUY MILK",)]


def test_pre_process_answers_the_request_itself(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.post.pre_process",
        'event["response"] = {"status_code": 202, "content": {"queued": True}}',
        allow_event_modification=True,
    )

    response = wapi.post(TODO, {"resource": [{"name": "never written"}]})

    assert response.status_code == 202
    assert body(response) == {"queued": True}
    assert wapi.rows("SELECT count(*) FROM todo") == [(0,)]


def test_post_process_changes_status_body_and_headers(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.get.post_process",
        """
event["response"]["status_code"] = 203
event["response"]["content"] = {"count": len(event["response"]["content"]["resource"])}
event["response"]["headers"]["X-Script"] = "yes"
""",
        allow_event_modification=True,
    )
    wapi.post(TODO, {"resource": [{"name": "a"}, {"name": "b"}]})

    response = wapi.get(TODO)

    assert response.status_code == 203
    assert body(response) == {"count": 2}
    assert response["X-Script"] == "yes"


def test_changes_are_ignored_without_the_flag(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.post.pre_process",
        'event["request"]["payload"] = {"resource": [{"name": "changed"}]}\n'
        'platform.log("ran pre")',
    )
    make_script(
        f"{wapi.service}._table.todo.post.post_process",
        'event["response"]["status_code"] = 299\nplatform.log("ran post")',
    )

    response = wapi.post(TODO, {"resource": [{"name": "original"}]})

    assert response.status_code == 200
    assert wapi.rows("SELECT name FROM todo") == [("original",)]
    logs = sorted(ScriptRun.objects.values_list("logs", flat=True))
    assert logs == ["ran post", "ran pre"]  # both ran


def test_abort_ends_the_request_with_its_status(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.post.pre_process",
        """
for record in event["request"]["payload"]["resource"]:
    if not record.get("name", "").strip():
        raise platform.Abort(422, "A todo needs a name.")
""",
    )

    response = wapi.post(TODO, {"resource": [{"name": " "}]})

    assert response.status_code == 422
    assert error_of(response)["message"] == "A todo needs a name."
    assert wapi.rows("SELECT count(*) FROM todo") == [(0,)]
    assert wapi.post(TODO, {"resource": [{"name": "ok"}]}).status_code == 200
    run = ScriptRun.objects.order_by("pk").first()
    assert run is not None
    assert (run.outcome, run.error) == ("aborted", "Abort 422: A todo needs a name.")


def test_script_error_is_a_500_in_the_envelope(wapi: WriteApi, make_script: Maker) -> None:
    make_script(f"{wapi.service}._table.todo.get.post_process", "1 / 0")

    response = wapi.get(TODO)

    assert response.status_code == 500
    message = error_of(response)["message"]
    assert message.startswith("Script error: ")
    assert "ZeroDivisionError" in message
    assert ScriptRun.objects.get().outcome == "error"


def test_inactive_script_does_not_run(wapi: WriteApi, make_script: Maker) -> None:
    make_script(
        f"{wapi.service}._table.todo.get.pre_process",
        "raise platform.Abort(418, 'no')",
        active=False,
    )
    assert wapi.get(TODO).status_code == 200


def test_caller_without_access_fires_nothing(
    wapi: WriteApi, make_script: Maker, make_writer: Callable[..., WriteApi]
) -> None:
    make_script(f"{wapi.service}._table.todo.get.pre_process", "raise platform.Abort(418, 'ran')")
    stranger = make_writer([{"service": "all", "component": "_table/other", "verbs": ["GET"]}])
    other_service = WriteApi(stranger.client, wapi.service, stranger.key, wapi.database)

    assert other_service.get(TODO).status_code == 404
    assert not ScriptRun.objects.exists()


def test_runs_are_kept_up_to_the_limit(wapi: WriteApi, make_script: Maker, settings: Any) -> None:
    settings.SLUICEGATE_SCRIPT_RUNS_KEPT = 3
    script = make_script(f"{wapi.service}._table.todo.get.pre_process", "platform.log(1)")
    for _ in range(5):
        wapi.get(TODO)
    assert script.runs.count() == 3


def test_runs_of_a_served_request_are_written_off_its_thread(transactional_db: None) -> None:
    script = EventScript.objects.create(name="crm._table.todo.get.pre_process", source="pass")
    outcome = Outcome(event={}, abort=None, error=None, logs=("served",), duration_ms=0.2)
    try:
        defer_run(script.id, script.name, outcome)
        record_deferred(sender=WSGIHandler)  # as a web server's handler sends it
        deadline = time.monotonic() + 10
        while not script.runs.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        run = script.runs.get()
        assert (run.outcome, run.logs, run.event_name) == ("ok", "served", script.name)
    finally:
        writer.release()  # its connection goes back before the test database is dropped
