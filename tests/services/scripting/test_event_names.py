"""Event names: what parses, what is refused, and what a request fires."""

from __future__ import annotations

import pytest

from services.scripting.events import EventName, fired_names, names_for_service, parse_event_name


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        (
            "crm._table.contact.post.pre_process",
            EventName("pre_process", "crm", "_table", "contact", False, "post"),
        ),
        (
            "crm._table.{table_name}.get.post_process",
            EventName("post_process", "crm", "_table", "{table_name}", False, "get"),
        ),
        (
            "crm._table.contact.{id}.patch.queued",
            EventName("queued", "crm", "_table", "contact", True, "patch"),
        ),
        (
            "crm._table.extra.notes.delete.pre_process",
            EventName("pre_process", "crm", "_table", "extra.notes", False, "delete"),
        ),
        (
            "crm._proc.{procedure_name}.post.queued",
            EventName("queued", "crm", "_proc", "{procedure_name}", False, "post"),
        ),
        (
            "crm._func.add.get.pre_process",
            EventName("pre_process", "crm", "_func", "add", False, "get"),
        ),
        ("nightly-push.scheduled", EventName("scheduled")),
    ],
)
def test_names_parse(name: str, parsed: EventName) -> None:
    assert parse_event_name(name) == parsed


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("crm._table.contact.GET.pre_process", "The verb is one of"),
        ("crm._table.contact.get.before", "The phase is one of"),
        ("crm._schema.contact.get.pre_process", "The resource is one of"),
        ("crm.contact.get", "An event name reads"),
        ("CRM._table.contact.get.pre_process", "is not a service name"),
        ("crm._proc.refresh.delete.pre_process", "called with get or post"),
        ("crm._table..get.pre_process", "Name the table"),
        (" crm._table.contact.get.pre_process", "without surrounding spaces"),
        ("bad name.scheduled", "scheduled script's name"),
    ],
)
def test_bad_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_event_name(name)


def test_fired_names_are_generic_then_specific() -> None:
    assert fired_names("crm", "_table", "contact", by_id=True, verb="get", phase="queued") == (
        "crm._table.{table_name}.{id}.get.queued",
        "crm._table.contact.{id}.get.queued",
    )
    assert fired_names("crm", "_func", "add", by_id=False, verb="post", phase="pre_process") == (
        "crm._func.{function_name}.post.pre_process",
        "crm._func.add.post.pre_process",
    )


def test_every_offered_name_parses() -> None:
    names = names_for_service("crm", ["contact", "extra.notes"], ["refresh"], ["add"])
    assert "crm._table.contact.{id}.delete.post_process" in names
    assert "crm._proc.refresh.post.queued" in names
    for name in names:
        parse_event_name(name)
